"""Progress reporting for apply, in Terraform's rhythm.

``Provisioning...``, ``Still provisioning... [10s elapsed]`` every ten
seconds, ``Provisioned after 12s [id=...]``; on a terminal, a large apply
also gets a live bar under those lines.  Lines go through a callable so
the CLI decides where they are written; nothing secret is ever passed here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TextIO

#: verb -> (present participle, past participle)
VERBS = {
    "provision": ("Provisioning", "Provisioned"),
    "update": ("Updating", "Updated"),
    "deprovision": ("Deprovisioning", "Deprovisioned"),
    "bind": ("Binding", "Bound"),
    "unbind": ("Unbinding", "Unbound"),
    "write": ("Writing", "Written"),
    "delete": ("Deleting", "Deleted"),
    "map": ("Mapping", "Mapped"),
    "unmap": ("Unmapping", "Unmapped"),
    "mitigate": ("Cleaning up (orphan mitigation)", "Cleaned up"),
}


@dataclass
class Progress:
    emit: Callable[[str], None]
    interval: float = 10.0
    #: where a live bar is drawn (a TTY's stream), or None for plain lines only
    bar: TextIO | None = None
    total: int = 0
    _finished: int = 0
    _failed: int = 0
    _bar_shown: bool = False

    #: Applies smaller than this get no bar: the lines say it all.
    BAR_THRESHOLD = 20

    def _line(self, text: str) -> None:
        """Print a line above the live bar (clearing and redrawing it)."""
        if self._bar_shown and self.bar is not None:
            self.bar.write("\r\033[K")
            self.bar.flush()
            self._bar_shown = False
        self.emit(text)
        self._draw()

    def _draw(self) -> None:
        if self.bar is None or self.total < self.BAR_THRESHOLD:
            return
        width = 30
        done = min(self._finished, self.total)  # orphan mitigation adds steps
        filled = width * done // max(1, self.total)
        failed = f", {self._failed} failed" if self._failed else ""
        self.bar.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} steps done{failed}"
        )
        self.bar.flush()
        self._bar_shown = True

    def close(self) -> None:
        """Remove the bar before the closing summary."""
        if self._bar_shown and self.bar is not None:
            self.bar.write("\r\033[K")
            self.bar.flush()
            self._bar_shown = False

    @asynccontextmanager
    async def step(self, address: str, verb: str) -> AsyncIterator[dict[str, str]]:
        """Announce a step, tick while it runs, and report how it ended.

        The yielded dict lets the step add ``id`` for the closing line.
        """
        doing, done = VERBS[verb]
        start = time.monotonic()
        self._line(f"{address}: {doing}...")
        info: dict[str, str] = {}

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.interval)
                elapsed = int(time.monotonic() - start)
                self._line(f"{address}: Still {doing.lower()}... [{elapsed}s elapsed]")

        ticker = asyncio.ensure_future(tick())
        try:
            yield info
        except BaseException:
            ticker.cancel()
            self._failed += 1
            self._line(f"{address}: {doing} failed after {int(time.monotonic() - start)}s")
            raise
        ticker.cancel()
        self._finished += 1
        suffix = f" [id={info['id']}]" if "id" in info else ""
        self._line(f"{address}: {done} after {int(time.monotonic() - start)}s{suffix}")
