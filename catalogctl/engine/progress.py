"""Progress reporting for apply, in Terraform's rhythm.

``Provisioning...``, ``Still provisioning... [10s elapsed]`` every ten
seconds, ``Provisioned after 12s [id=...]``.  Lines go through a callable so
the CLI decides where they are written; nothing secret is ever passed here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

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

    @asynccontextmanager
    async def step(self, address: str, verb: str) -> AsyncIterator[dict[str, str]]:
        """Announce a step, tick while it runs, and report how it ended.

        The yielded dict lets the step add ``id`` for the closing line.
        """
        doing, done = VERBS[verb]
        start = time.monotonic()
        self.emit(f"{address}: {doing}...")
        info: dict[str, str] = {}

        async def tick() -> None:
            while True:
                await asyncio.sleep(self.interval)
                elapsed = int(time.monotonic() - start)
                self.emit(f"{address}: Still {doing.lower()}... [{elapsed}s elapsed]")

        ticker = asyncio.ensure_future(tick())
        try:
            yield info
        except BaseException:
            ticker.cancel()
            self.emit(f"{address}: {doing} failed after {int(time.monotonic() - start)}s")
            raise
        ticker.cancel()
        suffix = f" [id={info['id']}]" if "id" in info else ""
        self.emit(f"{address}: {done} after {int(time.monotonic() - start)}s{suffix}")
