"""httpx's exception types as outcomes: whether a failed request may have reached the broker.

Narrow error paths, so an injected ``httpx.MockTransport`` raises each type; the real-socket
cases (refused, dropped after sending, TLS, hostile bodies) are in test_client_outcomes.py and
tests/e2e/test_broker_network.py.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BrokerConnection
from catalogctl.providers.osb.outcomes import Malformed, TimedOut, Unreachable


def _get_catalog(transport: httpx.AsyncBaseTransport, **conn: object) -> object:
    async def main() -> object:
        c = BrokerConnection("ClusterServiceBroker/b", "http://127.0.0.1:9", **conn)  # type: ignore[arg-type]
        async with OSBClient(c, transport=transport) as client:
            return await client.get_catalog()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("error", "sent"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.ProxyError, False),
        (httpx.WriteError, False),
        (httpx.ReadError, True),
        (httpx.RemoteProtocolError, True),
    ],
)
def test_whether_the_request_may_have_been_sent(error: type[Exception], sent: bool) -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise error("boom")

    outcome = _get_catalog(httpx.MockTransport(explode))
    assert isinstance(outcome, Unreachable) and outcome.request_sent is sent
    assert not outcome.lasting


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.WriteTimeout])
def test_read_and_write_timeouts_are_timeouts(error: type[Exception]) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise error("slow")

    assert isinstance(_get_catalog(httpx.MockTransport(slow)), TimedOut)


def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    def big(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": "2048"}, content=b"x" * 2048)

    outcome = _get_catalog(httpx.MockTransport(big), max_response_size=1024)
    assert isinstance(outcome, Malformed)
    assert "larger than 1 KiB (--max-response-size)" in outcome.reason
