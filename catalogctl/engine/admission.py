"""Admission of apply steps: only so many may be getting ready to send at once.

A step that talks to a broker first prepares: it builds its write-ahead
record, checks and encodes it, and waits for the journal to make it durable;
only then does it queue for a request slot.  The graph walk starts every
ready step, so an apply of a thousand instances had a thousand steps
preparing at once: the event loop spent the first ~0.1 s on write-aheads
while the steps already prepared waited for it to send their requests, and
the broker sat idle.  Every later poll and binding is scheduled from when
those first answers arrive, so that delay carried through to the end of the
run.

Admitting a few times the request parallelism bounds that burst: preparation
goes on in small groups (each one journal write) between the loop's sends
and reads, so the first requests leave after the first group.  A step stops
counting as soon as it is ready to send — its write-ahead is durable
(:meth:`Admission.let_through`, called by the engine) or it takes a request
slot (through :data:`on_slot_taken`) — when it starts waiting on something
else, such as polling an operation resumed from state, or when it ends.  It
does not count while it waits for a slot: holding places then would put a
run's bindings behind its polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from catalogctl.providers.osb.limits import on_slot_taken


class Admission:
    """A bound on steps between their start and being ready to send."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("admission limit must be at least 1")
        self._free = asyncio.Semaphore(limit)
        #: steps admitted and not yet let through (for tests and diagnostics)
        self.preparing = 0

    @asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        """Wait for a place; hold it until the step is ready to send, or ends."""
        await self._free.acquire()
        self.preparing += 1
        held = True

        def let_through() -> None:
            nonlocal held
            if held:
                held = False
                self.preparing -= 1
                self._free.release()

        token = on_slot_taken.set(let_through)
        try:
            yield
        finally:
            on_slot_taken.reset(token)
            let_through()

    @staticmethod
    def let_through() -> None:
        """The current step no longer counts: it is ready to send, or waits on something else."""
        hook = on_slot_taken.get()
        if hook is not None:
            hook()
