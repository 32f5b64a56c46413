"""Shared pytest configuration: fixture plugins that start real servers on 127.0.0.1,
and short poll intervals for runs driven through the engine's Session."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import pytest

from catalogctl.engine import session

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


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test servers listen on 127.0.0.1: a proxy set for the machine (CI) must not carry
    their traffic, as catalogctl honours these variables.  Tests of proxies set their own."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield
