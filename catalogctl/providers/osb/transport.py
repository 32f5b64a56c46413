"""What httpx reports, as outcome values: bounded bodies and failed exchanges.

Orphan mitigation needs to know whether a failed request may have reached the
broker.  httpx's exception types say it:

* ``ConnectError``, ``ConnectTimeout``, ``ProxyError``, ``PoolTimeout``,
  ``UnsupportedProtocol``/``InvalidURL``: no connection, so nothing was sent;
* ``WriteError``: the request was not written completely, and a broker cannot
  act on a request it did not receive whole (HTTP framing), so nothing was sent;
* ``ReadError``, ``RemoteProtocolError`` (the connection closed before the
  answer): the request was sent and may have been acted on;
* ``ReadTimeout``, ``WriteTimeout`` and the whole-exchange deadline: a timeout,
  which the orphan-mitigation table treats as "may have been acted on".

TLS verification failures are told apart (unknown authority, hostname
mismatch, expired) because each has a different fix.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Final
from urllib.parse import urlsplit

import httpx

from catalogctl.providers.osb.config import BrokerConnection
from catalogctl.providers.osb.outcomes import Outcome, TimedOut, Unreachable

logger = logging.getLogger(__name__)

#: OpenSSL verification codes (X509_V_ERR_*) whose fix is a caBundle.
_UNKNOWN_AUTHORITY: Final = frozenset({2, 18, 19, 20, 21})
_EXPIRED: Final = 10
_NOT_YET_VALID: Final = 9
_HOSTNAME_MISMATCH: Final = 62
_IP_MISMATCH: Final = 64


class ResponseTooLarge(Exception):
    """The answer's body is larger than the configured limit; it was not read further."""

    def __init__(self, status: int, limit: int) -> None:
        super().__init__(
            f"response body larger than {_size(limit)} (--max-response-size); not read further"
        )
        self.status = status


def _size(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} bytes"


async def read_bounded(response: httpx.Response, limit: int) -> bytes:
    """The body of a streamed response, refusing more than ``limit`` bytes.

    A declared ``Content-Length`` above the limit is refused before reading;
    otherwise bytes are counted as they arrive (after content decoding, which
    is what occupies memory), so an endless chunked body stops at the limit.
    """
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ResponseTooLarge(response.status_code, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise ResponseTooLarge(response.status_code, limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def failure_outcome(exc: BaseException, conn: BrokerConnection) -> Outcome:
    """The outcome of an exchange that produced no (complete) answer."""
    name = type(exc).__name__
    if isinstance(exc, TimeoutError | httpx.ReadTimeout | httpx.WriteTimeout):
        return TimedOut(detail=f"no complete response within {conn.timeout:g}s ({name})")
    if isinstance(exc, httpx.ConnectError):
        verify = _verification_error(exc)
        if verify is not None:
            reason = await _tls_reason(verify, conn)
            return Unreachable(reason=reason, request_sent=False, lasting=True)
        return Unreachable(reason=f"cannot connect ({name}: {_first_line(exc)})")
    if isinstance(
        exc, httpx.ConnectTimeout | httpx.PoolTimeout | httpx.ProxyError | httpx.WriteError
    ):
        return Unreachable(reason=f"cannot connect ({name}: {_first_line(exc)})")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return Unreachable(reason=f"invalid broker url ({_first_line(exc)})", lasting=True)
    # ReadError, RemoteProtocolError and anything else after the request went out.
    return Unreachable(
        reason=f"connection failed after the request was sent ({name}: {_first_line(exc)})",
        request_sent=True,
    )


def _first_line(exc: BaseException) -> str:
    # httpx messages can name the URL (never credentials: they are refused in
    # URLs by BrokerConnection) but never headers.
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else "no detail"


def _verification_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


async def _tls_reason(error: ssl.SSLCertVerificationError, conn: BrokerConnection) -> str:
    code = getattr(error, "verify_code", 0)
    detail = getattr(error, "verify_message", "") or str(error)
    host = urlsplit(conn.url).hostname or ""
    if code in _UNKNOWN_AUTHORITY:
        return (
            f"TLS: the broker's certificate is signed by an unknown authority ({detail}); "
            "set the broker's spec.caBundle to the CA that signed it"
        )
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        names = await _certificate_names(conn)
        has = f"it is valid for {', '.join(names)}" if names else "it names other hosts"
        return f"TLS: the broker's certificate does not match host {host}: {has}"
    if code == _EXPIRED:
        return f"TLS: the broker's certificate has expired ({detail})"
    if code == _NOT_YET_VALID:
        return f"TLS: the broker's certificate is not valid yet ({detail})"
    return f"TLS: certificate verification failed ({detail})"


async def _certificate_names(conn: BrokerConnection) -> list[str]:
    """The names in the broker's certificate, read by a second, name-blind handshake.

    The first handshake fails before Python exposes the certificate; this one
    verifies the chain as usual but not the name, only to report which names
    the certificate holds.  Nothing is sent over it.  Best effort: ``[]``.
    """
    parts = urlsplit(conn.url)
    host, port = parts.hostname or "", parts.port or 443
    try:
        if conn.ca_bundle is not None:
            ctx = ssl.create_default_context(cadata=conn.ca_bundle.decode("ascii"))
        else:
            ctx = httpx.create_ssl_context(trust_env=True)
        ctx.check_hostname = False
        async with asyncio.timeout(min(conn.timeout, 5.0)):
            _, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
        try:
            cert = writer.get_extra_info("peercert") or {}
        finally:
            writer.close()
    except (OSError, TimeoutError, ValueError) as e:
        logger.debug("could not read the certificate names of %s: %r", conn.name, e)
        return []
    alt = cert.get("subjectAltName", ())
    names = [value for kind, value in alt if kind in ("DNS", "IP Address")]
    if not names:
        for rdn in cert.get("subject", ()):
            names += [value for key, value in rdn if key == "commonName"]
    return [str(n) for n in names]
