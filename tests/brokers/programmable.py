"""A programmable fault-injection OSB broker on a real HTTP socket (127.0.0.1).

Tests script exact answers — any status, body, headers, delay, ``Retry-After``,
a dropped connection or a hang past the client's timeout — for requests
matched by method and path regex, and inspect every request the broker
received.  Requests that no script matches fall through to a small but honest
in-memory broker (sync plan ``sync``, async plan ``async``), so the same server
also serves as a realistic broker for end-to-end tests and benchmarks.

The in-memory broker also checks credentials like the service it stands for
would: ``POST /credentials/check`` with a binding's ``username`` and
``password`` answers 200 while that binding is bound and 401 once it is
unbound (``accepts`` is the same check in-process).

Run standalone::

    python -m tests.brokers.programmable --port 8080
    # prints: READY http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import re
import signal
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SERVICE_ID = "prog-svc-1"
SYNC_PLAN_ID = "prog-plan-sync"
ASYNC_PLAN_ID = "prog-plan-async"
LARGE_PLAN_ID = "prog-plan-large"


def default_catalog() -> dict[str, Any]:
    """One offering, three plans: sync, async (polled), and a second sync plan for updates."""
    return {
        "services": [
            {
                "id": SERVICE_ID,
                "name": "programmable-db",
                "description": "In-memory database used by catalogctl tests",
                "bindable": True,
                "instances_retrievable": True,
                "bindings_retrievable": True,
                "plan_updateable": True,
                "allow_context_updates": True,
                "plans": [
                    {"id": SYNC_PLAN_ID, "name": "sync", "description": "answers at once"},
                    {
                        "id": ASYNC_PLAN_ID,
                        "name": "async",
                        "description": "answers 202 and must be polled",
                        "maximum_polling_duration": 60,
                    },
                    {"id": LARGE_PLAN_ID, "name": "large", "description": "a bigger sync plan"},
                ],
            }
        ]
    }


@dataclass
class ScriptedResponse:
    """One scripted answer; consumed ``times`` times (``None`` = forever)."""

    method: str
    path_regex: re.Pattern[str]
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    hang: bool = False
    hold: threading.Event | None = None
    times: int | None = 1
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        remaining = self.times is None or self.hits < self.times
        return remaining and self.method == method and bool(self.path_regex.search(path))


@dataclass(frozen=True)
class RecordedRequest:
    """A request as received; ``path`` is raw (still percent-encoded), ``query`` decoded."""

    method: str
    path: str
    raw_query: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    raw_body: bytes
    received_at: float
    peer: tuple[str, int] = ("", 0)

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)


@dataclass
class _Op:
    id: str
    kind: str  # provision | update | deprovision | bind | unbind
    remaining: int
    state: str = "in progress"
    description: str = ""
    seq: int = 0


@dataclass
class _Instance:
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    context: dict[str, Any]
    dashboard_url: str
    op: _Op | None = None
    ready: bool = True


@dataclass
class _Binding:
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    credentials: dict[str, Any]
    op: _Op | None = None
    ready: bool = True


_INSTANCE = re.compile(r"^/v2/service_instances/([^/]+)$")
_INSTANCE_LO = re.compile(r"^/v2/service_instances/([^/]+)/last_operation$")
_BINDING = re.compile(r"^/v2/service_instances/([^/]+)/service_bindings/([^/]+)$")
_BINDING_LO = re.compile(r"^/v2/service_instances/([^/]+)/service_bindings/([^/]+)/last_operation$")

Reply = tuple[int, Any, dict[str, str]]


def _err(status: int, error: str | None, description: str) -> Reply:
    body: dict[str, Any] = {"description": description}
    if error:
        body["error"] = error
    return status, body, {}


class ProgrammableBroker:
    """The broker; :meth:`start` binds port 0 (or ``port``) on 127.0.0.1."""

    def __init__(
        self,
        *,
        port: int = 0,
        async_polls: int = 2,
        poll_retry_after: str | None = None,
        accepted_versions: tuple[str, ...] | None = None,
        basic_auth: tuple[str, str] | None = None,
        bearer_token: str | None = None,
        catalog: dict[str, Any] | None = None,
        hang_seconds: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        max_bindings_per_instance: int | None = None,
    ) -> None:
        self.async_polls = async_polls
        #: a second bind of an instance beyond this many answers 409 (one-binding brokers)
        self.max_bindings_per_instance = max_bindings_per_instance
        self.poll_retry_after = poll_retry_after
        self.accepted_versions = accepted_versions
        self.basic_auth = basic_auth
        self.bearer_token = bearer_token
        self.catalog = catalog if catalog is not None else default_catalog()
        self.hang_seconds = hang_seconds
        self.ssl_context = ssl_context
        self._port = port
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._scripts: list[ScriptedResponse] = []
        self._requests: list[RecordedRequest] = []
        self._ops = itertools.count(1)
        self.instances: dict[str, _Instance] = {}
        self.bindings: dict[tuple[str, str], _Binding] = {}
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> ProgrammableBroker:
        broker = self

        class Handler(_Handler):
            owner = broker

        server = _Server(("127.0.0.1", self._port), Handler)
        if self.ssl_context is not None:
            server.socket = self.ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        # stop() waits for serve_forever to notice (one poll interval), in every test.
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ProgrammableBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "broker not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    # ------------------------------------------------------------------ scripting

    def script(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 200,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        drop: bool = False,
        hang: bool = False,
        hold: threading.Event | None = None,
        times: int | None = 1,
        retry_after: str | int | None = None,
    ) -> ScriptedResponse:
        """Queue an answer for requests whose method matches and path ``re.search``es.

        ``body``: dict/list → JSON, str → text as-is, bytes → raw, None → empty.
        ``hold``: the answer waits until the test sets this event (or the broker
        stops), so a client stays mid-request exactly as long as the test needs.
        Entries are used in the order they were added.
        """
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = str(retry_after)
        entry = ScriptedResponse(
            method=method.upper(),
            path_regex=re.compile(path_regex),
            status=status,
            body=body,
            headers=hdrs,
            delay=delay,
            drop=drop,
            hang=hang,
            hold=hold,
            times=times,
        )
        with self._lock:
            self._scripts.append(entry)
        return entry

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_regex: str = "") -> list[RecordedRequest]:
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method and pattern.search(r.path)]

    def fail_operation(
        self, instance_id: str, binding_id: str | None = None, description: str = "failed"
    ) -> None:
        """Make the resource's current async operation end ``failed`` at the next poll."""
        with self._lock:
            if binding_id is None:
                holder: _Instance | _Binding = self.instances[instance_id]
            else:
                holder = self.bindings[(instance_id, binding_id)]
            assert holder.op is not None, "no operation in flight"
            holder.op.state, holder.op.description = "failed", description

    def reset(self) -> None:
        """Forget scripts, recorded requests and all instances and bindings."""
        with self._lock:
            self._scripts.clear()
            self._requests.clear()
            self.instances.clear()
            self.bindings.clear()
            self.peak_in_flight = self.in_flight

    # ------------------------------------------------------------------ dispatch

    def _record(self, req: RecordedRequest) -> ScriptedResponse | None:
        with self._lock:
            self._requests.append(req)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            for entry in self._scripts:
                if entry.matches(req.method, req.path):
                    entry.hits += 1
                    return entry
        return None

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def wait_stop(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def accepts(self, credentials: Mapping[str, Any]) -> bool:
        """Whether the service would let these credentials in: a bound binding issued them."""
        with self._lock:
            return any(
                b.ready
                and b.credentials.get("username") == credentials.get("username")
                and b.credentials.get("password") == credentials.get("password")
                for b in self.bindings.values()
            )

    def wait_released(self, hold: threading.Event) -> None:
        """Until ``hold`` is set or the broker stops."""
        while not (hold.wait(0.05) or self._stop.is_set()):
            pass

    def default_reply(self, req: RecordedRequest) -> Reply:
        """The in-memory broker's answer."""
        if req.method == "POST" and req.path == "/credentials/check":
            body = req.body if isinstance(req.body, dict) else {}
            if self.accepts(body):
                return 200, {"valid": True}, {}
            return _err(401, None, "these credentials are not (or no longer) valid")
        version = req.headers.get("x-broker-api-version")
        if version is None:
            return _err(400, None, "X-Broker-API-Version header is missing")
        if self.accepted_versions is not None and version not in self.accepted_versions:
            wanted = ", ".join(self.accepted_versions)
            return _err(412, None, f"API version {version} not supported; use {wanted}")
        auth = req.headers.get("authorization", "")
        if self.basic_auth is not None:
            user, password = self.basic_auth
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if auth != expected:
                return _err(401, None, "bad credentials")
        if self.bearer_token is not None and auth != f"Bearer {self.bearer_token}":
            return _err(401, None, "bad token")
        # Routes match the raw path so an id containing an encoded "/" stays one segment.
        path = req.path
        with self._lock:
            if req.method == "GET" and path == "/v2/catalog":
                return 200, self.catalog, {}
            if m := _INSTANCE_LO.match(path):
                return self._instance_last_operation(unquote(m.group(1)), req)
            if m := _BINDING_LO.match(path):
                return self._binding_last_operation(unquote(m.group(1)), unquote(m.group(2)), req)
            if m := _INSTANCE.match(path):
                handlers: dict[str, Callable[[str, RecordedRequest], Reply]] = {
                    "PUT": self._provision,
                    "PATCH": self._update,
                    "DELETE": self._deprovision,
                    "GET": self._get_instance,
                }
                if req.method in handlers:
                    return handlers[req.method](unquote(m.group(1)), req)
            if m := _BINDING.match(path):
                iid, bid = unquote(m.group(1)), unquote(m.group(2))
                if req.method == "PUT":
                    return self._bind(iid, bid, req)
                if req.method == "DELETE":
                    return self._unbind(iid, bid, req)
                if req.method == "GET":
                    return self._get_binding(iid, bid)
        return _err(404, None, f"no route for {req.method} {req.path}")

    def _plan(self, plan_id: Any) -> dict[str, Any] | None:
        for svc in self.catalog.get("services", []):
            for plan in svc.get("plans", []):
                if plan.get("id") == plan_id:
                    return dict(plan)
        return None

    def _is_async(self, plan_id: str) -> bool:
        return plan_id == ASYNC_PLAN_ID

    def _new_op(self, kind: str) -> _Op:
        n = next(self._ops)
        return _Op(id=f"op-{kind}-{n}", kind=kind, remaining=self.async_polls, seq=n)

    @staticmethod
    def _incomplete(req: RecordedRequest) -> bool:
        return req.query.get("accepts_incomplete") == "true"

    def _provision(self, iid: str, req: RecordedRequest) -> Reply:
        body = req.body if isinstance(req.body, dict) else None
        if body is None:
            return _err(400, None, "body must be a JSON object")
        for key in ("service_id", "plan_id", "organization_guid", "space_guid"):
            if not isinstance(body.get(key), str) or not body[key]:
                return _err(400, None, f"{key} is required")
        if self._plan(body["plan_id"]) is None:
            return _err(400, None, "unknown plan_id")
        params = body.get("parameters") or {}
        existing = self.instances.get(iid)
        if existing is not None:
            same = (existing.plan_id, existing.parameters) == (body["plan_id"], params)
            if not same:
                return _err(409, None, "instance exists with different attributes")
            if existing.op is not None and existing.op.state == "in progress":
                return 202, {"operation": existing.op.id}, {}
            return 200, {"dashboard_url": existing.dashboard_url}, {}
        dash = f"http://127.0.0.1/dashboard/{iid}"
        inst = _Instance(body["service_id"], body["plan_id"], params, body.get("context", {}), dash)
        if self._is_async(body["plan_id"]):
            if not self._incomplete(req):
                return _err(422, "AsyncRequired", "this plan requires accepts_incomplete=true")
            inst.op, inst.ready = self._new_op("provision"), False
            self.instances[iid] = inst
            return 202, {"operation": inst.op.id, "dashboard_url": dash}, {}
        self.instances[iid] = inst
        return 201, {"dashboard_url": dash}, {}

    def _busy(self, op: _Op | None) -> bool:
        return op is not None and op.state == "in progress"

    def _update(self, iid: str, req: RecordedRequest) -> Reply:
        inst = self.instances.get(iid)
        body = req.body if isinstance(req.body, dict) else {}
        if inst is None:
            return _err(404, None, "no such instance")
        if self._busy(inst.op):
            return _err(422, "ConcurrencyError", "another operation is in progress")
        new_plan = body.get("plan_id", inst.plan_id)
        if self._plan(new_plan) is None:
            return _err(400, None, "unknown plan_id")
        was_async = self._is_async(inst.plan_id)
        if was_async and not self._incomplete(req):
            return _err(422, "AsyncRequired", "this plan requires accepts_incomplete=true")
        inst.plan_id = new_plan
        if "parameters" in body:
            inst.parameters = body["parameters"]
        if was_async:
            inst.op = self._new_op("update")
            return 202, {"operation": inst.op.id}, {}
        return 200, {}, {}

    def _deprovision(self, iid: str, req: RecordedRequest) -> Reply:
        if not req.query.get("service_id") or not req.query.get("plan_id"):
            return _err(400, None, "service_id and plan_id are required")
        inst = self.instances.get(iid)
        if inst is None:
            return 410, {}, {}
        if self._busy(inst.op) and inst.op is not None and inst.op.kind != "deprovision":
            return _err(422, "ConcurrencyError", "another operation is in progress")
        if self._is_async(inst.plan_id):
            if not self._incomplete(req):
                return _err(422, "AsyncRequired", "this plan requires accepts_incomplete=true")
            if inst.op is None or inst.op.kind != "deprovision" or inst.op.state != "in progress":
                inst.op = self._new_op("deprovision")
            return 202, {"operation": inst.op.id}, {}
        del self.instances[iid]
        return 200, {}, {}

    def _get_instance(self, iid: str, req: RecordedRequest) -> Reply:
        inst = self.instances.get(iid)
        if inst is None or not inst.ready:
            return _err(404, None, "not found")
        if self._busy(inst.op) and inst.op is not None and inst.op.kind == "update":
            return _err(422, "ConcurrencyError", "instance is being updated")
        return (
            200,
            {
                "service_id": inst.service_id,
                "plan_id": inst.plan_id,
                "dashboard_url": inst.dashboard_url,
                "parameters": inst.parameters,
            },
            {},
        )

    def _advance(self, op: _Op) -> None:
        if op.state == "in progress":
            op.remaining -= 1
            if op.remaining <= 0:
                op.state = "succeeded"

    def _lo_reply(self, op: _Op) -> Reply:
        headers = {}
        if op.state == "in progress" and self.poll_retry_after is not None:
            # "1,2,3" varies the value per operation (benchmarks).
            choices = self.poll_retry_after.split(",")
            headers["Retry-After"] = choices[op.seq % len(choices)].strip()
        body = {"state": op.state, "description": op.description or f"{op.kind} {op.state}"}
        return 200, body, headers

    def _instance_last_operation(self, iid: str, req: RecordedRequest) -> Reply:
        inst = self.instances.get(iid)
        if inst is None:
            return 410, {}, {}
        op = inst.op
        if op is None:
            return 200, {"state": "succeeded"}, {}
        self._advance(op)
        if op.state == "succeeded":
            if op.kind == "provision":
                inst.ready = True
            if op.kind == "deprovision":
                del self.instances[iid]
        return self._lo_reply(op)

    def _bind(self, iid: str, bid: str, req: RecordedRequest) -> Reply:
        body = req.body if isinstance(req.body, dict) else None
        if body is None or not body.get("service_id") or not body.get("plan_id"):
            return _err(400, None, "service_id and plan_id are required")
        inst = self.instances.get(iid)
        if inst is None or not inst.ready:
            return _err(422, "ConcurrencyError", "instance is not ready")
        params = body.get("parameters") or {}
        existing = self.bindings.get((iid, bid))
        if existing is not None:
            if existing.parameters != params:
                return _err(409, None, "binding exists with different parameters")
            if self._busy(existing.op) and existing.op is not None:
                return 202, {"operation": existing.op.id}, {}
            return 200, {"credentials": existing.credentials}, {}
        limit = self.max_bindings_per_instance
        if limit is not None and sum(1 for i, _ in self.bindings if i == iid) >= limit:
            return _err(409, None, f"instance {iid} allows {limit} binding(s)")
        creds = {"uri": f"db://127.0.0.1/{iid}", "username": f"u-{bid}", "password": f"pw-{bid}"}
        binding = _Binding(body["service_id"], body["plan_id"], params, creds)
        if self._is_async(inst.plan_id):
            if not self._incomplete(req):
                return _err(422, "AsyncRequired", "this plan requires accepts_incomplete=true")
            binding.op, binding.ready = self._new_op("bind"), False
            self.bindings[(iid, bid)] = binding
            return 202, {"operation": binding.op.id}, {}
        self.bindings[(iid, bid)] = binding
        return 201, {"credentials": creds}, {}

    def _unbind(self, iid: str, bid: str, req: RecordedRequest) -> Reply:
        if not req.query.get("service_id") or not req.query.get("plan_id"):
            return _err(400, None, "service_id and plan_id are required")
        binding = self.bindings.get((iid, bid))
        if binding is None:
            return 410, {}, {}
        inst = self.instances.get(iid)
        if inst is not None and self._is_async(inst.plan_id):
            if not self._incomplete(req):
                return _err(422, "AsyncRequired", "this plan requires accepts_incomplete=true")
            if binding.op is None or binding.op.kind != "unbind":
                binding.op = self._new_op("unbind")
            return 202, {"operation": binding.op.id}, {}
        del self.bindings[(iid, bid)]
        return 200, {}, {}

    def _get_binding(self, iid: str, bid: str) -> Reply:
        binding = self.bindings.get((iid, bid))
        if binding is None or not binding.ready:
            return _err(404, None, "not found")
        return 200, {"credentials": binding.credentials, "parameters": binding.parameters}, {}

    def _binding_last_operation(self, iid: str, bid: str, req: RecordedRequest) -> Reply:
        binding = self.bindings.get((iid, bid))
        if binding is None:
            return 410, {}, {}
        op = binding.op
        if op is None:
            return 200, {"state": "succeeded"}, {}
        self._advance(op)
        if op.state == "succeeded":
            if op.kind == "bind":
                binding.ready = True
            if op.kind == "unbind":
                del self.bindings[(iid, bid)]
        return self._lo_reply(op)


def _encode(body: Any) -> tuple[bytes, str]:
    if body is None:
        return b"", "application/json"
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode(), "text/plain; charset=utf-8"
    return json.dumps(body).encode(), "application/json"


class _Server(ThreadingHTTPServer):
    # The backlog is fixed when the socket starts listening, so it must be a
    # class attribute; the stdlib default (5) resets bursts of connections.
    request_queue_size = 1024
    daemon_threads = True
    allow_reuse_address = True


class _Handler(BaseHTTPRequestHandler):
    owner: ProgrammableBroker
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server_version = "ProgrammableBroker/1"

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        pass

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        req = RecordedRequest(
            method=self.command,
            path=parts.path,
            raw_query=parts.query,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
            received_at=time.monotonic(),
            peer=(str(self.client_address[0]), int(self.client_address[1])),
        )
        owner = self.owner
        entry = owner._record(req)
        # The request stops counting as "in flight" before any byte of the
        # answer is written: once the client has the answer it may send the
        # next request, which must not overlap this one in peak_in_flight.
        reply: tuple[int, Any, dict[str, str]] | None = None
        try:
            if entry is None:
                reply = owner.default_reply(req)
            else:
                if entry.delay:
                    owner.wait_stop(entry.delay)
                if entry.hold is not None:
                    owner.wait_released(entry.hold)
                if entry.hang:
                    owner.wait_stop(owner.hang_seconds)
                    self.close_connection = True
                elif entry.drop:
                    self.close_connection = True
                else:
                    reply = (entry.status, entry.body, entry.headers)
        finally:
            owner._done()
        if reply is not None:
            self._reply(*reply)

    def _reply(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data, ctype = _encode(payload)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        rid = self.headers.get("X-Broker-API-Request-Identity")
        if rid:
            self.send_header("X-Broker-API-Request-Identity", rid)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _handle


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Programmable OSB test broker")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--async-polls", type=int, default=2)
    parser.add_argument(
        "--retry-after",
        default=None,
        help="Retry-After on in-progress polls; a comma list varies it per operation",
    )
    args = parser.parse_args(argv)
    broker = ProgrammableBroker(
        port=args.port, async_polls=args.async_polls, poll_retry_after=args.retry_after
    )
    broker.start()
    print(f"READY {broker.url}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
