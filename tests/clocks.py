"""Clocks injected into catalogctl by tests (see :class:`catalogctl.providers.osb.poller.Clock`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SkipClock:
    """Real time plus every wait asked for, which returns at once; ``on_sleep`` sees each."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[int], None] | None = None

    def monotonic(self) -> float:
        return time.monotonic() + self.offset

    def time(self) -> float:
        return time.time() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += max(0.0, seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.sleeps))
        await asyncio.sleep(0)
