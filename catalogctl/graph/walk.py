"""Parallel graph walk: a node runs as soon as all its dependencies succeeded.

A failure marks every descendant skipped ("upstream failed") while independent
branches go on, which is what users of partial applies ask for (keep what
succeeded, say exactly what did not run).  Concurrency limits belong to the
caller's work function (HTTP slots), not to the walk: an OSB operation that is
only being polled must not hold a slot.

Finished tasks report themselves through a done-callback into a queue, so each
completion costs O(its dependents), where ``asyncio.wait(running,
FIRST_COMPLETED)`` would cost O(running tasks) per completion.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

N = TypeVar("N", bound=Hashable)

_NOT_STARTED: Any = object()


class Walkable(Protocol[N]):
    """What a graph must offer to be walked (ResourceGraph and StepGraph do)."""

    @property
    def nodes(self) -> list[N]: ...

    def dependencies(self, node: N) -> list[N]: ...

    def dependents(self, node: N) -> list[N]: ...

    def descendants(self, node: N) -> set[N]: ...


@dataclass
class WalkResult(Generic[N]):
    """What happened to each node of a walk."""

    succeeded: list[N] = field(default_factory=list)
    failed: dict[N, BaseException] = field(default_factory=dict)
    #: node -> the failed upstream node that caused the skip
    skipped: dict[N, N] = field(default_factory=dict)
    #: nodes never started because the walk was stopped
    not_started: list[N] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and not self.not_started


async def walk(
    graph: Walkable[N],
    work: Callable[[N], Awaitable[Any]],
    *,
    stop: asyncio.Event | None = None,
) -> WalkResult[N]:
    """Run ``work`` on every node in dependency order, in parallel where possible.

    When ``stop`` is set, no new node starts; running ones finish.  Exceptions
    from ``work`` are recorded, never raised, except cancellation.  A node
    counts as started when ``work`` begins, so one scheduled in the same loop
    turn as the stop is reported as not started.
    """
    result: WalkResult[N] = WalkResult()
    waiting = {node: len(graph.dependencies(node)) for node in graph.nodes}
    ready = deque(node for node, n in waiting.items() if n == 0)
    running: dict[asyncio.Future[Any], N] = {}
    finished: deque[asyncio.Future[Any]] = deque()
    wake = asyncio.Event()

    def on_done(task: asyncio.Future[Any]) -> None:
        finished.append(task)
        wake.set()

    def stopped() -> bool:
        return stop is not None and stop.is_set()

    async def start(node: N) -> Any:
        if stopped():
            return _NOT_STARTED
        await work(node)
        return None

    def skip_descendants(node: N) -> None:
        for d in graph.descendants(node):
            if d not in result.skipped and d not in result.failed:
                result.skipped[d] = node
                waiting.pop(d, None)

    while ready or running:
        while ready and not stopped():
            node = ready.popleft()
            waiting.pop(node, None)
            task = asyncio.ensure_future(start(node))
            running[task] = node
            task.add_done_callback(on_done)
        if stopped() and ready:
            # Reported once, below, with everything else still waiting.
            ready.clear()
        if not running:
            break
        await wake.wait()
        wake.clear()
        while finished:
            done = finished.popleft()
            node = running.pop(done)
            exc = done.exception()
            if exc is not None:
                result.failed[node] = exc
                skip_descendants(node)
                continue
            if done.result() is _NOT_STARTED:
                result.not_started.append(node)
                continue
            result.succeeded.append(node)
            for child in graph.dependents(node):
                if child in waiting:
                    waiting[child] -= 1
                    if waiting[child] == 0:
                        ready.append(child)
    # Whatever still waits never started: the walk was stopped, or (a graph
    # that was not checked for cycles) its dependencies can never all succeed.
    # Either way it is reported, so ``ok`` is never true for work left undone.
    for node in list(waiting):
        if node not in result.skipped:
            result.not_started.append(node)
    return result
