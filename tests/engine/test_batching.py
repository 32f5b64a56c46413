"""ThreadBatches: items from many coroutines, a batch per worker-thread trip."""

from __future__ import annotations

import asyncio
import threading

import pytest

from catalogctl.engine.batching import ThreadBatches


@pytest.mark.asyncio
async def test_an_item_submitted_just_after_a_trip_ends_is_still_written() -> None:
    """The moment a drain has finished but its task's done-callbacks have not run yet."""
    batches: ThreadBatches[int, int] = ThreadBatches(lambda items: items, max_batch=8)

    async def one_after_another() -> list[int]:
        # Each submit resumes before the finished drain's callbacks run (in
        # this same task, so nothing yields in between): the next one must
        # start a new trip, not count on a drain that is over.
        return [await batches.submit(n) for n in range(20)]

    assert await asyncio.wait_for(one_after_another(), 5) == list(range(20))


@pytest.mark.asyncio
async def test_items_queued_during_a_trip_share_the_next_one() -> None:
    held = threading.Event()
    started = threading.Event()
    calls: list[list[int]] = []

    def call(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            started.set()
            assert held.wait(10)
        return [i * 10 for i in items]

    batches: ThreadBatches[int, int] = ThreadBatches(call, max_batch=3)
    first = asyncio.ensure_future(batches.submit(0))
    await asyncio.to_thread(started.wait, 10)
    rest = [asyncio.ensure_future(batches.submit(n)) for n in range(1, 6)]
    await asyncio.sleep(0)
    held.set()
    assert await asyncio.gather(first, *rest) == [0, 10, 20, 30, 40, 50]
    assert calls == [[0], [1, 2, 3], [4, 5]]  # one trip at a time, at most max_batch each


@pytest.mark.asyncio
async def test_per_item_errors_and_a_failed_call() -> None:
    def call(items: list[int]) -> list[int | Exception]:
        if 99 in items:
            raise OSError("disk full")
        return [ValueError(f"bad {i}") if i < 0 else i for i in items]

    batches: ThreadBatches[int, int] = ThreadBatches(call, max_batch=8)
    got = await asyncio.gather(batches.submit(1), batches.submit(-2), return_exceptions=True)
    assert got[0] == 1 and isinstance(got[1], ValueError)
    with pytest.raises(OSError, match="disk full"):
        await batches.submit(99)
