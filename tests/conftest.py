"""Shared pytest configuration: fixture plugins that start real servers on 127.0.0.1,
short poll intervals for runs driven through the engine's Session, and a fixture for
retry backoff that advances an injected clock instead of sleeping."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from catalogctl.engine import session
from catalogctl.providers.osb import retrying
from catalogctl.providers.osb.poller import Clock
from tests.clocks import SkipClock
from tests.launcher import Launcher

pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.cluster",
    "tests.fixtures.brokers",
    "tests.fixtures.postgres",
]

#: First and shortest wait between polls of an async operation in tests.  Test
#: brokers finish an operation after a couple of polls; the production default
#: (1 s, doubling) would make every async case wait seconds for nothing.
POLL_INTERVAL = 0.05


@pytest.fixture(autouse=True)
def _short_polls(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(
        session,
        "PollScheduler",
        functools.partial(
            session.PollScheduler, initial_interval=POLL_INTERVAL, min_interval=POLL_INTERVAL
        ),
    )
    yield


def pytest_collection_finish(session: pytest.Session) -> None:
    # Collected tests that run catalogctl in processes of its own imported tests.processes:
    # start its fork server, whose imports then overlap the first tests.
    if "tests.processes" in sys.modules:
        from tests import processes

        processes.start_server()


@pytest.fixture(scope="session")
def catalogctl_launcher() -> Iterator[Launcher]:
    """A ``catalogctl`` program for scripts under test (``.program``, ``.bin_dir`` for PATH)
    whose runs fork from the preloaded server: see :mod:`tests.launcher`."""
    launcher = Launcher()
    try:
        yield launcher
    finally:
        launcher.close()


@dataclass(frozen=True)
class _SkippedBackoff(retrying.RetryPolicy):
    """The CLI's retry policy, its backoff waits skipped by a clock of its own."""

    clock: Clock = field(default_factory=SkipClock, compare=False)


@pytest.fixture
def skipped_retry_backoff(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Commands run through the CLI retry transient failures as configured (``--retry-timeout``,
    six retries, the same delays drawn), but their backoff (up to 30 s a retry) advances a
    :class:`~tests.clocks.SkipClock` instead of the test's wall time.

    The clock is the run's: an apply polls by it too, and polls that do not wait would
    exhaust the polling deadline before a broker finishes.  So this is for commands that
    do not poll (``catalog``); an apply that must retry runs with a clock the test drives
    (``tests/e2e/inprocess.py``)."""
    monkeypatch.setattr(retrying, "RetryPolicy", _SkippedBackoff)
    yield


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test servers listen on 127.0.0.1: a proxy set for the machine (CI) must not carry
    their traffic, as catalogctl honours these variables.  Tests of proxies set their own."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield
