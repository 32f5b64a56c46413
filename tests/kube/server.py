"""HTTP front end: routing, content negotiation and the request/response cycle.

Built on the stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 keep-alive, so the synchronous
``kubernetes`` client and kubectl can both talk to it without an event loop. One request is one
thread; all state lives in :class:`~tests.kube.store.Store` behind its single lock.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tests.kube import discovery, errors, patch, scale, tables, watch
from tests.kube.errors import ApiError, bad_request
from tests.kube.hooks import FaultRule, RequestRecord
from tests.kube.resources import ResourceType
from tests.kube.selectors import parse_field_selector, parse_label_selector
from tests.kube.store import Obj, Options, Store

JSON = "application/json"
SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}


@dataclass(frozen=True)
class Route:
    """A resource URL resolved against the registry."""

    rt: ResourceType
    namespace: str | None
    name: str
    subresource: str


def _decode(raw: bytes, content_type: str) -> Any:
    """Parse a request body; bad JSON is a 400 as from the apiserver's decoder."""
    try:
        if "yaml" in content_type:
            return yaml.safe_load(raw.decode() or "null")
        return json.loads(raw or b"null")
    except (ValueError, yaml.YAMLError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _mime(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The stdlib default backlog of 5 drops bursts of concurrent connects (racing lock holders),
    # which then stall for a one-second SYN retransmit.
    request_queue_size = 128
    emulator: EmulatorServer


class Handler(BaseHTTPRequestHandler):
    """Translates HTTP requests into store calls and ApiErrors into Status responses."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus delayed ACKs
    # would add ~40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: _HTTPServer
    _record: RequestRecord  # the log entry of the request being handled

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; the request log is the place to look."""

    # --- entry points ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    # --- plumbing --------------------------------------------------------------------------------

    @property
    def emulator(self) -> EmulatorServer:
        return self.server.emulator

    @property
    def store(self) -> Store:
        return self.server.emulator.store

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        raw = self._read_body()
        content_type = self.headers.get("Content-Type", "")
        try:
            body: Any = _decode(raw, _mime(content_type)) if raw else None
        except ApiError:
            body = raw.decode(errors="replace")
        record = RequestRecord(self.command, url.path, query, content_type, body, raw)
        self.emulator.record(record)
        self._record = record
        try:
            rule = self.emulator.take_fault(self.command, url.path)
            if rule is not None:
                record.fault = True
                if rule.delay_seconds:
                    time.sleep(rule.delay_seconds)
                if rule.disconnect:
                    self.close_connection = True
                    return
                if rule.status:
                    err = rule.error()
                    retry = rule.retry_after_seconds
                    headers = {} if retry is None else {"Retry-After": str(retry)}
                    self._send_json(err.code, err.status(), headers)
                    return
            self._dispatch(url.path, query, raw, content_type)
        except ApiError as err:
            self._send_json(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # a bug in the emulator: answer like the apiserver's 500
            self._send_json(500, ApiError(500, "InternalError",
                                          f"Internal error occurred: {exc!r}", {}).status())

    def _send_json(self, code: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self._send(code, data, JSON, headers)

    def _send(self, code: int, data: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self._record.status = code
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # --- routing ---------------------------------------------------------------------------------

    def _dispatch(self, path: str, query: dict[str, str], raw: bytes, content_type: str) -> None:
        parts = [p for p in path.split("/") if p]
        path = "/" + "/".join(parts)  # the generated client asks for "/version/"
        if path in ("/healthz", "/readyz", "/livez"):
            self._send(200, b"ok", "text/plain; charset=utf-8")
            return
        if path == "/version":
            self._send_json(200, discovery.VERSION_INFO)
            return
        if self.command == "POST" and path == SSAR_PATH:
            self._access_review(raw, content_type)
            return
        doc = self._discovery(parts)
        if doc is not None:
            self._send_json(200, doc)
            return
        route = self._route(parts)
        method = self.command
        if method == "GET":
            self._get(route, query)
        elif method == "POST" and not route.name and not route.subresource:
            self._create(route, query, raw, content_type)
        elif method == "PUT" and route.name:
            self._replace(route, query, raw, content_type)
        elif method == "PATCH" and route.name:
            self._patch(route, query, raw, content_type)
        elif method == "DELETE" and route.name and not route.subresource:
            self._delete(route, query, raw, content_type)
        elif method == "DELETE" and not route.name and route.rt.plural != "namespaces":
            self._delete_collection(route, query)
        else:
            raise errors.method_not_allowed()

    def _access_review(self, raw: bytes, content_type: str) -> None:
        """``SelfSubjectAccessReview``: allowed unless a :meth:`EmulatorServer.deny` rule matches.

        Like an apiserver with ``--authorization-mode AlwaysAllow`` plus the denials a
        test sets; the review is answered, requests themselves are not checked.
        """
        review = self._body(raw, content_type)
        attrs = ((review or {}).get("spec") or {}).get("resourceAttributes") or {}
        denied = self.emulator.denied(attrs)
        review = dict(review or {})
        review["status"] = {"allowed": not denied}
        if denied:
            review["status"]["reason"] = "denied by the emulator's test rules"
        self._send_json(201, review)

    def _discovery(self, parts: list[str]) -> dict[str, Any] | None:
        reg = self.store.registry
        with self.store.cond:
            if parts == ["api"]:
                return discovery.api_versions(f"127.0.0.1:{self.emulator.port}")
            if parts == ["apis"]:
                return discovery.api_group_list(reg)
            if len(parts) == 2 and parts[0] == "api":
                return discovery.api_resource_list(reg, "", parts[1])
            if len(parts) == 2 and parts[0] == "apis":
                return discovery.api_group(reg, parts[1])
            if len(parts) == 3 and parts[0] == "apis":
                return discovery.api_resource_list(reg, parts[1], parts[2])
        return None

    def _route(self, parts: list[str]) -> Route:
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.resource_not_found()
        reg = self.store.registry
        namespace: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            candidate = reg.get(group, version, rest[2])
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        if len(rest) > 3:
            raise errors.resource_not_found()
        rt = reg.get(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if rt is None or (sub and not rt.has_subresource(sub)):
            raise errors.resource_not_found()
        if rt.namespaced and namespace is None and name:
            raise errors.resource_not_found()
        return Route(rt, namespace, name, sub)

    # --- verbs -----------------------------------------------------------------------------------

    def _options(self, route: Route, query: dict[str, str], dry_run: Any = None) -> Options:
        values = [query["dryRun"]] if "dryRun" in query else list(dry_run or [])
        for value in values:
            if value != "All":
                raise bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
        manager = query.get("fieldManager") or self.headers.get("User-Agent", "").split("/")[0]
        return Options(bool(values), manager, route.subresource)

    def _wants_table(self) -> bool:
        return "as=Table" in self.headers.get("Accept", "")

    def _get(self, route: Route, query: dict[str, str]) -> None:
        rt = route.rt
        if route.name:
            obj = self.store.get(rt, route.namespace or "", route.name)
            if route.subresource == "scale":
                self._send_json(200, scale.to_scale(obj))
            elif self._wants_table():
                self._send_json(200, tables.to_table(rt, [obj], self.store.rv))
            else:
                self._send_json(200, obj)
            return
        label = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rt)

        def match(obj: Obj) -> bool:
            return label(obj) and fields(obj)

        if query.get("watch", "").lower() in ("1", "true"):
            self._watch(route, query, match)
            return
        items, rv = self.store.list_objects(rt, route.namespace, match)
        items, cont, remaining = _paginate(items, query, rv)
        if self._wants_table():
            self._send_json(200, tables.to_table(rt, items, rv))
            return
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if cont:
            meta["continue"] = cont
            meta["remainingItemCount"] = remaining
        if not rt.custom:
            items = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in items]
        self._send_json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                              "metadata": meta, "items": items})

    def _body(self, raw: bytes, content_type: str) -> Any:
        """Decode a create/update body. A missing Content-Type means JSON (the apiserver picks
        its first supported media type), which the generated Python client relies on."""
        if _mime(content_type) not in ("", JSON, "application/yaml"):
            raise errors.unsupported_media_type([JSON, "application/yaml"])
        return _decode(raw, _mime(content_type))

    def _create(self, route: Route, query: dict[str, str], raw: bytes, content_type: str) -> None:
        body = self._body(raw, content_type)
        obj = self.store.create(route.rt, route.namespace or "", body, self._options(route, query))
        self._send_json(201, obj)

    def _replace(self, route: Route, query: dict[str, str], raw: bytes, content_type: str) -> None:
        body = self._body(raw, content_type)
        if route.subresource == "scale":
            obj, _ = self.store.patch(route.rt, route.namespace or "", route.name,
                                      lambda cur: scale.from_scale(cur, body),
                                      self._options(route, query))
            self._send_json(200, scale.to_scale(obj))
            return
        obj, created = self.store.update(route.rt, route.namespace or "", route.name, body,
                                         self._options(route, query))
        self._send_json(201 if created else 200, obj)

    def _patch(self, route: Route, query: dict[str, str], raw: bytes, content_type: str) -> None:
        rt = route.rt
        accepted = [t for t in PATCH_TYPES if not (rt.custom and PATCH_TYPES[t] == "strategic")]
        mime = _mime(content_type)
        if mime not in accepted:
            raise errors.unsupported_media_type(accepted)
        kind = PATCH_TYPES[mime]
        if kind != "apply" and "force" in query:
            raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.FieldError(
                "force", "Forbidden", "may not be specified for non-apply patch")])
        body = _decode(raw, "yaml" if kind == "apply" else JSON)
        apply_fn: Callable[[Obj], Any]
        create_body = None
        if kind == "json":
            apply_fn = lambda cur: patch.json_patch(cur, body)  # noqa: E731
        elif kind == "merge":
            if not isinstance(body, dict):
                raise bad_request("json: cannot unmarshal array into Go value of type "
                                  "map[string]interface {}")
            apply_fn = lambda cur: patch.merge_patch(cur, body)  # noqa: E731
        else:
            if not isinstance(body, dict):
                raise bad_request("the patch is not a JSON object")
            if kind == "apply":
                if not query.get("fieldManager"):
                    raise errors.invalid("PatchOptions", "meta.k8s.io", "", [errors.FieldError(
                        "fieldManager", "Required", "is required for apply patch")])
                create_body = body
            merge = patch.merge_patch if rt.custom else patch.strategic_merge_patch
            apply_fn = lambda cur: merge(cur, body)  # noqa: E731
        if route.subresource == "scale":
            on_object = apply_fn
            apply_fn = lambda cur: scale.from_scale(cur, on_object(scale.to_scale(cur)))  # noqa: E731
            create_body = None
        obj, created = self.store.patch(rt, route.namespace or "", route.name, apply_fn,
                                        self._options(route, query), create_body)
        self._send_json(201 if created else 200,
                        scale.to_scale(obj) if route.subresource == "scale" else obj)

    def _delete_options(self, raw: bytes, content_type: str) -> dict[str, Any]:
        if not raw:
            return {}
        body = _decode(raw, _mime(content_type) or JSON)
        return body if isinstance(body, dict) else {}

    def _delete(self, route: Route, query: dict[str, str], raw: bytes, content_type: str) -> None:
        rt = route.rt
        opts_body = self._delete_options(raw, content_type)
        opts = self._options(route, query, opts_body.get("dryRun"))
        pre = dict(opts_body.get("preconditions") or {})
        obj, gone = self.store.delete(rt, route.namespace or "", route.name, pre, opts.dry_run)
        if rt.returns_deleted_object or not gone:
            self._send_json(200, obj)
            return
        details = {"name": route.name, "group": rt.group, "kind": rt.plural,
                   "uid": obj["metadata"].get("uid")}
        self._send_json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Success",
                              "details": {k: v for k, v in details.items() if v}})

    def _delete_collection(self, route: Route, query: dict[str, str]) -> None:
        rt = route.rt
        label = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"), rt)
        items, rv = self.store.delete_collection(
            rt, route.namespace, lambda o: label(o) and fields(o),
            self._options(route, query).dry_run)
        self._send_json(200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": str(rv)}, "items": items})

    # --- watch -----------------------------------------------------------------------------------

    def _watch(self, route: Route, query: dict[str, str], match: Callable[[Obj], bool]) -> None:
        """Stream events as chunked JSON lines until timeoutSeconds, shutdown or disconnect."""
        scope = watch.Scope(route.rt, route.namespace, match)
        timeout = float(query.get("timeoutSeconds") or 0)
        deadline = time.monotonic() + timeout if timeout > 0 else None
        initial, after = watch.start(self.store, scope, query.get("resourceVersion", ""))
        self._record.status = 200
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.close_connection = True
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        emit = self._table_emitter(route.rt) if self._wants_table() else self._chunk
        self.emulator.watch_started(+1)
        try:
            for event in initial:
                emit(event)
            watch.follow(self.store, scope, after, deadline, bookmarks, emit, self._client_gone)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client went away
            return
        finally:
            self.emulator.watch_started(-1)

    def _client_gone(self) -> bool:
        """True once the watch client has closed its end (readable socket, zero-byte peek)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _table_emitter(self, rt: ResourceType) -> watch.Emit:
        """``kubectl get -w``: each object becomes a one-row Table; only the first event carries
        the column definitions, as from the apiserver."""
        first = True

        def emit(event: dict[str, Any]) -> None:
            nonlocal first
            if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                obj = event["object"]
                table = tables.to_table(rt, [obj], int(obj["metadata"]["resourceVersion"]))
                if not first:
                    table["columnDefinitions"] = []
                first = False
                event = {"type": event["type"], "object": table}
            self._chunk(event)

        return emit

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _paginate(items: list[Obj], query: dict[str, str], rv: int) -> tuple[list[Obj], str, int]:
    """``limit``/``continue``: the token records the last key served."""
    token = query.get("continue")
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            after = (state["ns"], state["name"])
        except (ValueError, KeyError, TypeError):
            raise bad_request("continue key is not valid") from None
        items = [o for o in items if (o["metadata"].get("namespace", ""),
                                      o["metadata"]["name"]) > after]
    limit = int(query.get("limit") or 0)
    if limit <= 0 or len(items) <= limit:
        return items, "", 0
    last = items[limit - 1]["metadata"]
    state = {"rv": rv, "ns": last.get("namespace", ""), "name": last["name"]}
    cont = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    return items[:limit], cont, len(items) - limit


class EmulatorServer:
    """The emulator on a background thread: ``start()``, use ``url``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 event_log_size: int = 10_000) -> None:
        self.store = Store(event_log_size=event_log_size)
        self.requests: list[RequestRecord] = []
        self.faults: list[FaultRule] = []
        self._denials: list[dict[str, str]] = []
        self._active_watches = 0
        self._httpd = _HTTPServer((host, port), Handler)
        self._httpd.emulator = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatorServer:
        # stop() waits for serve_forever to notice (one poll interval), in every test.
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name=f"kube-emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end watch streams and release the port. Safe to call twice."""
        self.store.close()
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    @property
    def active_watches(self) -> int:
        """Watch streams currently open; lets a test wait until its watcher is listening."""
        with self.store.cond:
            return self._active_watches

    def watch_started(self, delta: int) -> None:
        with self.store.cond:
            self._active_watches += delta

    def deny(self, verb: str = "*", resource: str = "*", namespace: str = "*",
             group: str = "*") -> None:
        """Make ``SelfSubjectAccessReview`` answer "not allowed" for matching attributes."""
        with self.store.cond:
            self._denials.append({"verb": verb, "resource": resource, "namespace": namespace,
                                  "group": group})

    def denied(self, attrs: dict[str, Any]) -> bool:
        with self.store.cond:
            return any(all(rule[k] in ("*", attrs.get(k, "")) for k in rule)
                       for rule in self._denials)

    def record(self, rec: RequestRecord) -> None:
        with self.store.cond:
            self.requests.append(rec)

    def inject_fault(self, method: str, path_regex: str, status: int, reason: str,
                     message: str, count: int = 1, *, details: dict[str, Any] | None = None,
                     retry_after_seconds: int | None = None,
                     delay_seconds: float = 0.0) -> FaultRule:
        """Answer the next ``count`` matching requests with a Status error."""
        return self._add_rule(FaultRule(method, path_regex, status, reason, message, count,
                                        details, retry_after_seconds, delay_seconds))

    def inject_delay(self, method: str, path_regex: str, seconds: float,
                     count: int = 1) -> FaultRule:
        """Serve the next ``count`` matching requests normally, but only after ``seconds``."""
        return self._add_rule(FaultRule(method, path_regex, 0, "", "", count,
                                        delay_seconds=seconds))

    def inject_disconnect(self, method: str, path_regex: str, count: int = 1) -> FaultRule:
        """Close the connection on the next ``count`` matching requests without answering."""
        return self._add_rule(FaultRule(method, path_regex, 0, "", "", count, disconnect=True))

    def _add_rule(self, rule: FaultRule) -> FaultRule:
        with self.store.cond:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self.store.cond:
            self.faults.clear()

    def take_fault(self, method: str, path: str) -> FaultRule | None:
        """Consume one use of the first matching rule, if any."""
        with self.store.cond:
            for rule in self.faults:
                if rule.matches(method, path):
                    rule.count -= 1
                    rule.hits += 1
                    return rule
        return None
