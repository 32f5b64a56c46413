"""A small, real OSB broker for the catalogctl quickstart: a cloud message-queue service.

It is meant to be read as well as run.  It shows, with nothing but the standard
library and ``jsonschema`` (already a catalogctl dependency), what a broker on
the other side of catalogctl does:

* ``GET /v2/catalog`` publishes ``cloud-queue`` with plans ``standard`` and
  ``premium`` (``plan_updateable``, ``instances_retrievable``,
  ``bindings_retrievable``) and JSON Schemas for create, update and bind;
* provisioning and deprovisioning are asynchronous (``202`` + ``operation``) and
  take ``--provision-seconds`` (default 3 s); ``last_operation`` answers with a
  ``Retry-After`` header while the work is in progress;
* bindings are synchronous; their credentials hold ``topic``, ``endpoint`` and
  ``key.json``, a service-account style JSON document *as a string*, ready to be
  mounted as a file;
* every request needs HTTP basic auth (``DEMO_BROKER_USERNAME`` /
  ``DEMO_BROKER_PASSWORD``, defaults ``demo`` / ``demo-password``) and an
  ``X-Broker-API-Version`` header of at least 2.13.

State lives in memory only; stop the process and everything is forgotten.
Requests are logged to stderr as method, path, status and request id: never
headers or bodies, which carry credentials.

Run::

    python -m examples.demo_broker --port 18089
    python examples/demo_broker/broker.py --port 18089

It prints ``READY http://127.0.0.1:<port>`` when it accepts requests and exits
cleanly on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

log = logging.getLogger("demo_broker")

SERVICE_ID = "3f9a3d4e-6c1b-4bb8-9d0e-5a7c2b1e8f01"
STANDARD_PLAN_ID = "3f9a3d4e-6c1b-4bb8-9d0e-5a7c2b1e8f02"
PREMIUM_PLAN_ID = "3f9a3d4e-6c1b-4bb8-9d0e-5a7c2b1e8f03"

_DRAFT4 = "http://json-schema.org/draft-04/schema#"


def _create_schema(max_hours: int) -> dict[str, Any]:
    return {
        "$schema": _DRAFT4,
        "type": "object",
        "properties": {
            "topic": {
                "type": "string",
                "pattern": "^[a-z][a-z0-9-]{2,48}$",
                "description": "Topic name: lower-case letters, digits and dashes",
            },
            "retentionHours": {"type": "integer", "minimum": 1, "maximum": max_hours,
                               "default": 24},
        },
        "required": ["topic"],
        "additionalProperties": False,
    }


def _update_schema(max_hours: int) -> dict[str, Any]:
    # The topic is fixed at creation; only retention can change in place.
    return {
        "$schema": _DRAFT4,
        "type": "object",
        "properties": {"retentionHours": {"type": ["integer", "null"], "minimum": 1,
                                          "maximum": max_hours}},
        "additionalProperties": False,
    }


BIND_SCHEMA: dict[str, Any] = {
    "$schema": _DRAFT4,
    "type": "object",
    "properties": {"role": {"type": "string", "enum": ["publisher", "subscriber"]}},
    "additionalProperties": False,
}

PLAN_LIMITS = {STANDARD_PLAN_ID: 72, PREMIUM_PLAN_ID: 720}


def catalog() -> dict[str, Any]:
    """The catalog this broker serves."""
    def plan(plan_id: str, name: str, description: str, free: bool,
             extra: dict[str, Any]) -> dict[str, Any]:
        hours = PLAN_LIMITS[plan_id]
        return {
            "id": plan_id, "name": name, "description": description, "free": free,
            "schemas": {
                "service_instance": {"create": {"parameters": _create_schema(hours)},
                                     "update": {"parameters": _update_schema(hours)}},
                "service_binding": {"create": {"parameters": BIND_SCHEMA}},
            },
            **extra,
        }

    return {"services": [{
        "id": SERVICE_ID,
        "name": "cloud-queue",
        "description": "A managed message queue (demo)",
        "bindable": True,
        "plan_updateable": True,
        "instances_retrievable": True,
        "bindings_retrievable": True,
        "tags": ["queue", "messaging", "demo"],
        "metadata": {"displayName": "Cloud Queue (demo)"},
        "plans": [
            plan(STANDARD_PLAN_ID, "standard", "Up to 72 hours of retention", True, {}),
            plan(PREMIUM_PLAN_ID, "premium", "Up to 30 days of retention", False,
                 {"maintenance_info": {"version": "1.4.0",
                                       "description": "Queue engine 1.4"}}),
        ],
    }]}


class BrokerError(Exception):
    """An OSB error response: status, optional ``error`` code and a description."""

    def __init__(self, status: HTTPStatus, description: str, error: str | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.error = error

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"description": self.description}
        if self.error:
            body["error"] = self.error
        return body


@dataclass
class Instance:
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    state: str  # provisioning | ready | deprovisioning
    operation: str
    done_at: float


@dataclass
class BindingRecord:
    instance_id: str
    parameters: dict[str, Any]
    credentials: dict[str, Any]


@dataclass
class DemoState:
    """In-memory broker state; ``gone`` remembers finished deprovisions for ``410``."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    instances: dict[str, Instance] = field(default_factory=dict)
    bindings: dict[tuple[str, str], BindingRecord] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)


def _validate(schema: dict[str, Any], params: dict[str, Any]) -> None:
    validator = jsonschema.Draft4Validator(schema)
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.path)))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "parameters"
        raise BrokerError(HTTPStatus.BAD_REQUEST, f"invalid parameters: {where}: {first.message}",
                          "InvalidParameters")


class DemoBroker:
    """The broker logic, independent of HTTP so the handler stays a thin adapter."""

    def __init__(self, *, provision_seconds: float = 3.0, hostname: str = "127.0.0.1") -> None:
        self.provision_seconds = provision_seconds
        self.hostname = hostname
        self.state = DemoState()

    def _settle(self, now: float) -> None:
        for iid, inst in list(self.state.instances.items()):
            if inst.state == "provisioning" and now >= inst.done_at:
                inst.state = "ready"
            elif inst.state == "deprovisioning" and now >= inst.done_at:
                del self.state.instances[iid]
                self.state.gone.add(iid)

    # -- instances

    def provision(self, iid: str, body: dict[str, Any], accepts_incomplete: bool
                  ) -> tuple[HTTPStatus, dict[str, Any]]:
        service_id, plan_id = body.get("service_id"), body.get("plan_id")
        if service_id != SERVICE_ID or plan_id not in PLAN_LIMITS:
            raise BrokerError(HTTPStatus.BAD_REQUEST, "unknown service_id or plan_id")
        if not accepts_incomplete:
            raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                              "This service plan requires client support for asynchronous "
                              "service operations.", "AsyncRequired")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise BrokerError(HTTPStatus.BAD_REQUEST, "parameters must be an object")
        now = time.monotonic()
        with self.state.lock:
            self._settle(now)
            existing = self.state.instances.get(iid)
            dashboard = {"dashboard_url": f"https://console.demo.invalid/queues/{iid}"}
            if existing is not None:
                if (existing.plan_id, existing.parameters) != (plan_id, params):
                    raise BrokerError(HTTPStatus.CONFLICT,
                                      "an instance with this id exists with other attributes")
                if existing.state == "provisioning":
                    return HTTPStatus.ACCEPTED, {**dashboard, "operation": existing.operation}
                return HTTPStatus.OK, dashboard
            _validate(_create_schema(PLAN_LIMITS[plan_id]), params)
            operation = f"provision:{secrets.token_hex(6)}"
            self.state.instances[iid] = Instance(service_id, plan_id, dict(params),
                                                 "provisioning", operation,
                                                 now + self.provision_seconds)
            self.state.gone.discard(iid)
            return HTTPStatus.ACCEPTED, {**dashboard, "operation": operation}

    def update(self, iid: str, body: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        with self.state.lock:
            self._settle(time.monotonic())
            inst = self.state.instances.get(iid)
            if inst is None:
                raise BrokerError(HTTPStatus.BAD_REQUEST, "no such instance")
            if inst.state != "ready":
                raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                                  "another operation is in progress", "ConcurrencyError")
            plan_id = body.get("plan_id") or inst.plan_id
            if plan_id not in PLAN_LIMITS:
                raise BrokerError(HTTPStatus.BAD_REQUEST, "unknown plan_id")
            params = body.get("parameters")
            merged = dict(inst.parameters)
            if params is not None:
                if not isinstance(params, dict):
                    raise BrokerError(HTTPStatus.BAD_REQUEST, "parameters must be an object")
                _validate(_update_schema(PLAN_LIMITS[plan_id]), params)
                for key, value in params.items():
                    if value is None:
                        merged.pop(key, None)  # null removes a setting (back to default)
                    else:
                        merged[key] = value
            hours = merged.get("retentionHours", 24)
            if hours > PLAN_LIMITS[plan_id]:
                raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                                  f"retentionHours {hours} exceeds the limit of the target plan")
            inst.plan_id, inst.parameters = plan_id, merged
            return HTTPStatus.OK, {}

    def deprovision(self, iid: str, query: dict[str, str], accepts_incomplete: bool
                    ) -> tuple[HTTPStatus, dict[str, Any]]:
        if not query.get("service_id") or not query.get("plan_id"):
            raise BrokerError(HTTPStatus.BAD_REQUEST, "service_id and plan_id are required")
        with self.state.lock:
            self._settle(time.monotonic())
            inst = self.state.instances.get(iid)
            if inst is None:
                return HTTPStatus.GONE, {}
            if not accepts_incomplete:
                raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                                  "Deprovisioning is asynchronous.", "AsyncRequired")
            if any(b.instance_id == iid for b in self.state.bindings.values()):
                raise BrokerError(HTTPStatus.BAD_REQUEST, "the instance still has bindings")
            if inst.state == "provisioning":
                raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                                  "provisioning is still in progress", "ConcurrencyError")
            if inst.state != "deprovisioning":
                inst.state = "deprovisioning"
                inst.operation = f"deprovision:{secrets.token_hex(6)}"
                inst.done_at = time.monotonic() + self.provision_seconds
            return HTTPStatus.ACCEPTED, {"operation": inst.operation}

    def fetch_instance(self, iid: str) -> tuple[HTTPStatus, dict[str, Any]]:
        with self.state.lock:
            self._settle(time.monotonic())
            inst = self.state.instances.get(iid)
            if inst is None or inst.state == "provisioning":
                raise BrokerError(HTTPStatus.NOT_FOUND, "no such instance (or still provisioning)")
            return HTTPStatus.OK, {"service_id": inst.service_id, "plan_id": inst.plan_id,
                                   "parameters": dict(inst.parameters),
                                   "dashboard_url": f"https://console.demo.invalid/queues/{iid}"}

    def last_operation(self, iid: str, operation: str | None
                       ) -> tuple[HTTPStatus, dict[str, Any], float | None]:
        """Returns status, body and the seconds to advertise in ``Retry-After``."""
        now = time.monotonic()
        with self.state.lock:
            self._settle(now)
            inst = self.state.instances.get(iid)
            if inst is None:
                if iid in self.state.gone:
                    return HTTPStatus.GONE, {}, None
                raise BrokerError(HTTPStatus.NOT_FOUND, "no such instance")
            if operation and operation != inst.operation:
                return HTTPStatus.OK, {"state": "succeeded",
                                       "description": "operation already finished"}, None
            if inst.state == "ready":
                return HTTPStatus.OK, {"state": "succeeded", "description": "queue ready"}, None
            remaining = max(inst.done_at - now, 0.0)
            what = "creating" if inst.state == "provisioning" else "deleting"
            return (HTTPStatus.OK,
                    {"state": "in progress", "description": f"{what} the queue"},
                    remaining)

    # -- bindings

    def _credentials(self, iid: str, bid: str, topic: str, role: str) -> dict[str, Any]:
        private = base64.b64encode(secrets.token_bytes(96)).decode()
        key = {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": secrets.token_hex(20),
            "private_key": f"-----BEGIN PRIVATE KEY-----\n{private}\n-----END PRIVATE KEY-----\n",
            "client_email": f"queue-{bid[:8]}@demo-project.iam.demo.invalid",
            "client_id": str(int(hashlib.sha256(bid.encode()).hexdigest()[:15], 16)),
            "token_uri": "https://oauth2.demo.invalid/token",
        }
        return {
            "topic": topic,
            "endpoint": f"https://{self.hostname}.queue.demo.invalid/v1/topics/{topic}",
            "role": role,
            "key.json": json.dumps(key, indent=2),
        }

    def bind(self, iid: str, bid: str, body: dict[str, Any]) -> tuple[HTTPStatus, dict[str, Any]]:
        if body.get("service_id") != SERVICE_ID or body.get("plan_id") not in PLAN_LIMITS:
            raise BrokerError(HTTPStatus.BAD_REQUEST, "unknown service_id or plan_id")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise BrokerError(HTTPStatus.BAD_REQUEST, "parameters must be an object")
        with self.state.lock:
            self._settle(time.monotonic())
            inst = self.state.instances.get(iid)
            if inst is None:
                raise BrokerError(HTTPStatus.BAD_REQUEST, "no such instance")
            if inst.state != "ready":
                raise BrokerError(HTTPStatus.UNPROCESSABLE_ENTITY,
                                  "the instance is not ready", "ConcurrencyError")
            existing = self.state.bindings.get((iid, bid))
            if existing is not None:
                if existing.parameters != params:
                    raise BrokerError(HTTPStatus.CONFLICT,
                                      "a binding with this id exists with other parameters")
                return HTTPStatus.OK, {"credentials": existing.credentials}
            _validate(BIND_SCHEMA, params)
            creds = self._credentials(iid, bid, inst.parameters["topic"],
                                      params.get("role", "publisher"))
            self.state.bindings[(iid, bid)] = BindingRecord(iid, dict(params), creds)
            return HTTPStatus.CREATED, {"credentials": creds}

    def fetch_binding(self, iid: str, bid: str) -> tuple[HTTPStatus, dict[str, Any]]:
        with self.state.lock:
            record = self.state.bindings.get((iid, bid))
            if record is None:
                raise BrokerError(HTTPStatus.NOT_FOUND, "no such binding")
            return HTTPStatus.OK, {"credentials": record.credentials,
                                   "parameters": dict(record.parameters)}

    def unbind(self, iid: str, bid: str, query: dict[str, str]
               ) -> tuple[HTTPStatus, dict[str, Any]]:
        if not query.get("service_id") or not query.get("plan_id"):
            raise BrokerError(HTTPStatus.BAD_REQUEST, "service_id and plan_id are required")
        with self.state.lock:
            if self.state.bindings.pop((iid, bid), None) is None:
                return HTTPStatus.GONE, {}
            return HTTPStatus.OK, {}

    def binding_last_operation(self, iid: str, bid: str) -> tuple[HTTPStatus, dict[str, Any]]:
        with self.state.lock:
            if (iid, bid) in self.state.bindings:
                return HTTPStatus.OK, {"state": "succeeded"}
            return HTTPStatus.GONE, {}


_INSTANCE = re.compile(r"^/v2/service_instances/([^/]+)$")
_INSTANCE_OP = re.compile(r"^/v2/service_instances/([^/]+)/last_operation$")
_BINDING = re.compile(r"^/v2/service_instances/([^/]+)/service_bindings/([^/]+)$")
_BINDING_OP = re.compile(r"^/v2/service_instances/([^/]+)/service_bindings/([^/]+)/last_operation$")


def _make_handler(broker: DemoBroker, username: str, password: str) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        server_version = "catalogctl-demo-broker/1"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # replaced by _log below, which never prints headers or bodies

        def _log(self, status: int) -> None:
            request_id = self.headers.get("X-Broker-API-Request-Identity", "-")
            log.info("%s %s -> %d (request %s)", self.command, urlsplit(self.path).path,
                     status, request_id)

        def _send(self, status: int, body: dict[str, Any],
                  headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self._log(status)

        def _read(self) -> bytes:
            # Always drain the body, even for requests we reject, so a kept-alive
            # connection stays in sync.
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""

        @staticmethod
        def _body(raw: bytes) -> dict[str, Any]:
            if not raw:
                return {}
            try:
                body = json.loads(raw)
            except ValueError:
                raise BrokerError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
            if not isinstance(body, dict):
                raise BrokerError(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
            return body

        def _check(self) -> None:
            supplied = self.headers.get("Authorization", "")
            if not hmac.compare_digest(supplied.encode(), expected.encode()):
                raise BrokerError(HTTPStatus.UNAUTHORIZED, "authentication required")
            version = self.headers.get("X-Broker-API-Version")
            if not version:
                raise BrokerError(HTTPStatus.BAD_REQUEST, "X-Broker-API-Version is required")
            match = re.match(r"^(\d+)\.(\d+)$", version.strip())
            if not match or int(match[1]) != 2 or int(match[2]) < 13:
                raise BrokerError(HTTPStatus.PRECONDITION_FAILED,
                                  f"API version {version!r} is not supported; use 2.13 or later")

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            incomplete = query.get("accepts_incomplete") == "true"
            path, method = parts.path, self.command
            raw = self._read()
            try:
                self._check()
                body = self._body(raw) if method in ("PUT", "PATCH") else {}
                headers: dict[str, str] = {}
                if path == "/v2/catalog" and method == "GET":
                    status, payload = HTTPStatus.OK, catalog()
                elif m := _INSTANCE_OP.match(path):
                    if method != "GET":
                        raise BrokerError(HTTPStatus.METHOD_NOT_ALLOWED, "use GET")
                    status, payload, retry = broker.last_operation(m[1], query.get("operation"))
                    if retry is not None:
                        headers["Retry-After"] = str(max(1, math.ceil(retry)))
                elif m := _BINDING_OP.match(path):
                    status, payload = broker.binding_last_operation(m[1], m[2])
                elif m := _BINDING.match(path):
                    if method == "PUT":
                        status, payload = broker.bind(m[1], m[2], body)
                    elif method == "GET":
                        status, payload = broker.fetch_binding(m[1], m[2])
                    elif method == "DELETE":
                        status, payload = broker.unbind(m[1], m[2], query)
                    else:
                        raise BrokerError(HTTPStatus.METHOD_NOT_ALLOWED, "unsupported method")
                elif m := _INSTANCE.match(path):
                    if method == "PUT":
                        status, payload = broker.provision(m[1], body, incomplete)
                    elif method == "PATCH":
                        status, payload = broker.update(m[1], body)
                    elif method == "DELETE":
                        status, payload = broker.deprovision(m[1], query, incomplete)
                    elif method == "GET":
                        status, payload = broker.fetch_instance(m[1])
                    else:
                        raise BrokerError(HTTPStatus.METHOD_NOT_ALLOWED, "unsupported method")
                else:
                    raise BrokerError(HTTPStatus.NOT_FOUND, "no such endpoint")
            except BrokerError as exc:
                extra = ({"WWW-Authenticate": 'Basic realm="demo-broker"'}
                         if exc.status == HTTPStatus.UNAUTHORIZED else {})
                self._send(exc.status, exc.body(), extra)
                return
            except Exception:  # a bug in the demo must not kill the server thread
                log.exception("internal error handling %s %s", method, path)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"description": "internal error"})
                return
            self._send(status, payload, headers)

        do_GET = do_PUT = do_PATCH = do_DELETE = _dispatch

    return Handler


class DemoBrokerServer:
    """The HTTP server around :class:`DemoBroker`, serving from a background thread."""

    def __init__(self, *, port: int = 18089, host: str = "127.0.0.1", username: str = "demo",
                 password: str = "demo-password", provision_seconds: float = 3.0) -> None:
        self.broker = DemoBroker(provision_seconds=provision_seconds)
        self.username, self.password = username, password
        handler = _make_handler(self.broker, username, password)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://{host}:{self.port}"
        # stop() waits for serve_forever to notice the shutdown (one poll interval).
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="demo-broker", daemon=True)

    def start(self) -> DemoBrokerServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo_broker", description="Demo OSB broker offering the cloud-queue service.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_BROKER_PORT", 18089)),
                        help="port on 127.0.0.1 (0 picks a free one; default 18089)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--provision-seconds", type=float,
                        default=float(os.environ.get("DEMO_BROKER_PROVISION_SECONDS", 3)),
                        help="how long provisioning and deprovisioning take (default 3)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s demo-broker %(message)s")
    server = DemoBrokerServer(
        port=args.port, host=args.host,
        username=os.environ.get("DEMO_BROKER_USERNAME", "demo"),
        password=os.environ.get("DEMO_BROKER_PASSWORD", "demo-password"),
        provision_seconds=args.provision_seconds)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    log.info("serving cloud-queue as user %r; provisioning takes %ss",
             server.username, args.provision_seconds)
    print(f"READY {server.url}", flush=True)
    while not stop.wait(0.2):
        pass
    log.info("shutting down")
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
