"""Items from many coroutines handed to a blocking call, a batch per worker-thread trip.

The apply's journal steps and directory Secret writes both cost one expensive
thing per call (an fsync) and much less per item, and both are made by many
concurrent steps.  Each step awaits its own item; items that arrive while a
call is in progress are gathered and go over together on the next trip, so a
thousand steps cost a few dozen calls — and a few dozen thread hand-offs, not
a thousand, each of which would take the GIL from the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["ThreadBatches"]

T = TypeVar("T")
R = TypeVar("R")


class ThreadBatches(Generic[T, R]):
    """Run ``call`` on worker threads over batches of submitted items.

    ``call`` returns one result per item, in order: a value, or an exception
    that fails that item's submitter only.  An exception escaping ``call``
    fails every submitter of the batch, and so does a wrong number of results
    (with the error ``short_answer(results, items)`` makes): a batch's waiters
    are never left waiting.  At most ``trips`` calls are in progress at once,
    each on at most ``max_batch`` items.
    """

    def __init__(
        self,
        call: Callable[[list[T]], Sequence[R | Exception]],
        *,
        max_batch: int,
        trips: int = 1,
        short_answer: Callable[[int, int], Exception] = lambda got, sent: RuntimeError(
            f"{got} results for a batch of {sent}"
        ),
    ) -> None:
        self._call = call
        self._short_answer = short_answer
        self._max_batch = max_batch
        self._trips = trips
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        #: trips in progress; counted down by the drain itself, in the same
        #: step as its last look at ``_pending``, so no item is left behind
        #: (a task's done-callbacks run a loop turn later)
        self._active = 0
        self._drains: set[asyncio.Future[None]] = set()  # references for the running tasks

    async def submit(self, item: T) -> R:
        """Queue ``item`` for the next trip and wait for its own result."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._active < self._trips:
            self._active += 1
            drain = asyncio.ensure_future(self._drain())
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self) -> None:
        try:
            await self._drain_pending()
        finally:
            self._active -= 1

    async def _drain_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            results: Sequence[R | Exception]
            try:
                results = await asyncio.to_thread(self._call, [item for item, _ in batch])
                if len(results) != len(batch):
                    raise self._short_answer(len(results), len(batch))
            except Exception as exc:  # every waiter of the batch learns why
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
