"""Progress reporting for apply, in Terraform's rhythm.

``Provisioning...``, ``Still provisioning... [10s elapsed]`` every ten
seconds, ``Provisioned after 12s [id=...]``; on a terminal, a large apply
also gets a live bar under those lines.  Lines go through a callable so
the CLI decides where they are written; nothing secret is ever passed here.

One ticker task serves every running step: a task and a timer per step (three
per binding) were a measurable share of the event loop's time in an apply of
thousands, and the loop is what sends the next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TextIO

from catalogctl.errors import CatalogctlError

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
    "wait": ("Waiting for rollouts", "Rolled out"),
}


class StepInterrupted(CatalogctlError):
    """A step stopped waiting because the run was interrupted (Ctrl-C, SIGTERM).

    Its operation is recorded in state and the next apply resumes it, so it is
    reported as interrupted, never as failed.
    """


@dataclass(slots=True, eq=False)  # identity: two steps can look alike
class _Running:
    address: str
    doing: str
    start: float
    #: when its next ``Still ...`` line is due
    due: float
    #: steps of the same resource running inside this one (orphan mitigation
    #: within a provision): while any does, this one prints no ``Still ...``
    inner: int = 0


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
    _running: dict[int, _Running] = field(default_factory=dict)
    #: the running steps of each address, so that starting one is O(1) while
    #: a thousand operations are being polled
    _by_address: dict[str, list[_Running]] = field(default_factory=dict)
    _next_token: int = 0
    _ticker: asyncio.Future[None] | None = None

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
        """Stop ticking and remove the bar before the closing summary."""
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        if self._bar_shown and self.bar is not None:
            self.bar.write("\r\033[K")
            self.bar.flush()
            self._bar_shown = False

    def note(self, address: str, text: str) -> None:
        """A line about a running step (``retry 2/6 in 4s: broker answered 503``)."""
        self._line(f"{address}: {text}")

    @asynccontextmanager
    async def step(self, address: str, verb: str) -> AsyncIterator[dict[str, str]]:
        """Announce a step, tick while it runs, and report how it ended.

        The yielded dict lets the step add ``id`` for the closing line.
        """
        doing, done = VERBS[verb]
        start = time.monotonic()
        self._line(f"{address}: {doing}...")
        info: dict[str, str] = {}
        token = self._next_token
        self._next_token += 1
        same = self._by_address.setdefault(address, [])
        outer = list(same)
        for r in outer:
            r.inner += 1
        running = _Running(address, doing, start, start + self.interval)
        self._running[token] = running
        same.append(running)
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.ensure_future(self._tick())
        try:
            yield info
        except (StepInterrupted, asyncio.CancelledError):
            self._ended(token, outer)
            elapsed = int(time.monotonic() - start)
            self._line(
                f"{address}: {doing} interrupted after {elapsed}s; the next apply resumes it"
            )
            raise
        except BaseException:
            self._ended(token, outer)
            self._failed += 1
            self._line(f"{address}: {doing} failed after {int(time.monotonic() - start)}s")
            raise
        self._ended(token, outer)
        self._finished += 1
        suffix = f" [id={info['id']}]" if "id" in info else ""
        self._line(f"{address}: {done} after {int(time.monotonic() - start)}s{suffix}")

    def _ended(self, token: int, outer: list[_Running]) -> None:
        running = self._running.pop(token, None)
        if running is not None:
            same = self._by_address[running.address]
            same.remove(running)
            if not same:
                del self._by_address[running.address]
        for r in outer:
            r.inner -= 1

    async def _tick(self) -> None:
        """Print ``Still ...`` for every step that has run another interval.

        Wakes at most once a second (or once an interval, if shorter), so a
        line is late by less than that; ends when no step is running.
        """
        granularity = min(1.0, self.interval)
        while self._running:
            await asyncio.sleep(granularity)
            now = time.monotonic()
            for step in list(self._running.values()):
                if step.due <= now:
                    step.due += self.interval
                    if step.inner:
                        continue
                    elapsed = int(now - step.start)
                    self._line(
                        f"{step.address}: Still {step.doing.lower()}... [{elapsed}s elapsed]"
                    )
