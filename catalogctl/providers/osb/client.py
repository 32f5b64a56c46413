"""The OSB v2.17 platform client: the only code in catalogctl that talks to brokers.

One :class:`OSBClient` per broker owns one keep-alive pool
(:class:`~catalogctl.providers.osb.http.BrokerHTTP`).  Each method sends
exactly one HTTP request and returns an outcome value from
:mod:`~catalogctl.providers.osb.outcomes`; transport exceptions never escape (a
failed exchange becomes :class:`TimedOut` or :class:`Unreachable`).  Retrying,
polling and orphan mitigation are decisions made above this layer, by the
engine, :mod:`poller` and :mod:`orphan`, using those outcome values.

Wire rules applied to every request:

* ``X-Broker-API-Version`` (per broker, default ``2.17``), ``Content-Type:
  application/json``, a fresh ``X-Broker-API-Request-Identity`` uuid4, and
  basic or (opt-in) bearer authentication;
* ids and ``operation`` are percent-encoded with ``quote(x, safe='')`` — we
  build the URL ourselves so no library re-encodes or decodes them;
* ``accepts_incomplete=true`` on every PUT/PATCH/DELETE, so async-only brokers
  never answer ``AsyncRequired``;
* ``X-Broker-API-Originating-Identity`` on user-initiated instance and binding
  calls only: the catalog fetch and orphan-mitigation DELETEs go without it, as
  the spec describes.

Only method, path, status, elapsed time and request id are logged (at debug
level); bodies can contain credentials and are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import re
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from catalogctl.providers.osb.config import (
    BasicAuth,
    BearerAuth,
    BrokerConnection,
    OriginatingIdentity,
)
from catalogctl.providers.osb.http import (
    BrokerHTTP,
    ConnectFailed,
    ExchangeFailed,
    ExchangeTimedOut,
    HTTPFailure,
    RawResponse,
)
from catalogctl.providers.osb.identity import originating_identity_header
from catalogctl.providers.osb.limits import RequestLimiter
from catalogctl.providers.osb.outcomes import (
    Outcome,
    RequestKind,
    TimedOut,
    Unreachable,
    classify,
)

if TYPE_CHECKING:
    # Only the injected test transport uses httpx; importing it costs every
    # command ~0.1 s (ssl contexts, certifi, h11, email), so it waits until then.
    import httpx

logger = logging.getLogger(__name__)

_MUTATING: Final = frozenset({"PUT", "PATCH", "DELETE"})

_USER_AGENT: Final = "catalogctl"

UNSET: Final[Any] = object()
"""Marker for "use the connection's configured identity"."""


#: Strings that percent-encoding leaves as they are (RFC 3986 unreserved characters).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch

#: Request identities: random (seeded from os.urandom), without a system call
#: per request on the event loop's thread as ``uuid.uuid4()`` makes.  They
#: trace requests in broker logs and are not secrets; resource ids still
#: come from ``uuid.uuid4()``.
_request_ids = random.Random()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_request_ids.seed)  # a forked child must not repeat ids


def _request_id() -> str:
    return str(uuid.UUID(int=_request_ids.getrandbits(128), version=4))


def _q(value: str) -> str:
    # Ids are nearly always UUIDs: skip quote()'s work for them.
    return value if _UNRESERVED(value) else quote(value, safe="")


def _query(params: Mapping[str, str | None]) -> str:
    pairs = [f"{_q(k)}={_q(v)}" for k, v in params.items() if v is not None]
    return ("?" + "&".join(pairs)) if pairs else ""


def instance_path(instance_id: str) -> str:
    return f"/v2/service_instances/{_q(instance_id)}"


def binding_path(instance_id: str, binding_id: str) -> str:
    return f"{instance_path(instance_id)}/service_bindings/{_q(binding_id)}"


class OSBClient:
    """Async client for one broker (see module docstring for the wire rules).

    ``transport`` lets unit tests inject ``httpx.MockTransport`` (fake clocks,
    handlers that raise); otherwise requests go over :class:`BrokerHTTP`.
    ``global_slots`` is
    the run-wide ``--parallelism`` semaphore shared by every broker's client;
    ``max_connections`` is the pool size (and in-flight limit) used when the
    connection sets no ``max_in_flight``.
    """

    def __init__(
        self,
        conn: BrokerConnection,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        global_slots: asyncio.Semaphore | None = None,
        max_connections: int = 100,
    ) -> None:
        self.conn = conn
        # Requests wait for a slot in our FIFO limiter, never in httpx's pool
        # queue: a request queued there would count against the timeout (and
        # could be reported TimedOut — an orphan-mitigation trigger — without
        # ever being sent), and httpcore's queue costs O(queued x connections)
        # per event.  So the pool is exactly as large as the in-flight limit.
        in_flight = conn.max_in_flight or max_connections
        self.limiter = RequestLimiter(
            max_in_flight=in_flight,
            requests_per_second=conn.requests_per_second,
            global_slots=global_slots,
        )
        self._base = conn.url.rstrip("/")
        #: The broker's own pool; ``None`` when a test injects an httpx transport.
        self._pool: BrokerHTTP | None = None
        self._http: httpx.AsyncClient | None = None
        if transport is None:
            self._pool = BrokerHTTP(
                conn.url, verify=conn.ssl_verify(), max_idle=in_flight, user_agent=_USER_AGENT
            )
        else:
            import httpx

            self._http = httpx.AsyncClient(
                transport=transport,
                timeout=httpx.Timeout(conn.timeout),
                follow_redirects=False,
                trust_env=False,
            )

    async def warm(self, requests: int) -> None:
        """Open connections for the first ``requests`` requests (at most the in-flight limit).

        Nothing is sent; a broker that cannot be reached is reported by the
        requests themselves.
        """
        if self._pool is not None and requests > 0:
            await self._pool.warm(requests, timeout=self.conn.timeout)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
        if self._http is not None:
            await self._http.aclose()

    async def __aenter__(self) -> OSBClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"OSBClient({self.conn.name!r}, url={self.conn.url!r})"

    # ------------------------------------------------------------------ catalog

    async def get_catalog(self) -> Outcome:
        """``GET /v2/catalog``; :class:`Done` holds the raw JSON object for the catalog parser."""
        return await self._send(RequestKind.CATALOG, "GET", "/v2/catalog", identity=None)

    # ------------------------------------------------------------------ instances

    async def provision(
        self,
        instance_id: str,
        service_id: str,
        plan_id: str,
        *,
        context: Mapping[str, Any],
        organization_guid: str,
        space_guid: str,
        parameters: Mapping[str, Any] | None = None,
        maintenance_info: Mapping[str, Any] | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """PUT instance; build ``context``/guids with :mod:`~catalogctl.providers.osb.identity`.

        The id must already be in state (crash recovery and orphan mitigation
        depend on it).  ``parameters``/``maintenance_info`` are sent only if given.
        """
        body: dict[str, Any] = {
            "service_id": service_id,
            "plan_id": plan_id,
            "organization_guid": organization_guid,
            "space_guid": space_guid,
            "context": dict(context),
        }
        if parameters is not None:
            body["parameters"] = dict(parameters)
        if maintenance_info is not None:
            body["maintenance_info"] = dict(maintenance_info)
        return await self._send(
            RequestKind.PROVISION,
            "PUT",
            instance_path(instance_id),
            query={"accepts_incomplete": "true"},
            body=body,
            identity=identity,
        )

    async def update(
        self,
        instance_id: str,
        service_id: str,
        *,
        plan_id: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        previous_values: Mapping[str, Any],
        context: Mapping[str, Any],
        maintenance_info: Mapping[str, Any] | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """PATCH; absent ``plan_id``/``parameters`` mean "do not change" per spec.

        Poll a 202 with ``previous_values["plan_id"]`` (the pre-update plan).
        """
        body: dict[str, Any] = {
            "service_id": service_id,
            "context": dict(context),
            "previous_values": dict(previous_values),
        }
        if plan_id is not None:
            body["plan_id"] = plan_id
        if parameters is not None:
            body["parameters"] = dict(parameters)
        if maintenance_info is not None:
            body["maintenance_info"] = dict(maintenance_info)
        return await self._send(
            RequestKind.UPDATE,
            "PATCH",
            instance_path(instance_id),
            query={"accepts_incomplete": "true"},
            body=body,
            identity=identity,
        )

    async def deprovision(
        self,
        instance_id: str,
        service_id: str,
        plan_id: str,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """DELETE; pass ``identity=None`` for orphan mitigation (no identity header)."""
        return await self._send(
            RequestKind.DEPROVISION,
            "DELETE",
            instance_path(instance_id),
            query={"service_id": service_id, "plan_id": plan_id, "accepts_incomplete": "true"},
            identity=identity,
        )

    async def get_instance(
        self,
        instance_id: str,
        service_id: str | None = None,
        plan_id: str | None = None,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """GET; call only when the offering has ``instances_retrievable: true``."""
        return await self._send(
            RequestKind.GET_INSTANCE,
            "GET",
            instance_path(instance_id),
            query={"service_id": service_id, "plan_id": plan_id},
            identity=identity,
        )

    async def instance_last_operation(
        self,
        instance_id: str,
        service_id: str | None,
        plan_id: str | None,
        operation: str | None,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """Poll; a missing/null ``operation`` is omitted from the query."""
        return await self._send(
            RequestKind.INSTANCE_LAST_OPERATION,
            "GET",
            instance_path(instance_id) + "/last_operation",
            query={"service_id": service_id, "plan_id": plan_id, "operation": operation},
            identity=identity,
        )

    # ------------------------------------------------------------------ bindings

    async def bind(
        self,
        instance_id: str,
        binding_id: str,
        service_id: str,
        plan_id: str,
        *,
        context: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
        bind_resource: Mapping[str, Any] | None = None,
        app_guid: str | None = None,
        predecessor_binding_id: str | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """PUT binding.  A 202 carries no credentials: poll, then :meth:`get_binding`.

        ``predecessor_binding_id`` is for rotation and only allowed when the
        plan is ``binding_rotatable`` (the caller checks the catalog).
        """
        body: dict[str, Any] = {
            "service_id": service_id,
            "plan_id": plan_id,
            "context": dict(context),
        }
        if parameters is not None:
            body["parameters"] = dict(parameters)
        if bind_resource is not None:
            body["bind_resource"] = dict(bind_resource)
        if app_guid is not None:
            body["app_guid"] = app_guid
        if predecessor_binding_id is not None:
            body["predecessor_binding_id"] = predecessor_binding_id
        return await self._send(
            RequestKind.BIND,
            "PUT",
            binding_path(instance_id, binding_id),
            query={"accepts_incomplete": "true"},
            body=body,
            identity=identity,
        )

    async def unbind(
        self,
        instance_id: str,
        binding_id: str,
        service_id: str,
        plan_id: str,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """DELETE binding; pass ``identity=None`` for orphan mitigation."""
        return await self._send(
            RequestKind.UNBIND,
            "DELETE",
            binding_path(instance_id, binding_id),
            query={"service_id": service_id, "plan_id": plan_id, "accepts_incomplete": "true"},
            identity=identity,
        )

    async def get_binding(
        self,
        instance_id: str,
        binding_id: str,
        service_id: str | None = None,
        plan_id: str | None = None,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """GET binding; after an async bind this is where the credentials come from."""
        return await self._send(
            RequestKind.GET_BINDING,
            "GET",
            binding_path(instance_id, binding_id),
            query={"service_id": service_id, "plan_id": plan_id},
            identity=identity,
        )

    async def binding_last_operation(
        self,
        instance_id: str,
        binding_id: str,
        service_id: str | None,
        plan_id: str | None,
        operation: str | None,
        *,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """Poll a binding operation; same query rules as the instance poll."""
        return await self._send(
            RequestKind.BINDING_LAST_OPERATION,
            "GET",
            binding_path(instance_id, binding_id) + "/last_operation",
            query={"service_id": service_id, "plan_id": plan_id, "operation": operation},
            identity=identity,
        )

    # ------------------------------------------------------------------ transport

    def _headers(
        self, request_id: str, identity: OriginatingIdentity | None
    ) -> list[tuple[str, str]]:
        headers = [
            ("X-Broker-API-Version", self.conn.api_version),
            ("X-Broker-API-Request-Identity", request_id),
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ]
        auth = self.conn.auth
        if isinstance(auth, BasicAuth):
            pair = f"{auth.username}:{auth.password.reveal()}".encode()
            headers.append(("Authorization", "Basic " + base64.b64encode(pair).decode("ascii")))
        elif isinstance(auth, BearerAuth):
            headers.append(("Authorization", f"Bearer {auth.token.reveal()}"))
        if identity is not None:
            headers.append(
                (
                    "X-Broker-API-Originating-Identity",
                    originating_identity_header(self.conn.platform, identity),
                )
            )
        return headers

    async def _send(
        self,
        kind: RequestKind,
        method: str,
        path: str,
        *,
        identity: OriginatingIdentity | None,
        query: Mapping[str, str | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Outcome:
        if identity is UNSET:
            identity = self.conn.originating_identity
        request_id = _request_id()
        target = path + _query(query or {})
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        if content is None and method in _MUTATING:
            content = b""
        headers = self._headers(request_id, identity)
        logger.debug("osb %s: %s %s request_id=%s", self.conn.name, method, path, request_id)
        started = time.monotonic()
        async with self.limiter.slot() as slot:
            try:
                if self._pool is not None:
                    response = await self._pool.request(
                        method,
                        target,
                        headers,
                        content,
                        timeout=self.conn.timeout,
                        on_answer=slot.release,
                    )
                else:
                    response = await self._via_httpx(method, target, headers, content)
            except HTTPFailure as e:
                outcome = _failure_outcome(e, request_id)
                self._log_failure(method, path, request_id, outcome, started)
                return outcome
        logger.debug(
            "osb %s: %s %s -> %d in %.1f ms request_id=%s",
            self.conn.name,
            method,
            path,
            response.status,
            (time.monotonic() - started) * 1000,
            request_id,
        )
        outcome = classify(kind, response.status, response.content, response.headers)
        return _with_request_id(outcome, request_id)

    async def _via_httpx(
        self, method: str, target: str, headers: list[tuple[str, str]], content: bytes | None
    ) -> RawResponse:
        """The injected-transport path, with httpx errors mapped like :class:`BrokerHTTP`'s."""
        assert self._http is not None
        import httpx

        try:
            # httpx timeouts are per phase; the outer bound covers the whole exchange.
            async with asyncio.timeout(self.conn.timeout):
                response = await self._http.request(
                    method, self._base + target, content=content, headers=headers
                )
        except (TimeoutError, httpx.ReadTimeout, httpx.WriteTimeout) as e:
            raise ExchangeTimedOut(
                f"no response within {self.conn.timeout:g}s ({type(e).__name__})"
            ) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.InvalidURL) as e:
            raise ConnectFailed(f"cannot connect ({type(e).__name__})") from None
        except httpx.HTTPError as e:
            # The message of httpx errors can embed the URL but never headers.
            raise ExchangeFailed(f"connection failed ({type(e).__name__})") from None
        lowered = {k.lower(): v for k, v in response.headers.items()}
        return RawResponse(response.status_code, lowered, response.content)

    def _log_failure(
        self, method: str, path: str, request_id: str, outcome: Outcome, started: float
    ) -> None:
        logger.debug(
            "osb %s: %s %s -> %s after %.1f ms request_id=%s",
            self.conn.name,
            method,
            path,
            type(outcome).__name__,
            (time.monotonic() - started) * 1000,
            request_id,
        )


def _failure_outcome(failure: HTTPFailure, request_id: str) -> Outcome:
    """A failed exchange as an outcome: only a sent request can have been acted on."""
    if isinstance(failure, ExchangeTimedOut):
        return TimedOut(detail=failure.reason, request_id=request_id)
    return Unreachable(reason=failure.reason, request_sent=failure.sent, request_id=request_id)


def _with_request_id(outcome: Outcome, request_id: str) -> Outcome:
    # Outcomes are frozen; object.__setattr__ avoids rebuilding each variant.
    object.__setattr__(outcome, "request_id", request_id)
    return outcome
