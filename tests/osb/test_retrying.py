"""The retry policy on outcome values, with an injected clock and random source (no sleeps)."""

from __future__ import annotations

import asyncio
import random
from email.utils import formatdate

import pytest

from catalogctl.providers.osb.outcomes import (
    BadRequest,
    ConcurrencyError,
    Conflict,
    Done,
    Failed,
    Malformed,
    Outcome,
    TimedOut,
    Unreachable,
)
from catalogctl.providers.osb.retrying import (
    RetryNotice,
    RetryPolicy,
    RetryStopped,
    send_with_retries,
    transient,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _answers(*outcomes: Outcome) -> tuple[list[Outcome], object]:
    sent: list[Outcome] = []
    queue = list(outcomes)

    async def send() -> Outcome:
        sent.append(queue[0])
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return sent, send


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (TimedOut(), True),
        (Unreachable(reason="refused"), True),
        (Unreachable(reason="reset", request_sent=True), True),
        (Unreachable(reason="TLS: expired", lasting=True), False),
        (Failed(status=500), True),
        (Failed(status=503), True),
        (Failed(status=408), True),
        (Failed(status=429), True),
        (Failed(status=401), False),
        (Failed(status=412), False),
        (BadRequest(), False),
        (Conflict(), False),
        (ConcurrencyError(), False),
        (Malformed(status=200, reason="x"), False),
        (Done(body={}), False),
    ],
)
def test_which_outcomes_are_transient(outcome: Outcome, expected: bool) -> None:
    assert transient(outcome) is expected


def test_full_jitter_stays_under_the_doubling_ceiling_and_the_cap() -> None:
    policy = RetryPolicy(clock=FakeClock(), rng=random.Random(7), max_backoff=30.0)
    for retry in range(1, 12):
        ceiling = min(30.0, 2 ** (retry - 1))
        delays = [policy.delay(retry, None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # spread over the range, not a constant


def test_retry_after_seconds_and_dates_are_honoured_and_clamped() -> None:
    clock = FakeClock()
    policy = RetryPolicy(clock=clock, retry_after_cap=120.0)
    assert policy.delay(1, "7") == 7.0
    assert policy.delay(1, "100000") == 120.0
    assert policy.delay(1, formatdate(clock.time() + 30, usegmt=True)) == pytest.approx(30, abs=1)


def test_retries_until_success_and_reports_each() -> None:
    clock = FakeClock()
    sent, send = _answers(Failed(status=500), Failed(status=503, retry_after="4"), Done(body={}))
    notices: list[RetryNotice] = []
    outcome = asyncio.run(
        send_with_retries(
            send,  # type: ignore[arg-type]
            RetryPolicy(clock=clock, rng=random.Random(1)),
            on_retry=notices.append,
        )
    )
    assert isinstance(outcome, Done) and len(sent) == 3
    assert clock.sleeps[1] == 4.0
    assert [n.retry for n in notices] == [1, 2]
    assert str(notices[1]) == "retry 2/6 in 4s: broker answered 503"


def test_before_retry_runs_before_each_backoff_and_can_stop_the_retries() -> None:
    clock = FakeClock()
    sent, send = _answers(Failed(status=500))
    calls: list[float] = []

    async def mitigate(failed: Outcome) -> None:
        calls.append(clock.now)
        if len(calls) == 2:
            raise RuntimeError("mitigation gave up")

    with pytest.raises(RuntimeError, match="gave up"):
        asyncio.run(
            send_with_retries(send, RetryPolicy(clock=clock), before_retry=mitigate)  # type: ignore[arg-type]
        )
    assert len(sent) == 2 and len(clock.sleeps) == 1


def test_no_retry_would_start_after_the_timeout() -> None:
    clock = FakeClock()
    sent, send = _answers(Failed(status=500, retry_after="40"))
    outcome = asyncio.run(send_with_retries(send, RetryPolicy(clock=clock, timeout=100)))  # type: ignore[arg-type]
    assert isinstance(outcome, Failed) and len(sent) == 3 and clock.sleeps == [40.0, 40.0]


@pytest.mark.parametrize("policy", [RetryPolicy(timeout=0), RetryPolicy(retries=0)])
def test_retries_can_be_turned_off(policy: RetryPolicy) -> None:
    sent, send = _answers(Failed(status=500), Done(body={}))
    outcome = asyncio.run(send_with_retries(send, policy))  # type: ignore[arg-type]
    assert isinstance(outcome, Failed) and len(sent) == 1


def test_at_most_the_configured_number_of_retries() -> None:
    clock = FakeClock()
    sent, send = _answers(TimedOut())
    asyncio.run(send_with_retries(send, RetryPolicy(clock=clock, retries=6)))  # type: ignore[arg-type]
    assert len(sent) == 7


def test_a_stop_during_the_backoff_ends_the_wait_at_once() -> None:
    class BlockingClock(FakeClock):
        async def sleep(self, seconds: float) -> None:
            self.sleeps.append(seconds)
            await asyncio.Event().wait()  # a backoff that would never end by itself

    async def main() -> None:
        stop = asyncio.Event()
        sent, send = _answers(Failed(status=503, retry_after="60"))
        task = asyncio.ensure_future(
            send_with_retries(send, RetryPolicy(clock=BlockingClock()), stop=stop)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.01)
        assert not task.done() and len(sent) == 1
        stop.set()
        with pytest.raises(RetryStopped) as err:
            await task
        assert "interrupted" in str(err.value) and len(sent) == 1  # nothing sent again

    asyncio.run(main())
