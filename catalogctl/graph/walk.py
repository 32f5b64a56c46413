"""Parallel graph walk: a node runs as soon as all its dependencies succeeded.

A failure marks every descendant skipped ("upstream failed") while independent
branches go on, which is what users of partial applies ask for (keep what
succeeded, say exactly what did not run).  Concurrency limits belong to the
caller's work function (HTTP slots), not to the walk: an OSB operation that is
only being polled must not hold a slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

N = TypeVar("N", bound=Hashable)


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
    from ``work`` are recorded, never raised, except cancellation.
    """
    result: WalkResult[N] = WalkResult()
    waiting = {node: len(graph.dependencies(node)) for node in graph.nodes}
    ready = [node for node, n in waiting.items() if n == 0]
    running: dict[asyncio.Future[Any], N] = {}

    def skip_descendants(node: N) -> None:
        for d in graph.descendants(node):
            if d not in result.skipped and d not in result.failed:
                result.skipped[d] = node
                waiting.pop(d, None)

    while ready or running:
        while ready and not (stop is not None and stop.is_set()):
            node = ready.pop(0)
            waiting.pop(node, None)
            running[asyncio.ensure_future(work(node))] = node
        if stop is not None and stop.is_set() and ready:
            # Reported once, below, with everything else still waiting.
            ready = []
        if not running:
            break
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            node = running.pop(task)
            exc = task.exception()
            if exc is not None:
                result.failed[node] = exc
                skip_descendants(node)
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
