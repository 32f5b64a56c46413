"""One poll scheduler for every asynchronous OSB operation of a run.

An apply may have thousands of operations pending at once.  Instead of one
sleeping task per operation, the scheduler keeps a heap of (due time, entry)
and one loop task that wakes at the earliest due time, launches the polls
that are due (each a short-lived task holding a broker request slot only for
the HTTP request itself) and goes back to sleep.  Callers just
``await scheduler.wait(target)`` and get a :class:`PollResult`.

Interval rules:

* a ``Retry-After`` header (delta-seconds or HTTP-date) on the last answer is
  honoured, clamped to ``[min_interval, retry_after_cap]``;
* otherwise exponential backoff: ``initial_interval`` (1 s) doubling up to
  ``max_interval``.  Service Catalog capped at 20 *minutes* because a
  controller has no one waiting and polls forever; a CLI has a person (or a CI
  job) watching, so the default cap is 20 *seconds*: a finished operation is
  noticed within 20 s, and one operation costs at most 3 polls a minute;
* the deadline is the plan's ``maximum_polling_duration`` (else
  ``global_timeout``, an hour), capped by ``operation_timeout``
  (``--poll-timeout``) when one is set; the last poll is moved to the
  deadline, and an operation still not terminal then ends ``failed`` with
  reason ``"timed out"`` (the spec: "MUST be considered failed").

Answer rules (spec §Polling Last Operation):

* ``succeeded``/``failed`` are terminal and stop polling; ``failed`` carries
  ``description``, ``instance_usable`` and ``update_repeatable``;
* 410 while deleting is success (``gone``); 410 during create/update is an
  invalid answer and polling continues;
* ``400 Bad Request`` is terminal: the spec says the platform "MUST consider
  the operation failed" (so orphan mitigation follows where the table asks);
* an answer that is not a JSON object or names an unknown ``state`` is an
  error: it is logged, and :data:`MAX_INVALID_ANSWERS` of them in a row end the
  operation ``failed`` (a broker that answers garbage will not stop doing so
  within the hour the deadline would otherwise spend);
* 404, 5xx, other codes and transport errors: keep polling until the
  deadline (the spec's SHOULD).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from catalogctl.providers.osb.outcomes import (
    BadRequest,
    Done,
    Gone,
    Malformed,
    Outcome,
    PollResult,
    describe,
)

if TYPE_CHECKING:
    # Only a type here: commands served from cached catalogs never load httpx.
    from catalogctl.providers.osb.client import OSBClient

logger = logging.getLogger(__name__)

TIMED_OUT = "timed out"
INVALID_ANSWERS = "invalid answers"
BAD_REQUEST = "rejected"

MAX_INVALID_ANSWERS = 5
"""Unusable last_operation answers in a row that end an operation."""


class Clock(Protocol):
    """Time source; tests inject a fake one so backoff can be checked without waiting."""

    def monotonic(self) -> float: ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for HTTP-date ``Retry-After``)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ResourceType(StrEnum):
    INSTANCE = "instance"
    BINDING = "binding"


class OperationKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class PollProgress:
    """Reported after each ``in progress`` answer."""

    description: str
    polls: int
    elapsed: float
    next_poll_in: float


@dataclass(frozen=True)
class PollTarget:
    """One async operation to follow.

    ``plan_id`` for an update is the plan *before* the update (spec: "the ID
    of the Service Plan prior to the update MUST be used").  ``retry_after`` is
    the raw header of the 202 that started the operation, if any;
    ``elapsed_before`` is time already spent (an operation resumed after a
    crash keeps its deadline).  ``accepted_at`` is when the 202 arrived, on the
    scheduler's clock: the caller records the operation durably before it
    waits, and that write must not push the first poll (or the deadline)
    later than the broker asked for.  ``send_identity=False`` is for orphan
    mitigation, whose requests carry no originating identity.
    """

    client: OSBClient
    resource: ResourceType
    instance_id: str
    service_id: str
    plan_id: str
    operation: str | None
    kind: OperationKind
    binding_id: str | None = None
    maximum_polling_duration: float | None = None
    on_progress: Callable[[PollProgress], None] | None = None
    retry_after: str | None = None
    elapsed_before: float = 0.0
    accepted_at: float | None = None
    send_identity: bool = True

    def __post_init__(self) -> None:
        if self.resource is ResourceType.BINDING and self.binding_id is None:
            raise ValueError("a binding poll target needs binding_id")


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` if absent/unparsable.

    Accepts delta-seconds (fractions tolerated) and an HTTP-date, measured
    against the wall clock ``now``.  Dates in the past give 0.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(eq=False)
class _Entry:
    target: PollTarget
    future: asyncio.Future[PollResult]
    started: float
    deadline: float
    backoff: float
    due: float = 0.0
    polls: int = 0
    seq: int = 0
    #: unusable answers in a row (reset by any usable one)
    invalid: int = 0

    def __lt__(self, other: _Entry) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


@dataclass
class PollStats:
    polls_sent: int = 0
    operations: int = 0
    peak_pending: int = 0
    peak_in_flight: int = 0
    errors: dict[str, int] = field(default_factory=dict)


class PollScheduler:
    """Follows all async operations of a run with one heap and one loop task.

    Create one per run (inside the event loop) and ``await aclose()`` at the
    end; ``wait`` starts the loop lazily.
    """

    def __init__(
        self,
        *,
        initial_interval: float = 1.0,
        max_interval: float = 20.0,
        min_interval: float = 1.0,
        retry_after_cap: float = 300.0,
        global_timeout: float = 3600.0,
        operation_timeout: float | None = None,
        max_concurrent_polls: int = 256,
        jitter: float = 0.1,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < min_interval <= retry_after_cap:
            raise ValueError("need 0 < min_interval <= retry_after_cap")
        if not 0 < initial_interval <= max_interval:
            raise ValueError("need 0 < initial_interval <= max_interval")
        self.initial_interval = initial_interval
        self.max_interval = max_interval
        self.min_interval = min_interval
        self.retry_after_cap = retry_after_cap
        self.global_timeout = global_timeout
        self.operation_timeout = operation_timeout
        self.max_concurrent_polls = max_concurrent_polls
        self.jitter = jitter
        self.clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._heap: list[_Entry] = []
        self._seq = 0
        self._in_flight = 0
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._poll_tasks: set[asyncio.Task[None]] = set()
        self.stats = PollStats()

    # ------------------------------------------------------------------ public

    async def wait(self, target: PollTarget) -> PollResult:
        """Poll ``target`` until it is terminal or its deadline passes."""
        now = self.clock.monotonic()
        origin = now if target.accepted_at is None else min(target.accepted_at, now)
        limit = self.global_timeout
        if target.maximum_polling_duration is not None and target.maximum_polling_duration > 0:
            limit = target.maximum_polling_duration
        if self.operation_timeout is not None:
            limit = min(limit, self.operation_timeout)
        entry = _Entry(
            target=target,
            future=asyncio.get_running_loop().create_future(),
            started=origin - target.elapsed_before,
            deadline=origin - target.elapsed_before + limit,
            backoff=self.initial_interval,
        )
        first = self._retry_after_delay(target.retry_after)
        if first is None:
            first = self._next_backoff(entry)
        self._push(entry, min(origin + first, max(entry.deadline, now)))
        self.stats.operations += 1
        self._ensure_loop()
        try:
            return await entry.future
        finally:
            if not entry.future.done():
                entry.future.cancel()  # the loop skips cancelled entries

    @property
    def pending(self) -> int:
        return sum(1 for e in self._heap if not e.future.done()) + self._in_flight

    async def aclose(self) -> None:
        """Stop the loop; operations still pending are cancelled for their waiters."""
        tasks = [t for t in (self._loop_task, *self._poll_tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for e in self._heap:
            if not e.future.done():
                e.future.cancel()
        self._heap.clear()
        self._loop_task = None

    async def __aenter__(self) -> PollScheduler:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ loop

    def _push(self, entry: _Entry, due: float) -> None:
        self._seq += 1
        entry.due = due
        entry.seq = self._seq
        heapq.heappush(self._heap, entry)
        self.stats.peak_pending = max(self.stats.peak_pending, len(self._heap) + self._in_flight)
        self._wake.set()

    def _ensure_loop(self) -> None:
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._run(), name="osb-poll-scheduler")
            self._loop_task.add_done_callback(self._loop_finished)

    def _loop_finished(self, task: asyncio.Task[None]) -> None:
        # Should the loop die of a bug, waiters must see it rather than hang.
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.error("poll scheduler stopped: %r", exc)
            for e in self._heap:
                if not e.future.done():
                    e.future.set_exception(exc)
            self._heap.clear()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.monotonic()
            while self._heap and self._in_flight < self.max_concurrent_polls:
                head = self._heap[0]
                if head.future.done():
                    heapq.heappop(self._heap)
                    continue
                if head.due > now:
                    break
                heapq.heappop(self._heap)
                self._launch(head)
            if self._heap and self._in_flight < self.max_concurrent_polls:
                delay = max(0.0, self._heap[0].due - now)
                await self._sleep_or_wake(delay)
            else:
                # Nothing due, or no free poll slot: only a finished poll or a
                # new operation can change that.
                await self._wake.wait()

    async def _sleep_or_wake(self, delay: float) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (sleeper, waker):
                if not t.done():
                    t.cancel()

    def _launch(self, entry: _Entry) -> None:
        self._in_flight += 1
        self.stats.peak_in_flight = max(self.stats.peak_in_flight, self._in_flight)
        task = asyncio.create_task(self._poll(entry))
        self._poll_tasks.add(task)
        task.add_done_callback(self._poll_tasks.discard)

    async def _poll(self, entry: _Entry) -> None:
        t = entry.target
        try:
            try:
                outcome = await self._request(t)
            finally:
                self._in_flight -= 1
                self._wake.set()
            entry.polls += 1
            self.stats.polls_sent += 1
            if entry.future.done():
                return
            result = self._interpret(entry, outcome)
            if result is not None:
                entry.future.set_result(result)
                return
            now = self.clock.monotonic()
            if now >= entry.deadline:
                entry.future.set_result(
                    PollResult(
                        state="failed",
                        reason=TIMED_OUT,
                        description=f"operation did not finish within {now - entry.started:.0f}s",
                        polls=entry.polls,
                    )
                )
                return
            delay = self._retry_after_delay(outcome.retry_after)
            if delay is None:
                delay = self._next_backoff(entry)
            due = min(now + delay, entry.deadline)
            if isinstance(outcome, Done) and t.on_progress is not None:
                self._report(entry, outcome, now, due - now)
            self._push(entry, due)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a bug (e.g. in a progress callback) fails only this op
            if not entry.future.done():
                entry.future.set_exception(e)

    async def _request(self, t: PollTarget) -> Outcome:
        identity: dict[str, None] = {} if t.send_identity else {"identity": None}
        binding_id = t.binding_id if t.resource is ResourceType.BINDING else None
        return await t.client.last_operation(
            t.instance_id, t.service_id, t.plan_id, t.operation, binding_id=binding_id, **identity
        )

    def _interpret(self, entry: _Entry, outcome: Outcome) -> PollResult | None:
        """A terminal :class:`PollResult`, or ``None`` to keep polling."""
        kind = entry.target.kind
        if isinstance(outcome, Done):
            entry.invalid = 0
            body = outcome.body
            state = body.get("state")
            desc = body.get("description")
            description = desc if isinstance(desc, str) else ""
            if state == "succeeded":
                return PollResult(
                    state="succeeded",
                    description=description,
                    polls=entry.polls,
                    request_id=outcome.request_id,
                )
            if state == "failed":
                iu = body.get("instance_usable")
                ur = body.get("update_repeatable")
                return PollResult(
                    state="failed",
                    description=description,
                    instance_usable=iu if isinstance(iu, bool) else True,
                    update_repeatable=ur if isinstance(ur, bool) else True,
                    polls=entry.polls,
                    request_id=outcome.request_id,
                )
            return None  # in progress
        if isinstance(outcome, Gone):
            if kind is OperationKind.DELETE:
                return PollResult(state="gone", polls=entry.polls, request_id=outcome.request_id)
            logger.debug("410 while polling a %s is invalid; polling on", kind.value)
            return None
        name = type(outcome).__name__
        self.stats.errors[name] = self.stats.errors.get(name, 0) + 1
        if isinstance(outcome, BadRequest):
            return PollResult(
                state="failed",
                reason=BAD_REQUEST,
                description=f"the broker rejected the poll: {describe(outcome)}",
                polls=entry.polls,
                request_id=outcome.request_id,
            )
        if isinstance(outcome, Malformed):
            entry.invalid += 1
            logger.warning(
                "%s %s: unusable last_operation answer %d/%d: %s",
                entry.target.resource.value,
                entry.target.binding_id or entry.target.instance_id,
                entry.invalid,
                MAX_INVALID_ANSWERS,
                describe(outcome),
            )
            if entry.invalid >= MAX_INVALID_ANSWERS:
                return PollResult(
                    state="failed",
                    reason=INVALID_ANSWERS,
                    description=f"{entry.invalid} unusable answers in a row, the last: "
                    + describe(outcome),
                    polls=entry.polls,
                    request_id=outcome.request_id,
                )
        return None

    def _report(self, entry: _Entry, outcome: Done, now: float, next_in: float) -> None:
        cb = entry.target.on_progress
        if cb is None:
            return
        desc = outcome.body.get("description")
        try:
            cb(
                PollProgress(
                    description=desc if isinstance(desc, str) else "",
                    polls=entry.polls,
                    elapsed=now - entry.started,
                    next_poll_in=next_in,
                )
            )
        except Exception:
            logger.exception("progress callback failed; polling continues")

    def _retry_after_delay(self, header: str | None) -> float | None:
        seconds = parse_retry_after(header, now=self.clock.time())
        if seconds is None:
            return None
        return min(max(seconds, self.min_interval), self.retry_after_cap)

    def _next_backoff(self, entry: _Entry) -> float:
        delay = entry.backoff
        entry.backoff = min(entry.backoff * 2, self.max_interval)
        if self.jitter:
            # Spread operations started together so they do not poll in lockstep.
            delay *= 1 + self._rng.uniform(0, self.jitter)
        return delay
