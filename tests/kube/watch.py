"""Watch semantics over the store's event log, independent of HTTP.

A watch either starts from the current state (synthetic ADDED events, when no resourceVersion or
"0" is given) or replays the log after a resourceVersion; a version older than the log reaches is
answered with a 410 ``Expired`` ERROR event, as after an etcd compaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.kube import errors
from tests.kube.errors import ApiError, bad_request
from tests.kube.resources import ResourceType
from tests.kube.store import Event, Obj, Store

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Scope:
    """What one watcher sees: a type, optionally one namespace, and a selector."""

    rt: ResourceType
    namespace: str | None
    match: Callable[[Obj], bool]


def start(store: Store, scope: Scope, rv_param: str) -> tuple[list[dict[str, Any]], int]:
    """Initial events and the resourceVersion to continue after."""
    with store.cond:
        if rv_param in ("", "0"):
            items, rv = store.list_objects(scope.rt, scope.namespace, scope.match)
            return [{"type": "ADDED", "object": o} for o in items], rv
    if not rv_param.isdigit():
        raise bad_request(f'invalid resource version "{rv_param}"')
    return [], int(rv_param)


def translate(event: Event, scope: Scope) -> dict[str, Any] | None:
    """Filter one logged event for a watcher; objects entering or leaving a selector's scope are
    reported as ADDED/DELETED, as the apiserver's watch cache does."""
    if event.key != scope.rt.key:
        return None
    if scope.namespace is not None and event.namespace != scope.namespace:
        return None
    now_in = scope.match(event.obj)
    was_in = event.old is not None and scope.match(event.old)
    kind = event.type
    if kind == "MODIFIED":
        if now_in and not was_in:
            kind = "ADDED"
        elif was_in and not now_in:
            kind = "DELETED"
        elif not now_in:
            return None
    elif kind == "DELETED":
        if not (was_in or now_in):
            return None
    elif not now_in:
        return None
    obj = event.obj
    if obj.get("apiVersion") != scope.rt.api_version:
        obj = {**obj, "apiVersion": scope.rt.api_version}
    return {"type": kind, "object": obj}


#: Seconds between checks for a watch client that hung up; a test waits this long to see it.
IDLE_CHECK = 0.1


def follow(store: Store, scope: Scope, after: int, deadline: float | None, bookmarks: bool,
           emit: Emit, client_gone: Callable[[], bool] = lambda: False) -> None:
    """Emit events after ``after`` until the deadline passes, the store closes or the client
    hangs up (checked every :data:`IDLE_CHECK` seconds while idle). Writing happens outside
    the lock: stored objects are immutable, so the event list is safe to use."""
    while True:
        too_old: ApiError | None = None
        batch: list[Event] = []
        with store.cond:
            while True:
                if after < store.compacted_rv:
                    too_old = errors.expired(
                        f"too old resource version: {after} ({store.compacted_rv})")
                    break
                batch = store.events_after(after)
                remaining = None if deadline is None else deadline - time.monotonic()
                if batch or store.closed or (remaining is not None and remaining <= 0):
                    break
                woken = store.cond.wait(
                    timeout=IDLE_CHECK if remaining is None else min(remaining, IDLE_CHECK))
                if not woken and client_gone():
                    return
            closed = store.closed
        if too_old is not None:
            emit({"type": "ERROR", "object": too_old.status()})
            return
        for event in batch:
            line = translate(event, scope)
            if line is not None:
                emit(line)
        if batch:
            after = batch[-1].rv
        timed_out = deadline is not None and time.monotonic() >= deadline
        if closed or timed_out:
            if timed_out and bookmarks:
                emit({"type": "BOOKMARK", "object": {
                    "kind": scope.rt.kind, "apiVersion": scope.rt.api_version,
                    "metadata": {"resourceVersion": str(after)}}})
            return
