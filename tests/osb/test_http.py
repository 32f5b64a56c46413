"""The OSB client's HTTP/1.1 layer: response framing, request bytes, the pool over sockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from catalogctl.providers.osb.http import (
    MAX_HEAD_BYTES,
    BrokerHTTP,
    ConnectFailed,
    ExchangeFailed,
    ExchangeTimedOut,
    ResponseParser,
    serialize_request,
)
from tests.brokers.programmable import ProgrammableBroker

HEADERS = [("X-Broker-API-Version", "2.17")]


def parse_in_pieces(raw: bytes, size: int, *, eof: bool = False) -> ResponseParser:
    """Feed ``raw`` ``size`` bytes at a time; the result must not depend on ``size``."""
    parser = ResponseParser()
    done = False
    for i in range(0, len(raw), size):
        assert not done, "completed before all bytes were fed"
        done = parser.feed(raw[i : i + size])
    if eof:
        assert not done
        done = parser.feed_eof()
    assert done
    return parser


CHUNKED = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
    b'4;name=value\r\n{"a"\r\n'
    b"A\r\n: [1, 2, 3\r\n"
    b"1\r\n}\r\n"
    b"0\r\nX-Trailer: yes\r\n\r\n"
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 10_000])
def test_chunked_body_with_extensions_and_trailers_is_reassembled(size: int) -> None:
    parser = parse_in_pieces(CHUNKED, size)
    assert parser.status == 201
    assert parser.content == b'{"a": [1, 2, 3}'
    assert parser.keep_alive


@pytest.mark.parametrize("size", [1, 5, 10_000])
def test_content_length_body(size: int) -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nRetry-After: 5\r\n\r\n{"ok": 12}\n'
    parser = parse_in_pieces(raw, size)
    assert (parser.status, parser.content) == (200, b'{"ok": 12}\n')
    assert parser.headers["retry-after"] == "5"


def test_interim_answers_are_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}"
    )
    parser = parse_in_pieces(raw, 3)
    assert (parser.status, parser.content) == (202, b"{}")
    assert "link" not in parser.headers


def test_body_without_length_ends_with_the_connection() -> None:
    raw = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"services": []}'
    parser = parse_in_pieces(raw, 4, eof=True)
    assert parser.content == b'{"services": []}'
    assert not parser.keep_alive


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", True),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n", True),
    ],
)
def test_connection_reuse_follows_version_and_connection_field(
    head: bytes, keep_alive: bool
) -> None:
    assert parse_in_pieces(head + b"\r\n", 100).keep_alive is keep_alive


def test_no_content_needs_no_length_and_fields_are_case_insensitive() -> None:
    parser = parse_in_pieces(b"HTTP/1.1 204 No Content\r\nX-A: 1\r\nx-a: 2\r\n\r\n", 100)
    assert (parser.status, parser.content) == (204, b"")
    assert parser.headers == {"x-a": "1, 2"}


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra",
    ],
)
def test_malformed_answers_fail_the_exchange(raw: bytes) -> None:
    with pytest.raises(ExchangeFailed):
        ResponseParser().feed(raw)


def test_connection_closed_mid_body_fails() -> None:
    parser = ResponseParser()
    assert not parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}")
    with pytest.raises(ExchangeFailed, match="before a complete response"):
        parser.feed_eof()


def test_oversized_head_fails_instead_of_growing() -> None:
    parser = ResponseParser()
    parser.feed(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(ExchangeFailed, match="oversized"):
        parser.feed(b"X-Big: " + b"a" * MAX_HEAD_BYTES)


def test_request_bytes_carry_length_and_refuse_injected_lines() -> None:
    raw = serialize_request("PUT", "/v2/x?a=1", [("Host", "h"), ("A", "b")], b"{}")
    assert raw == b"PUT /v2/x?a=1 HTTP/1.1\r\nHost: h\r\nA: b\r\nContent-Length: 2\r\n\r\n{}"
    assert serialize_request("GET", "/v2/catalog", [], None).endswith(b"HTTP/1.1\r\n\r\n")
    with pytest.raises(ConnectFailed, match="header Authorization"):
        serialize_request("GET", "/", [("Authorization", "Bearer x\r\nX-Evil: 1")], None)
    with pytest.raises(ConnectFailed, match="target"):
        serialize_request("GET", "/a b", [], None)


# --- over real sockets ---------------------------------------------------------------


def catalog_statuses(url: str, times: int) -> list[int]:
    """The statuses of ``times`` sequential catalog requests through one pool."""

    async def run() -> list[int]:
        pool = BrokerHTTP(url)
        try:
            return [
                (await pool.request("GET", "/v2/catalog", HEADERS, None, timeout=5)).status
                for _ in range(times)
            ]
        finally:
            await pool.aclose()

    return asyncio.run(run())


def test_sequential_requests_reuse_one_connection(programmable_broker: ProgrammableBroker) -> None:
    assert catalog_statuses(programmable_broker.url, 5) == [200] * 5
    assert len({r.peer for r in programmable_broker.requests}) == 1


def test_concurrent_requests_open_at_most_as_many_connections_as_in_flight(
    programmable_broker: ProgrammableBroker,
) -> None:
    async def run() -> None:
        pool = BrokerHTTP(programmable_broker.url, max_idle=4)
        sem = asyncio.Semaphore(4)

        async def one() -> None:
            async with sem:
                response = await pool.request("GET", "/v2/catalog", HEADERS, None, timeout=5)
                assert response.status == 200

        try:
            await asyncio.gather(*(one() for _ in range(40)))
        finally:
            await pool.aclose()

    asyncio.run(run())
    assert len(programmable_broker.requests) == 40
    assert len({r.peer for r in programmable_broker.requests}) <= 4


def test_warm_opens_connections_that_the_next_requests_use(
    programmable_broker: ProgrammableBroker,
) -> None:
    async def run() -> tuple[int, int]:
        pool = BrokerHTTP(programmable_broker.url, max_idle=4)
        try:
            # Asked for more than the pool keeps: only max_idle are opened.
            ready = await pool.warm(10, timeout=5)
            sem = asyncio.Semaphore(4)

            async def one() -> None:
                async with sem:
                    response = await pool.request("GET", "/v2/catalog", HEADERS, None, timeout=5)
                    assert response.status == 200

            await asyncio.gather(*(one() for _ in range(12)))
            return ready, len(pool._all)
        finally:
            await pool.aclose()

    ready, kept = asyncio.run(run())
    assert ready == 4 and kept == 4
    # Nothing was sent by warm itself; the requests ran over the 4 warm connections.
    assert len(programmable_broker.requests) == 12
    assert len({r.peer for r in programmable_broker.requests}) == 4


def test_warm_against_an_unreachable_broker_opens_nothing_and_raises_nothing() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def run() -> int:
        pool = BrokerHTTP(f"http://127.0.0.1:{port}")
        try:
            return await pool.warm(3, timeout=2)
        finally:
            await pool.aclose()

    assert asyncio.run(run()) == 0


def test_a_connection_the_server_closes_is_replaced(
    programmable_broker: ProgrammableBroker,
) -> None:
    programmable_broker.script(
        "GET", "/v2/catalog$", status=200, body={"services": []}, headers={"Connection": "close"}
    )
    assert catalog_statuses(programmable_broker.url, 3) == [200, 200, 200]
    assert len({r.peer for r in programmable_broker.requests}) == 2


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def raw_server(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/base/"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def test_chunked_and_interim_answers_over_a_socket_and_the_url_path_is_kept() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await read_request(reader))
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(CHUNKED[:40])
        await writer.drain()
        await asyncio.sleep(0.01)
        writer.write(CHUNKED[40:])
        await writer.drain()
        await read_request(reader)  # the same connection carries the next request
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    async def run() -> list[tuple[int, bytes]]:
        async for url in raw_server(handler):
            pool = BrokerHTTP(url)
            try:
                first = await pool.request("PUT", "/v2/x", HEADERS, b'{"a":1}', timeout=5)
                second = await pool.request("GET", "/v2/y", HEADERS, None, timeout=5)
            finally:
                await pool.aclose()
            return [(first.status, first.content), (second.status, second.content)]
        raise AssertionError("unreachable")

    assert asyncio.run(run()) == [(201, b'{"a": [1, 2, 3}'), (200, b"{}")]
    assert seen[0].startswith(b"PUT /base/v2/x HTTP/1.1\r\n")
    assert b"\r\nContent-Length: 7\r\n" in seen[0]
    assert b"\r\nHost: 127.0.0.1:" in seen[0]


def test_a_dropped_exchange_fails_as_sent_and_a_hang_times_out() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        writer.close()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def run(handler: Handler, timeout: float) -> BaseException:
        async for url in raw_server(handler):
            pool = BrokerHTTP(url)
            try:
                await pool.request("PUT", "/v2/x", HEADERS, b"{}", timeout=timeout)
            except (ExchangeFailed, ExchangeTimedOut) as e:
                return e
            finally:
                await pool.aclose()
        raise AssertionError("the exchange did not fail")

    dropped = asyncio.run(run(drop, 5))
    assert isinstance(dropped, ExchangeFailed) and dropped.sent
    hung = asyncio.run(run(hang, 0.2))
    assert isinstance(hung, ExchangeTimedOut) and hung.sent


def test_refused_connection_fails_as_not_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there

    async def run() -> None:
        pool = BrokerHTTP(f"http://127.0.0.1:{port}")
        try:
            await pool.request("GET", "/v2/catalog", HEADERS, None, timeout=2)
        finally:
            await pool.aclose()

    with pytest.raises(ConnectFailed, match="cannot connect") as caught:
        asyncio.run(run())
    assert not caught.value.sent


def test_a_connection_closed_while_idle_is_not_reused() -> None:
    """A broker's idle timeout closes the socket; the next request must not fail on it."""
    connections = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()  # without announcing it: keep-alive was implied

    async def run() -> list[int]:
        async for url in raw_server(handler):
            pool = BrokerHTTP(url)
            statuses = []
            try:
                for _ in range(3):
                    statuses.append(
                        (await pool.request("GET", "/", HEADERS, None, timeout=5)).status
                    )
                    await asyncio.sleep(0.05)  # the close reaches the client while idle
            finally:
                await pool.aclose()
            return statuses
        raise AssertionError("unreachable")

    assert asyncio.run(run()) == [200, 200, 200]
    assert connections == 3


@pytest.mark.parametrize("size", [1, 3, 10_000])
def test_bare_line_feeds_are_accepted_as_line_ends(size: int) -> None:
    raw = CHUNKED.replace(b"\r\n", b"\n")
    parser = parse_in_pieces(raw, size)
    assert (parser.status, parser.content) == (201, b'{"a": [1, 2, 3}')
    assert parser.headers["content-type"] == "application/json"
