"""HTTP/1.1 to one broker: a keep-alive pool of asyncio connections.

Why not httpx underneath the OSB client: an apply of a thousand instances is
a few thousand small JSON exchanges, and there httpx's layers (URL model,
request/response models, httpcore's connection state machine, anyio's locks
and checkpoints) cost about 650 µs of CPU per request on the event loop's
thread; h11's generic event machinery alone still cost about 150 µs.  The loop
runs everything else too (polls, journal, progress), and answers to requests
sent together arrive together, so every microsecond spent per answer delays
the next request of each slot.  OSB traffic needs little of HTTP: one origin
per broker, small JSON bodies, no redirects, cookies, proxies or compression.
So the request is written directly and the answer is framed by
:class:`ResponseParser`, which implements exactly the client side of RFC 9112:
status line and fields, ``Content-Length``, chunked transfer coding (with
extensions and trailers), bodies delimited by connection close, interim 1xx
answers, and ``Connection: close`` / HTTP/1.0 peers.  Anything else malformed
is an :class:`ExchangeFailed`, never a guess.

Connections wait in a LIFO list; a request takes the most recently used one
that is still open and not older than the keep-alive expiry, or opens a new
one.  A connection is reused only after a complete exchange that both sides
left open.  The pool never queues: callers bound concurrency themselves
(:class:`~catalogctl.providers.osb.limits.RequestLimiter`).

Failures are reported as :class:`ConnectFailed` (nothing was sent), or
:class:`ExchangeFailed` / :class:`ExchangeTimedOut` (the request may have
reached the broker), which is exactly the distinction orphan mitigation needs.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "BrokerHTTP",
    "ConnectFailed",
    "ExchangeFailed",
    "ExchangeTimedOut",
    "HTTPFailure",
    "RawResponse",
    "ResponseParser",
    "ssl_context",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_CLOSED_EARLY: Final = "connection closed before a complete response (ReadError)"
#: Upper bound on a status line plus header fields (and on a chunk-size line).
MAX_HEAD_BYTES: Final = 64 * 1024
_STATUS_LINE: Final = re.compile(rb"HTTP/1\.([0-9]) ([0-9]{3})(?: [^\r\n]*)?")
_HEAD_END: Final = re.compile(rb"\r?\n\r?\n")
_EOL: Final = re.compile(rb"\r?\n")
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
#: Characters that must never reach the wire inside a request line or field.
_UNSAFE: Final = re.compile(r"[\x00-\x1f\x7f]")


class HTTPFailure(Exception):
    """An exchange did not produce a response.  ``reason`` is safe to print."""

    sent: bool = True

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ConnectFailed(HTTPFailure):
    """No connection (refused, DNS, TLS handshake, connect timeout): nothing was sent."""

    sent = False


class ExchangeFailed(HTTPFailure):
    """The connection broke or the answer was not valid HTTP after the request went out."""


class ExchangeTimedOut(HTTPFailure):
    """No complete answer before the deadline; the request may have been acted on."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    #: lower-cased names; a repeated field's values joined with ", " (RFC 9110 5.3)
    headers: dict[str, str]
    content: bytes


class ResponseParser:
    """Incremental parser of one HTTP/1.1 response (client side of RFC 9112).

    Feed bytes with :meth:`feed` and the end of the stream with
    :meth:`feed_eof`; both return True once the final response is complete.
    Raises :class:`ExchangeFailed` on anything that is not valid HTTP/1.1.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._state = "head"
        self.status = 0
        self.headers: dict[str, str] = {}
        #: whether the connection may carry another request afterwards
        self.keep_alive = True
        self._body: list[bytes] = []
        self._remaining = 0

    @property
    def content(self) -> bytes:
        return b"".join(self._body)

    @property
    def done(self) -> bool:
        """Whether the final response is complete."""
        return self._state == "done"

    def feed(self, data: bytes) -> bool:
        if self._state == "done":
            raise ExchangeFailed("the broker sent bytes after its answer")
        self._buffer += data
        return self._advance()

    def feed_eof(self) -> bool:
        """The peer closed its side: completes a close-delimited body, else fails."""
        if self._state == "until-close":
            self._body.append(bytes(self._buffer))
            self._buffer.clear()
            self._state = "done"
            self.keep_alive = False
            return True
        if self._state == "done":
            return True
        raise ExchangeFailed(_CLOSED_EARLY)

    # -- states ------------------------------------------------------------------

    def _advance(self) -> bool:
        while True:
            state = self._state
            if state == "head":
                if not self._head():
                    return False
            elif state == "length":
                if not self._take_body():
                    return False
                self._state = "done"
            elif state == "chunk-size":
                if not self._chunk_size():
                    return False
            elif state == "chunk-data":
                if not self._take_body():
                    return False
                self._state = "chunk-end"
            elif state == "chunk-end":
                ending = _line_end(self._buffer)
                if ending is None:
                    return False
                if ending < 0:
                    raise ExchangeFailed("the broker's answer is not valid HTTP/1.1 (chunk)")
                del self._buffer[:ending]
                self._state = "chunk-size"
            elif state == "trailers":
                ending = _line_end(self._buffer)
                if ending is None:
                    return False
                if ending > 0:  # an empty line: no trailer fields
                    del self._buffer[:ending]
                else:
                    found = _HEAD_END.search(self._buffer)
                    if found is None:
                        self._check_size()
                        return False
                    del self._buffer[: found.end()]  # trailer fields are not used
                self._state = "done"
            elif state == "until-close":
                return False
            if self._state == "done":
                if self._buffer:
                    raise ExchangeFailed("the broker sent bytes after its answer")
                return True

    def _take_body(self) -> bool:
        """Move up to the expected number of body bytes out of the buffer; True when all came."""
        take = min(self._remaining, len(self._buffer))
        if take:
            self._body.append(bytes(self._buffer[:take]))
            del self._buffer[:take]
            self._remaining -= take
        return not self._remaining

    def _check_size(self) -> None:
        if len(self._buffer) > MAX_HEAD_BYTES:
            raise ExchangeFailed("the broker's answer has oversized header fields")

    def _head(self) -> bool:
        # RFC 9112 2.2: a bare LF may be accepted as a line terminator.
        found = _HEAD_END.search(self._buffer)
        if found is None:
            self._check_size()
            return False
        lines = _EOL.split(bytes(self._buffer[: found.start()]))
        del self._buffer[: found.end()]
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise ExchangeFailed("the broker's answer is not valid HTTP/1.1 (status line)")
        status = int(match.group(2))
        fields: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or _TOKEN.fullmatch(name) is None:
                # Includes obsolete line folding (a line starting with a space).
                raise ExchangeFailed("the broker's answer is not valid HTTP/1.1 (header field)")
            key = name.decode("ascii").lower()
            text = value.strip(b" \t").decode("latin-1")
            fields[key] = f"{fields[key]}, {text}" if key in fields else text
        if 100 <= status < 200:
            if status == 101:
                raise ExchangeFailed("the broker switched protocols")
            return True  # an interim answer: the final one follows
        self.status = status
        self.headers = fields
        tokens = {t.strip().lower() for t in fields.get("connection", "").split(",")}
        if match.group(1) == b"0":
            self.keep_alive = "keep-alive" in tokens
        else:
            self.keep_alive = "close" not in tokens
        self._framing(status, fields)
        return True

    def _framing(self, status: int, fields: dict[str, str]) -> None:
        if status in (204, 304):
            self._state = "done"
            return
        coding = fields.get("transfer-encoding")
        if coding is not None:
            if coding.split(",")[-1].strip().lower() == "chunked":
                self._state = "chunk-size"
            else:
                self._state = "until-close"
                self.keep_alive = False
            return
        length = fields.get("content-length")
        if length is None:
            self._state = "until-close"
            self.keep_alive = False
            return
        values = {v.strip() for v in length.split(",")}
        if len(values) != 1 or not next(iter(values)).isdigit():
            raise ExchangeFailed("the broker's answer has an invalid Content-Length")
        self._remaining = int(next(iter(values)))
        self._state = "length" if self._remaining else "done"

    def _chunk_size(self) -> bool:
        end = self._buffer.find(b"\n")
        if end < 0:
            self._check_size()
            return False
        line = bytes(self._buffer[:end]).split(b";", 1)[0].strip(b" \t\r")
        del self._buffer[: end + 1]
        try:
            size = int(line, 16)
        except ValueError:
            size = -1
        if size < 0 or not line or line.startswith((b"+", b"-", b"0x", b"0X")):
            raise ExchangeFailed("the broker's answer is not valid HTTP/1.1 (chunk size)")
        if size == 0:
            self._state = "trailers"
        else:
            self._remaining = size
            self._state = "chunk-data"
        return True


def _line_end(buffer: bytearray) -> int | None:
    """Length of the CRLF (or bare LF) at the start of ``buffer``; -1 if none; None: wait."""
    if buffer[:1] == b"\n":
        return 1
    if buffer[:2] == b"\r\n":
        return 2
    if buffer == b"\r" or not buffer:
        return None
    return -1


def serialize_request(
    method: str, target: str, headers: list[tuple[str, str]], body: bytes | None
) -> bytes:
    """The request's bytes; refuses control characters that could split the message."""
    if _UNSAFE.search(method) or _UNSAFE.search(target) or " " in target or not target:
        raise ConnectFailed("request not sent: invalid request target")
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        if _UNSAFE.search(value) or _TOKEN.fullmatch(name.encode("latin-1")) is None:
            raise ConnectFailed(f"request not sent: header {name} holds invalid characters")
        lines.append(f"{name}: {value}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    lines.append("\r\n")
    head = "\r\n".join(lines).encode("latin-1")
    return head + body if body else head


def ssl_context(verify: ssl.SSLContext | bool) -> ssl.SSLContext:
    """The client context for ``verify``: a given context, certifi's CAs, or no checks."""
    if isinstance(verify, ssl.SSLContext):
        ctx = verify
    elif verify:
        try:
            import certifi

            ctx = ssl.create_default_context(cafile=certifi.where())
        except ImportError:  # pragma: no cover - certifi comes with httpx
            ctx = ssl.create_default_context()
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


class _Connection(asyncio.Protocol):
    """One socket; at most one exchange at a time.

    ``on_idle`` takes the connection back into its pool the moment an answer
    is complete and the connection may carry another request: a request
    woken by the slot that answer freed then finds it idle, instead of
    opening a new connection because the finished exchange's task has not
    run yet.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        on_idle: Callable[[_Connection], None] | None = None,
    ) -> None:
        self._loop = loop
        self._on_idle = on_idle
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._parser: ResponseParser | None = None
        self._on_answer: Callable[[], None] | None = None
        self.open = True
        self.idle_since = loop.time()

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        parser, waiter = self._parser, self._waiter
        if parser is None or waiter is None or waiter.done():
            # Bytes while idle: nothing may legitimately arrive now.
            self.close()
            return
        try:
            if parser.feed(data):
                self._answered(waiter)
        except ExchangeFailed as e:
            waiter.set_exception(e)
            self.close()

    def eof_received(self) -> bool:
        self.open = False
        parser, waiter = self._parser, self._waiter
        if parser is not None and waiter is not None and not waiter.done():
            try:
                parser.feed_eof()
                self._answered(waiter)
            except ExchangeFailed as e:
                waiter.set_exception(e)
        return False

    def _answered(self, waiter: asyncio.Future[None]) -> None:
        """An answer is complete: free the connection and the caller's slot, then wake it."""
        parser, on_answer = self._parser, self._on_answer
        self._waiter = self._parser = self._on_answer = None
        if parser is not None and parser.keep_alive and self.open:
            self.idle_since = self._loop.time()
            if self._on_idle is not None:
                self._on_idle(self)
        else:
            self.close()
        if on_answer is not None:
            on_answer()
        waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(ExchangeFailed(_CLOSED_EARLY))

    # -- exchange ------------------------------------------------------------------

    async def exchange(
        self,
        request: bytes,
        parser: ResponseParser,
        on_answer: Callable[[], None] | None = None,
    ) -> None:
        """Send ``request`` and wait until ``parser`` holds the whole answer.

        Once the answer is complete the connection is no longer this
        exchange's (see the class docstring): the caller must not touch it
        after ``parser.done``.
        """
        assert self._transport is not None
        waiter = self._waiter = self._loop.create_future()
        self._parser = parser
        self._on_answer = on_answer
        try:
            self._transport.write(request)
            await waiter
        finally:
            if self._waiter is waiter:  # failed or cancelled before the answer
                self._waiter = self._parser = self._on_answer = None

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.close()


class BrokerHTTP:
    """Keep-alive HTTP/1.1 connections to one broker's origin (see module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        verify: ssl.SSLContext | bool = True,
        max_idle: int = 16,
        keepalive_expiry: float = 5.0,
        user_agent: str = "catalogctl",
    ) -> None:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or _DEFAULT_PORTS[scheme]
        #: the broker URL's path, prefixed to every request target
        self.base_path = parts.path.rstrip("/")
        self._ssl = ssl_context(verify) if scheme == "https" else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None and parts.port != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{parts.port}"
        self._fixed = [("Host", host.encode("idna").decode("ascii")), ("User-Agent", user_agent)]
        self._max_idle = max_idle
        self._keepalive_expiry = keepalive_expiry
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def request(
        self,
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes | None,
        *,
        timeout: float,
        on_answer: Callable[[], None] | None = None,
    ) -> RawResponse:
        """One exchange within ``timeout`` seconds overall (connecting included).

        ``target`` is the path and query after the broker URL's own path,
        already percent-encoded.  ``on_answer`` runs in the socket callback
        that completes a well-formed answer, before this coroutine resumes
        (the caller frees its request slot there).  Raises
        :class:`HTTPFailure` subclasses only.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        request = serialize_request(method, self.base_path + target, self._fixed + headers, body)
        conn = await self._checkout(loop, deadline, timeout)
        parsed = ResponseParser()
        try:
            async with asyncio.timeout_at(deadline):
                await conn.exchange(request, parsed, on_answer)
        except TimeoutError:
            if not parsed.done:
                self._discard(conn)
                raise ExchangeTimedOut(f"no response within {timeout:g}s (ReadTimeout)") from None
            # The answer was complete in time; only this task woke up late.
        except BaseException:
            # Failed or cancelled mid-exchange: the socket state is unknown.
            # (An answer already complete left the connection in the pool.)
            if not parsed.done:
                self._discard(conn)
            raise
        if not conn.open:
            self._all.discard(conn)
        return RawResponse(parsed.status, parsed.headers, parsed.content)

    def _returned(self, conn: _Connection) -> None:
        """A connection whose exchange just ended in a reusable state."""
        if len(self._idle) < self._max_idle:
            self._idle.append(conn)
        else:
            self._discard(conn)

    async def _checkout(
        self, loop: asyncio.AbstractEventLoop, deadline: float, timeout: float
    ) -> _Connection:
        now = loop.time()
        while self._idle:
            conn = self._idle.pop()
            # A connection the broker closed while idle saw EOF on the loop already.
            if conn.open and now - conn.idle_since < self._keepalive_expiry:
                return conn
            self._discard(conn)
        return await self._connect(loop, deadline, timeout)

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, deadline: float, timeout: float
    ) -> _Connection:
        try:
            async with asyncio.timeout_at(deadline):
                _, protocol = await loop.create_connection(
                    lambda: _Connection(loop, self._returned),
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self._ssl is not None else None,
                )
        except TimeoutError:
            raise ConnectFailed(f"no connection within {timeout:g}s (ConnectTimeout)") from None
        except ssl.SSLError as e:
            raise ConnectFailed(f"TLS handshake failed ({e.reason or type(e).__name__})") from None
        except OSError as e:
            raise ConnectFailed(f"cannot connect ({e.strerror or type(e).__name__})") from None
        self._all.add(protocol)
        return protocol

    async def warm(self, connections: int, *, timeout: float) -> int:
        """Open connections until ``connections`` are idle; return how many are.

        An apply about to send a burst of requests opens them together, ahead
        of its first state write, instead of one connect (and TLS handshake)
        per request on an event loop already busy starting the walk.  A
        connection that cannot be opened is left out: the request that would
        have used it reports the failure.
        """
        loop = asyncio.get_running_loop()
        wanted = min(connections, self._max_idle) - len(self._idle)
        if wanted <= 0:
            return len(self._idle)
        deadline = loop.time() + timeout
        opened = await asyncio.gather(
            *(self._connect(loop, deadline, timeout) for _ in range(wanted)),
            return_exceptions=True,
        )
        now = loop.time()
        for conn in opened:
            if isinstance(conn, _Connection):
                if conn.open and len(self._idle) < self._max_idle:
                    conn.idle_since = now
                    self._idle.append(conn)
                else:
                    self._discard(conn)
        return len(self._idle)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)

    async def aclose(self) -> None:
        """Close every connection, idle or not."""
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()
        # Let the transports run their close callbacks before the loop goes away.
        await asyncio.sleep(0)
