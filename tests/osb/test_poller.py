"""Poll scheduler timing rules with an injected clock (rules §1.6, §4).

These use a fake clock and ``httpx.MockTransport`` so exact intervals can be
asserted without waiting; ``test_poller_http.py`` proves the same rules over
real HTTP.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Iterator
from email.utils import formatdate

import httpx
import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BrokerConnection
from catalogctl.providers.osb.outcomes import RequestKind, needs_orphan_mitigation
from catalogctl.providers.osb.poller import (
    TIMED_OUT,
    OperationKind,
    PollScheduler,
    PollTarget,
    ResourceType,
    parse_retry_after,
)


class FakeClock:
    """Virtual time: ``sleep`` lets other tasks run, then jumps forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.epoch = 1_700_000_000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + (self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        # In-process MockTransport requests finish within a few loop turns;
        # if one is in flight it wakes the scheduler, which cancels this sleep.
        for _ in range(20):
            await asyncio.sleep(0)
        self.now += seconds


Answer = tuple[int, dict[str, object] | str, dict[str, str]]


class ScriptedBroker:
    """A MockTransport handler answering last_operation from a list, recording poll times."""

    def __init__(self, clock: FakeClock, answers: Iterator[Answer] | list[Answer]) -> None:
        self.clock = clock
        self.answers = iter(answers)
        self.times: list[float] = []
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.times.append(self.clock.now)
        self.queries.append(dict(request.url.params))
        status, body, headers = next(self.answers)
        content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return httpx.Response(status, content=content, headers=headers)

    def gaps(self, start: float) -> list[float]:
        points = [start, *self.times]
        return [round(b - a, 3) for a, b in itertools.pairwise(points)]


def in_progress(headers: dict[str, str] | None = None) -> Answer:
    return 200, {"state": "in progress", "description": "working"}, headers or {}


SUCCEEDED: Answer = (200, {"state": "succeeded"}, {})


def forever(answer: Answer) -> Iterator[Answer]:
    while True:
        yield answer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(
    clock: FakeClock, handler: Callable[[httpx.Request], httpx.Response], **kw: object
) -> tuple[OSBClient, PollScheduler]:
    conn = BrokerConnection("ClusterServiceBroker/fake", "http://broker.invalid")
    client = OSBClient(conn, transport=httpx.MockTransport(handler))
    opts: dict[str, object] = {"clock": clock, "jitter": 0.0}
    opts.update(kw)
    return client, PollScheduler(**opts)  # type: ignore[arg-type]


def target(client: OSBClient, **kw: object) -> PollTarget:
    opts: dict[str, object] = {
        "client": client,
        "resource": ResourceType.INSTANCE,
        "instance_id": "i1",
        "service_id": "s1",
        "plan_id": "p1",
        "operation": "op1",
        "kind": OperationKind.CREATE,
    }
    opts.update(kw)
    return PollTarget(**opts)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_backoff_starts_at_1s_and_doubles_up_to_the_20s_cap(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [in_progress()] * 8 + [SUCCEEDED])
    client, sched = make(clock, broker)
    start = clock.now
    result = await sched.wait(target(client))
    await sched.aclose()
    assert result.state == "succeeded" and result.polls == 9
    assert broker.gaps(start) == [1, 2, 4, 8, 16, 20, 20, 20, 20]


@pytest.mark.asyncio
async def test_backoff_cap_is_configurable(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [in_progress()] * 4 + [SUCCEEDED])
    client, sched = make(clock, broker, max_interval=3.0)
    start = clock.now
    await sched.wait(target(client))
    await sched.aclose()
    assert broker.gaps(start) == [1, 2, 3, 3, 3]


@pytest.mark.asyncio
async def test_retry_after_seconds_is_honoured_and_clamped(clock: FakeClock) -> None:
    answers = [
        in_progress({"Retry-After": "5"}),
        in_progress({"Retry-After": "0"}),  # clamped up to min_interval (1 s)
        in_progress({"Retry-After": "100000"}),  # clamped down to retry_after_cap
        in_progress(),  # no header: backoff resumes where it was
        SUCCEEDED,
    ]
    broker = ScriptedBroker(clock, answers)
    client, sched = make(clock, broker, retry_after_cap=300.0)
    start = clock.now
    await sched.wait(target(client))
    await sched.aclose()
    assert broker.gaps(start) == [1, 5, 1, 300, 2]


@pytest.mark.asyncio
async def test_retry_after_http_date_is_honoured(clock: FakeClock) -> None:
    when = formatdate(clock.time() + 1 + 30, usegmt=True)  # 30 s after the first poll
    broker = ScriptedBroker(clock, [in_progress({"Retry-After": when}), SUCCEEDED])
    client, sched = make(clock, broker)
    start = clock.now
    await sched.wait(target(client))
    await sched.aclose()
    assert broker.gaps(start) == [1, 30]


@pytest.mark.asyncio
async def test_first_poll_honours_retry_after_of_the_202(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [SUCCEEDED])
    client, sched = make(clock, broker)
    start = clock.now
    await sched.wait(target(client, retry_after="7"))
    await sched.aclose()
    assert broker.gaps(start) == [7]


@pytest.mark.asyncio
async def test_first_poll_and_deadline_count_from_when_the_202_arrived(clock: FakeClock) -> None:
    # The caller wrote the operation to state (3 s here) before waiting: the
    # broker's Retry-After and the deadline still run from the 202 itself.
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker)
    accepted = clock.now
    clock.now += 3
    result = await sched.wait(
        target(client, retry_after="5", accepted_at=accepted, maximum_polling_duration=12)
    )
    await sched.aclose()
    assert result.reason == TIMED_OUT
    assert broker.gaps(accepted) == [5, 1, 2, 4]
    assert clock.now - accepted == 12


@pytest.mark.asyncio
async def test_a_202_older_than_its_retry_after_is_polled_at_once(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [SUCCEEDED])
    client, sched = make(clock, broker)
    accepted = clock.now
    clock.now += 9
    result = await sched.wait(target(client, retry_after="2", accepted_at=accepted))
    await sched.aclose()
    assert result.state == "succeeded"
    assert broker.gaps(accepted) == [9]


@pytest.mark.asyncio
async def test_deadline_is_the_plans_maximum_polling_duration(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker, global_timeout=3600.0)
    start = clock.now
    result = await sched.wait(target(client, maximum_polling_duration=10))
    await sched.aclose()
    assert result.state == "failed" and result.reason == TIMED_OUT
    # 1, 3, 7, then the last poll is moved to the deadline itself.
    assert broker.gaps(start) == [1, 2, 4, 3]
    assert clock.now - start == 10


@pytest.mark.asyncio
async def test_poll_timeout_caps_the_plans_maximum_polling_duration(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker, global_timeout=3600.0, operation_timeout=5.0)
    start = clock.now
    result = await sched.wait(target(client, maximum_polling_duration=600))
    await sched.aclose()
    assert result.reason == TIMED_OUT and clock.now - start == 5


@pytest.mark.asyncio
async def test_a_maximum_polling_duration_longer_than_the_default_hour_is_honoured(
    clock: FakeClock,
) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker, global_timeout=5.0)
    start = clock.now
    result = await sched.wait(target(client, maximum_polling_duration=8))
    await sched.aclose()
    assert result.reason == TIMED_OUT and clock.now - start == 8


@pytest.mark.asyncio
async def test_polling_deadline_on_provision_means_failed_and_orphan_mitigation(
    clock: FakeClock,
) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker, global_timeout=4.0)
    result = await sched.wait(target(client))
    await sched.aclose()
    assert result.state == "failed"
    assert needs_orphan_mitigation(RequestKind.PROVISION, result)
    assert not needs_orphan_mitigation(RequestKind.UPDATE, result)


@pytest.mark.asyncio
async def test_resumed_operation_keeps_its_original_deadline(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker)
    start = clock.now
    result = await sched.wait(target(client, maximum_polling_duration=60, elapsed_before=58))
    await sched.aclose()
    assert result.reason == TIMED_OUT and clock.now - start == 2


@pytest.mark.asyncio
async def test_retry_after_never_pushes_a_poll_past_the_deadline(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, forever(in_progress({"Retry-After": "250"})))
    client, sched = make(clock, broker)
    start = clock.now
    result = await sched.wait(target(client, maximum_polling_duration=30))
    await sched.aclose()
    assert result.reason == TIMED_OUT
    assert broker.gaps(start) == [1, 29]


@pytest.mark.asyncio
async def test_progress_callback_reports_in_progress_descriptions(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [in_progress(), in_progress(), SUCCEEDED])
    client, sched = make(clock, broker)
    seen: list[tuple[str, int]] = []
    await sched.wait(target(client, on_progress=lambda p: seen.append((p.description, p.polls))))
    await sched.aclose()
    assert seen == [("working", 1), ("working", 2)]


@pytest.mark.asyncio
async def test_a_failing_progress_callback_does_not_stop_polling(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, [in_progress(), SUCCEEDED])
    client, sched = make(clock, broker)

    def bad(_: object) -> None:
        raise RuntimeError("ui bug")

    result = await sched.wait(target(client, on_progress=bad))
    await sched.aclose()
    assert result.state == "succeeded"


@pytest.mark.asyncio
async def test_one_loop_task_serves_thousands_of_operations() -> None:
    """Not one sleeping task per operation: the scheduler adds O(1) tasks."""
    conn = BrokerConnection("b", "http://broker.invalid")
    client = OSBClient(conn, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    sched = PollScheduler(initial_interval=3600, max_interval=3600, jitter=0)
    waiters = [
        asyncio.create_task(sched.wait(target(client, instance_id=f"i{n}"))) for n in range(2000)
    ]
    for _ in range(5):
        await asyncio.sleep(0)
    extra = len(asyncio.all_tasks()) - len(waiters) - 1  # minus this test's own task
    assert sched.pending == 2000
    assert extra <= 3, extra  # the loop task (+ its sleep/wake helpers)
    await sched.aclose()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert all(w.cancelled() for w in waiters)
    await client.aclose()


@pytest.mark.asyncio
async def test_cancelled_wait_stops_polling_that_operation(clock: FakeClock) -> None:
    broker = ScriptedBroker(clock, forever(in_progress()))
    client, sched = make(clock, broker)
    task = asyncio.create_task(sched.wait(target(client)))
    while len(broker.times) < 2:
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    polls = len(broker.times)
    for _ in range(200):
        await asyncio.sleep(0)
    assert len(broker.times) <= polls + 1  # at most the one already in flight
    assert sched.pending == 0
    await sched.aclose()


@pytest.mark.asyncio
async def test_binding_poll_uses_the_binding_last_operation_endpoint(clock: FakeClock) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"state": "succeeded"})

    client, sched = make(clock, handler)
    await sched.wait(target(client, resource=ResourceType.BINDING, binding_id="b 1"))
    await sched.aclose()
    assert paths[0].startswith("/v2/service_instances/i1/service_bindings/b%201/last_operation?")


def test_binding_target_requires_a_binding_id() -> None:
    with pytest.raises(ValueError, match="binding_id"):
        PollTarget(
            OSBClient.__new__(OSBClient),
            ResourceType.BINDING,
            "i1",
            "s",
            "p",
            None,
            OperationKind.CREATE,
        )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 12 ", 12.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("0", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        (formatdate(1_700_000_042, usegmt=True), 42.0),
        (formatdate(1_600_000_000, usegmt=True), 0.0),  # in the past
        ("Tue, 14 Nov 2023 22:14:02 GMT", 42.0),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, now=1_700_000_000.0) == expected
