"""Per-broker request limits: concurrent requests in flight and requests per second.

Concurrency is bounded on *HTTP requests*, never on operations: a slot is held
only while one request is on the wire.  An async operation that is merely
being polled therefore holds nothing between polls, so a thousand pending
provisions cannot starve the mutating requests of the same run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class TokenBucket:
    """A classic token bucket; ``acquire`` waits until one token is available.

    ``burst`` defaults to one second's worth of tokens (at least 1) so that a
    burst after an idle period cannot exceed the configured rate by much.
    """

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._rate = rate
        self._capacity = max(1.0, burst if burst is not None else rate)
        self._tokens = self._capacity
        self._now = now
        self._sleep = sleep
        self._stamp = now()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        t = self._now()
        self._tokens = min(self._capacity, self._tokens + (t - self._stamp) * self._rate)
        self._stamp = t

    async def acquire(self) -> None:
        # The lock makes waiters queue in FIFO order instead of all waking at once.
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                await self._sleep((1.0 - self._tokens) / self._rate)
                self._refill()
            self._tokens -= 1.0


class RequestLimiter:
    """Holds the per-broker semaphore and token bucket (and an optional global one)."""

    def __init__(
        self,
        *,
        max_in_flight: int | None = None,
        requests_per_second: float | None = None,
        global_slots: asyncio.Semaphore | None = None,
    ) -> None:
        self._sem = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self._bucket = TokenBucket(requests_per_second) if requests_per_second else None
        self._global = global_slots
        self.in_flight = 0
        self.peak_in_flight = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one request slot for the ``async with``: one whole exchange, body included.

        Waiters are woken in FIFO order (asyncio.Semaphore), so requests queue here
        rather than in httpx's connection pool.
        """
        if self._global is not None:
            await self._global.acquire()
        try:
            if self._sem is not None:
                await self._sem.acquire()
            try:
                if self._bucket is not None:
                    await self._bucket.acquire()
            except BaseException:
                if self._sem is not None:
                    self._sem.release()
                raise
        except BaseException:
            if self._global is not None:
                self._global.release()
            raise
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            yield
        finally:
            self.in_flight -= 1
            if self._sem is not None:
                self._sem.release()
            if self._global is not None:
                self._global.release()
