"""The cyclic garbage collector during an apply: paused, with a periodic young sweep.

An apply keeps tens of thousands of objects alive at once (a task, coroutine
and futures per started step, the journal's records), and the collector's
automatic runs rescan them as they age: in an apply of 1,000 instances and
1,000 bindings it ran ~300 times for ~0.3 s in all, two full collections of
~50 ms each among them, every one a pause of the event loop with sixteen
broker answers waiting to be read.  Those runs freed almost nothing — the
walk's objects are acyclic and reference counting frees them — so the walk
runs with automatic collection off.

Cycles can still arise (an exception kept with its traceback, a library's
internals), so a long apply does not grow without bound: every ``interval``
seconds the young generations are collected — a scan of what was allocated
since the last one and is still alive, not of the whole heap.  The previous
setting is restored when the apply ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

__all__ = ["cycle_collection_paused"]


@contextlib.asynccontextmanager
async def cycle_collection_paused(interval: float = 10.0) -> AsyncIterator[None]:
    """Run the body with automatic cyclic collection off and a young sweep every ``interval`` s."""
    if not gc.isenabled():  # someone above already manages it
        yield
        return
    loop = asyncio.get_running_loop()
    handle: asyncio.TimerHandle | None = None

    def sweep() -> None:
        nonlocal handle
        gc.collect(1)
        handle = loop.call_later(interval, sweep)

    gc.disable()
    handle = loop.call_later(interval, sweep)
    try:
        yield
    finally:
        handle.cancel()
        gc.enable()
