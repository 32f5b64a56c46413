"""Shared pytest configuration: fixture plugins that start real servers on 127.0.0.1."""

from collections.abc import Iterator

import pytest

pytest_plugins = [
    "tests.fixtures.kube",
    "tests.fixtures.cluster",
    "tests.fixtures.brokers",
]

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_machine(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Test servers listen on 127.0.0.1: a proxy set for the machine (CI) must not carry
    their traffic, as catalogctl honours these variables.  Tests of proxies set their own."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    yield
