"""The OSB v2.17 platform client: the only code in catalogctl that talks to brokers.

One :class:`OSBClient` per broker owns one ``httpx.AsyncClient`` (a keep-alive
pool as large as the broker's in-flight limit).  Each method sends exactly one
HTTP request and returns an outcome value from
:mod:`~catalogctl.providers.osb.outcomes`; transport exceptions never escape (a
failed exchange becomes :class:`TimedOut` or :class:`Unreachable`, see
:mod:`~catalogctl.providers.osb.transport`).  Retrying, polling and orphan
mitigation are decisions made above this layer, by :mod:`retrying`,
:mod:`poller` and :mod:`orphan`, using those outcome values.

Transport rules:

* ``trust_env``: ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` and
  ``SSL_CERT_FILE``/``SSL_CERT_DIR`` apply to broker traffic as they do to curl,
  kubectl and Terraform; a broker's ``caBundle`` replaces the trust store;
* the timeout applies to each phase (connect, write, each read) and to the
  whole exchange, so a broker trickling an endless answer is cut off too;
* answers are streamed and refused past ``max_response_size`` bytes, and JSON
  nested deeper than :data:`~catalogctl.providers.osb.outcomes.MAX_JSON_DEPTH`
  is an unusable answer, so nothing a broker sends can exhaust memory or stack.

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
from typing import Any, Final
from urllib.parse import quote

import httpx

from catalogctl.providers.osb.config import (
    BasicAuth,
    BearerAuth,
    BrokerConnection,
    OriginatingIdentity,
)
from catalogctl.providers.osb.identity import originating_identity_header
from catalogctl.providers.osb.limits import RequestLimiter
from catalogctl.providers.osb.outcomes import (
    Malformed,
    Outcome,
    RequestKind,
    classify,
)
from catalogctl.providers.osb.transport import (
    ResponseTooLarge,
    failure_outcome,
    read_bounded,
)

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


def _body(**fields: Any) -> dict[str, Any]:
    """A request body of the fields given; None means "not given" and is left out."""
    return {k: dict(v) if isinstance(v, Mapping) else v for k, v in fields.items() if v is not None}


def resource_path(instance_id: str, binding_id: str | None = None) -> str:
    """The instance's path, or with ``binding_id`` its binding's."""
    path = f"/v2/service_instances/{_q(instance_id)}"
    return path if binding_id is None else f"{path}/service_bindings/{_q(binding_id)}"


class OSBClient:
    """Async client for one broker (see module docstring for the transport and wire rules).

    ``transport`` lets unit tests inject ``httpx.MockTransport`` for narrow
    error paths (the environment is then ignored); everything else, tests
    included, goes over httpx's own transport.  ``global_slots`` is the
    run-wide ``--parallelism`` semaphore shared by every broker's client;
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
        # ever being sent).  So the pool is exactly as large as the in-flight limit.
        in_flight = conn.max_in_flight or max_connections
        self.limiter = RequestLimiter(
            max_in_flight=in_flight,
            requests_per_second=conn.requests_per_second,
            global_slots=global_slots,
        )
        self._base = conn.url.rstrip("/")
        self._http = httpx.AsyncClient(
            transport=transport,
            verify=conn.ssl_verify(),
            trust_env=transport is None,
            timeout=httpx.Timeout(conn.timeout),
            limits=httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight),
            follow_redirects=False,
            # What every request to this broker carries is set once here;
            # _send adds only the per-request identities.
            headers=_fixed_headers(conn),
        )

    async def aclose(self) -> None:
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
        body = _body(
            service_id=service_id,
            plan_id=plan_id,
            organization_guid=organization_guid,
            space_guid=space_guid,
            context=context,
            parameters=parameters,
            maintenance_info=maintenance_info,
        )
        path = resource_path(instance_id)
        return await self._write(RequestKind.PROVISION, "PUT", path, body, identity)

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
        body = _body(
            service_id=service_id,
            context=context,
            previous_values=previous_values,
            plan_id=plan_id,
            parameters=parameters,
            maintenance_info=maintenance_info,
        )
        path = resource_path(instance_id)
        return await self._write(RequestKind.UPDATE, "PATCH", path, body, identity)

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
        body = _body(
            service_id=service_id,
            plan_id=plan_id,
            context=context,
            parameters=parameters,
            bind_resource=bind_resource,
            app_guid=app_guid,
            predecessor_binding_id=predecessor_binding_id,
        )
        path = resource_path(instance_id, binding_id)
        return await self._write(RequestKind.BIND, "PUT", path, body, identity)

    # --------------------------------------------- either: an instance, or its binding

    async def delete(
        self,
        instance_id: str,
        service_id: str,
        plan_id: str,
        *,
        binding_id: str | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """Deprovision, or unbind ``binding_id``; ``identity=None`` for orphan mitigation."""
        return await self._send(
            RequestKind.DEPROVISION if binding_id is None else RequestKind.UNBIND,
            "DELETE",
            resource_path(instance_id, binding_id),
            query={"service_id": service_id, "plan_id": plan_id, "accepts_incomplete": "true"},
            identity=identity,
        )

    async def get(
        self,
        instance_id: str,
        service_id: str | None = None,
        plan_id: str | None = None,
        *,
        binding_id: str | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """GET the instance or binding; only when the plan says it is retrievable.

        After an async bind, this is where the credentials come from.
        """
        return await self._send(
            RequestKind.GET_INSTANCE if binding_id is None else RequestKind.GET_BINDING,
            "GET",
            resource_path(instance_id, binding_id),
            query={"service_id": service_id, "plan_id": plan_id},
            identity=identity,
        )

    async def get_binding(
        self, instance_id: str, binding_id: str, service_id: str | None, plan_id: str | None
    ) -> Outcome:
        """GET the binding ``binding_id`` (see :meth:`get`)."""
        return await self.get(instance_id, service_id, plan_id, binding_id=binding_id)

    async def last_operation(
        self,
        instance_id: str,
        service_id: str | None,
        plan_id: str | None,
        operation: str | None,
        *,
        binding_id: str | None = None,
        identity: OriginatingIdentity | None = UNSET,
    ) -> Outcome:
        """Poll an instance or binding operation; a null ``operation`` is left out of the query."""
        return await self._send(
            RequestKind.INSTANCE_LAST_OPERATION
            if binding_id is None
            else RequestKind.BINDING_LAST_OPERATION,
            "GET",
            resource_path(instance_id, binding_id) + "/last_operation",
            query={"service_id": service_id, "plan_id": plan_id, "operation": operation},
            identity=identity,
        )

    # ------------------------------------------------------------------ transport

    async def _write(
        self,
        kind: RequestKind,
        method: str,
        path: str,
        body: dict[str, Any],
        identity: OriginatingIdentity | None,
    ) -> Outcome:
        """A PUT or PATCH that accepts an asynchronous answer (202 and an operation)."""
        query = {"accepts_incomplete": "true"}
        return await self._send(kind, method, path, query=query, body=body, identity=identity)

    def _headers(
        self, request_id: str, identity: OriginatingIdentity | None
    ) -> dict[str, str]:
        headers = {"X-Broker-API-Request-Identity": request_id}
        if identity is not None:
            headers["X-Broker-API-Originating-Identity"] = originating_identity_header(
                self.conn.platform, identity
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
        async with self.limiter.slot():
            try:
                # httpx timeouts are per phase; the outer bound covers the whole
                # exchange, body included (a broker trickling bytes forever).
                async with asyncio.timeout(self.conn.timeout):
                    status, answer, raw = await self._exchange(method, target, headers, content)
            except ResponseTooLarge as e:
                outcome: Outcome = Malformed(status=e.status, reason=str(e))
                self._log_failure(method, path, request_id, outcome, started)
                return _with_request_id(outcome, request_id)
            except (TimeoutError, httpx.HTTPError) as e:
                outcome = await failure_outcome(e, self.conn)
                self._log_failure(method, path, request_id, outcome, started)
                return _with_request_id(outcome, request_id)
        logger.debug(
            "osb %s: %s %s -> %d in %.1f ms request_id=%s",
            self.conn.name,
            method,
            path,
            status,
            (time.monotonic() - started) * 1000,
            request_id,
        )
        outcome = classify(kind, status, raw, answer)
        return _with_request_id(outcome, request_id)

    async def _exchange(
        self, method: str, target: str, headers: dict[str, str], content: bytes | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; the answer's status, lower-cased headers and bounded body."""
        async with self._http.stream(
            method, self._base + target, content=content, headers=headers
        ) as response:
            lowered = {k.lower(): v for k, v in response.headers.items()}
            raw = await read_bounded(response, self.conn.max_response_size)
        return response.status_code, lowered, raw

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


def _fixed_headers(conn: BrokerConnection) -> dict[str, str]:
    """The headers of every request to ``conn``'s broker: API version, JSON, authentication."""
    headers = {
        "User-Agent": _USER_AGENT,
        "X-Broker-API-Version": conn.api_version,
        "Content-Type": "application/json",
        "Accept": "application/json",
    }
    auth = conn.auth
    if isinstance(auth, BasicAuth):
        pair = f"{auth.username}:{auth.password.reveal()}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    elif isinstance(auth, BearerAuth):
        headers["Authorization"] = f"Bearer {auth.token.reveal()}"
    return headers


def _with_request_id(outcome: Outcome, request_id: str) -> Outcome:
    # Outcomes are frozen; object.__setattr__ avoids rebuilding each variant.
    object.__setattr__(outcome, "request_id", request_id)
    return outcome
