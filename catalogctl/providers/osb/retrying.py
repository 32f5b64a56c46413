"""Retrying broker requests inside one run, as a platform does.

Two rules, both on outcome values (the client never raises):

* **Transient failures** — no connection, a timeout, a connection dropped
  after sending, ``408``, ``429`` and ``5xx`` — are re-sent with exponential
  backoff and full jitter (a delay drawn uniformly from ``[0, min(cap,
  initial * 2**n))``, so many requests failing together do not come back
  together), or after the broker's ``Retry-After`` when it sends one
  (clamped).  At most :attr:`RetryPolicy.retries` retries, and none that
  would start after :attr:`RetryPolicy.timeout` (``--retry-timeout``; ``0``
  turns retrying off).  Every other answer (400, 409, 422, 401, ...) is
  final, and so is a certificate that does not verify: repeating an
  identical request cannot change them.
* **422 ConcurrencyError** keeps its own rule (:func:`retry_on_concurrency_error`):
  the spec says "Clients MUST wait until pending requests have completed" and
  "Platforms MUST NOT perform Orphan Mitigation", so the same request is
  re-sent after a backoff and nothing is deleted.

For a create, a transient failure may have left a resource behind; the caller
passes ``before_retry``, which runs orphan mitigation when the spec's table
asks for it, and the request is then re-sent with the *same* id.

Why a small policy object instead of tenacity or stamina: the delay comes from
the outcome (``Retry-After``), the deadline and the clock are the run's
(``--retry-timeout``, the injected :class:`~catalogctl.providers.osb.poller.Clock`
that tests advance without sleeping) and so is the random source; with a
library all three would be custom callbacks and only the loop would remain.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from catalogctl.providers.osb.outcomes import (
    ConcurrencyError,
    Failed,
    Outcome,
    TimedOut,
    Unreachable,
    describe,
)
from catalogctl.providers.osb.poller import Clock, SystemClock, parse_retry_after

logger = logging.getLogger(__name__)

#: HTTP statuses worth sending again: the broker may answer differently later.
RETRYABLE_STATUSES = frozenset({408, 429})

DEFAULT_RETRY_TIMEOUT = 300.0
"""``--retry-timeout`` default: five minutes of retries per request."""


@dataclass(frozen=True)
class RetryPolicy:
    """How one run retries transient broker failures (see the module docstring).

    ``timeout`` bounds when the last retry may start, counted from the first
    attempt; ``0`` disables retries.  Defaults: 6 retries, 1 s doubling to
    30 s (full jitter), ``Retry-After`` honoured up to 120 s.
    """

    timeout: float = DEFAULT_RETRY_TIMEOUT
    retries: int = 6
    initial_backoff: float = 1.0
    max_backoff: float = 30.0
    retry_after_cap: float = 120.0
    clock: Clock = field(default_factory=SystemClock, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.timeout < 0 or self.retries < 0:
            raise ValueError("retry timeout and count must not be negative")
        if not 0 < self.initial_backoff <= self.max_backoff:
            raise ValueError("need 0 < initial_backoff <= max_backoff")

    @property
    def enabled(self) -> bool:
        return self.timeout > 0 and self.retries > 0

    def delay(self, retry: int, retry_after: str | None) -> float:
        """Seconds before retry number ``retry`` (1-based)."""
        asked = parse_retry_after(retry_after, now=self.clock.time())
        if asked is not None:
            return min(asked, self.retry_after_cap)
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** (retry - 1))
        return self.rng.uniform(0, ceiling)


def transient(outcome: Outcome) -> bool:
    """Whether the same request may get a different answer later."""
    match outcome:
        case Unreachable(lasting=lasting):
            return not lasting
        case TimedOut():
            return True
        case Failed(status=status):
            return status in RETRYABLE_STATUSES or 500 <= status < 600
        case _:
            return False


class RetryStopped(Exception):
    """The run was stopped (Ctrl-C, SIGTERM) while a request waited to be retried.

    Not a failure: the next run resumes the resource from what state recorded.
    """

    def __init__(self) -> None:
        super().__init__("interrupted while waiting to retry; the next apply resumes it")


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen, for progress output and logs."""

    retry: int
    retries: int
    delay: float
    outcome: Outcome

    def __str__(self) -> str:
        return f"retry {self.retry}/{self.retries} in {self.delay:.0f}s: {describe(self.outcome)}"


async def send_with_retries(
    send: Callable[[], Awaitable[Outcome]],
    policy: RetryPolicy,
    *,
    before_retry: Callable[[Outcome], Awaitable[None]] | None = None,
    on_retry: Callable[[RetryNotice], None] | None = None,
    stop: asyncio.Event | None = None,
) -> Outcome:
    """Send until the answer is not transient, retries run out, or the deadline passes.

    Returns the last outcome.  ``before_retry`` gets the failed outcome and
    runs before the backoff (orphan mitigation for creates); an exception it
    raises ends the retries and propagates.  ``on_retry`` is told of each retry.
    ``stop`` set before or during a backoff raises :class:`RetryStopped`: a
    stopping run does not wait out a backoff or send again.
    """
    clock = policy.clock
    deadline = clock.monotonic() + policy.timeout
    outcome = await retry_on_concurrency_error(send, sleep=clock.sleep)
    retry = 0
    while policy.enabled and retry < policy.retries and transient(outcome):
        if stop is not None and stop.is_set():
            raise RetryStopped
        retry += 1
        delay = policy.delay(retry, outcome.retry_after)
        if clock.monotonic() + delay > deadline:
            break
        notice = RetryNotice(retry, policy.retries, delay, outcome)
        logger.info("%s", notice)
        if on_retry is not None:
            on_retry(notice)
        if before_retry is not None:
            await before_retry(outcome)
        await _backoff(clock, delay, stop)
        outcome = await retry_on_concurrency_error(send, sleep=clock.sleep)
    return outcome


async def _backoff(clock: Clock, delay: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await clock.sleep(delay)
        return
    sleeping = asyncio.ensure_future(clock.sleep(delay))
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({sleeping, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeping, stopping):
            task.cancel()
    if stop.is_set():
        raise RetryStopped


async def retry_on_concurrency_error(
    send: Callable[[], Awaitable[Outcome]],
    *,
    attempts: int = 6,
    initial_backoff: float = 1.0,
    max_backoff: float = 20.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Outcome:
    """Call ``send`` until it answers something other than ConcurrencyError.

    Returns the last outcome, which is a :class:`ConcurrencyError` only when
    all ``attempts`` were refused.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    delay = initial_backoff
    outcome = await send()
    for n in range(2, attempts + 1):
        if not isinstance(outcome, ConcurrencyError):
            break
        logger.info("broker busy (ConcurrencyError); retry %d/%d in %.1fs", n, attempts, delay)
        await sleep(delay)
        delay = min(delay * 2, max_backoff)
        outcome = await send()
    return outcome
