"""The keep-alive pool under the OSB client, over real sockets."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from catalogctl.providers.osb.transport import PooledTransport
from tests.brokers.programmable import ProgrammableBroker

HEADERS = {"X-Broker-API-Version": "2.17"}


async def get(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.get(url + "/v2/catalog", headers=HEADERS)


def test_sequential_requests_reuse_one_connection(programmable_broker: ProgrammableBroker) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            for _ in range(5):
                assert (await get(client, programmable_broker.url)).status_code == 200

    asyncio.run(run())
    peers = {r.peer for r in programmable_broker.requests}
    assert len(peers) == 1, peers


def test_concurrent_requests_open_at_most_as_many_connections_as_in_flight(
    programmable_broker: ProgrammableBroker,
) -> None:
    async def run() -> None:
        async with httpx.AsyncClient(transport=PooledTransport(max_keepalive=4)) as client:
            sem = asyncio.Semaphore(4)

            async def one() -> None:
                async with sem:
                    assert (await get(client, programmable_broker.url)).status_code == 200

            await asyncio.gather(*(one() for _ in range(40)))

    asyncio.run(run())
    assert len(programmable_broker.requests) == 40
    assert len({r.peer for r in programmable_broker.requests}) <= 4


def test_a_connection_the_server_closed_is_replaced(
    programmable_broker: ProgrammableBroker,
) -> None:
    programmable_broker.script(
        "GET", "/v2/catalog$", status=200, body={"services": []}, headers={"Connection": "close"}
    )

    async def run() -> list[int]:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            return [(await get(client, programmable_broker.url)).status_code for _ in range(3)]

    assert asyncio.run(run()) == [200, 200, 200]
    assert len({r.peer for r in programmable_broker.requests}) == 2


def test_refused_connection_maps_to_httpx_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def run() -> None:
        async with httpx.AsyncClient(transport=PooledTransport()) as client:
            await client.get(f"http://127.0.0.1:{port}/v2/catalog")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(run())
