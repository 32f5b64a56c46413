"""What Ctrl-C (SIGINT) and SIGTERM do while an apply runs.

The first stops new work: requests in flight finish, their outcomes are
recorded, state is saved and the run exits 130.  Waiting for a slow broker can
take up to the broker timeout, so each further signal is acknowledged, and the
third stops waiting: the requests still in flight are abandoned.  That is safe
because every id is in the journal before its request is sent, so the next
apply resumes (polls, re-sends or cleans up) what was abandoned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

FIRST = (
    "Interrupt received: no new work starts; waiting for the requests in flight, then saving state."
)
SECOND = "Interrupt received again: stopping; press again to abandon waiting."
ABANDON = "Abandoning the requests in flight: state is saved, and the next apply resumes them."


class Interrupts:
    """A signal handler counting presses; ``abandon`` is called on the third."""

    def __init__(
        self, stop: asyncio.Event, emit: Callable[[str], None], abandon: Callable[[], object]
    ) -> None:
        self.stop = stop
        self.emit = emit
        self.abandon = abandon
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        if self.count == 1:
            self.stop.set()
            self.emit(FIRST)
        elif self.count == 2:
            self.emit(SECOND)
        elif self.count == 3:
            self.emit(ABANDON)
            self.abandon()
