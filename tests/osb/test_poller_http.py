"""Polling rules over real HTTP against the programmable broker (rules §1.6, §1.10, §4, §10)."""

from __future__ import annotations

import asyncio
import itertools
import time
from email.utils import formatdate

import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.identity import binding_context
from catalogctl.providers.osb.outcomes import Accepted, Done
from catalogctl.providers.osb.poller import (
    MAX_INVALID_ANSWERS,
    OperationKind,
    PollScheduler,
    PollTarget,
    ResourceType,
)
from tests.brokers.programmable import (
    ASYNC_PLAN_ID,
    LARGE_PLAN_ID,
    SERVICE_ID,
    SYNC_PLAN_ID,
    ProgrammableBroker,
)
from tests.clocks import SkipClock
from tests.osb.conftest import fast_scheduler, make_conn, provision_kwargs

pytestmark = pytest.mark.asyncio

LO = r"/v2/service_instances/i1/last_operation$"
BLO = r"/v2/service_instances/i1/service_bindings/b1/last_operation$"


def instance_target(client: OSBClient, kind: OperationKind, **kw: object) -> PollTarget:
    opts: dict[str, object] = {
        "client": client,
        "resource": ResourceType.INSTANCE,
        "instance_id": "i1",
        "service_id": SERVICE_ID,
        "plan_id": ASYNC_PLAN_ID,
        "operation": "op-1",
        "kind": kind,
    }
    opts.update(kw)
    return PollTarget(**opts)  # type: ignore[arg-type]


async def test_410_while_deleting_is_success(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", LO, body={"state": "in progress"})
    broker.script("GET", LO, status=410, body={})
    result = await scheduler.wait(instance_target(client, OperationKind.DELETE))
    assert result.state == "gone" and result.succeeded
    assert len(broker.requests_to("GET", LO)) == 2


async def test_binding_410_while_unbinding_is_success(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", BLO, status=410, body={})
    result = await scheduler.wait(
        instance_target(
            client, OperationKind.DELETE, resource=ResourceType.BINDING, binding_id="b1"
        )
    )
    assert result.state == "gone"


@pytest.mark.parametrize("kind", [OperationKind.CREATE, OperationKind.UPDATE])
async def test_410_during_create_or_update_is_invalid_and_polling_continues(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler, kind: OperationKind
) -> None:
    broker.script("GET", LO, status=410, body={}, times=3)
    broker.script("GET", LO, body={"state": "succeeded"})
    result = await scheduler.wait(instance_target(client, kind))
    assert result.state == "succeeded" and result.polls == 4


async def test_404_5xx_other_codes_and_a_few_invalid_bodies_keep_polling(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", LO, status=404, body={})
    broker.script("GET", LO, status=500, body="oops")
    broker.script("GET", LO, status=401, body={"description": "who"})
    broker.script("GET", LO, status=200, body="not json")
    broker.script("GET", LO, status=200, body={"state": "paused"})
    broker.script("GET", LO, drop=True)
    broker.script("GET", LO, status=200, body={"state": "succeeded"})
    result = await scheduler.wait(instance_target(client, OperationKind.CREATE))
    assert result.state == "succeeded" and result.polls == 7
    assert scheduler.stats.errors["Malformed"] == 2


async def test_400_ends_the_operation_failed_with_the_brokers_description(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", LO, status=400, body={"description": "no such operation"})
    result = await scheduler.wait(instance_target(client, OperationKind.CREATE))
    assert result.state == "failed" and result.reason == "rejected" and result.polls == 1
    assert "broker" in result.description and "no such operation" in result.description


@pytest.mark.parametrize(
    "body", ["<html>gateway</html>", {"state": "weird"}, ["not", "an", "object"]]
)
async def test_unusable_answers_in_a_row_end_the_operation(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler, body: object
) -> None:
    broker.script("GET", LO, status=200, body=body, times=None)
    result = await scheduler.wait(instance_target(client, OperationKind.CREATE))
    assert result.state == "failed" and result.reason == "invalid answers"
    assert result.polls == MAX_INVALID_ANSWERS
    assert f"{MAX_INVALID_ANSWERS} unusable answers in a row" in result.description


async def test_a_usable_answer_resets_the_count_of_unusable_ones(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    for _ in range(2):
        broker.script("GET", LO, status=200, body="garbage", times=MAX_INVALID_ANSWERS - 1)
        broker.script("GET", LO, status=200, body={"state": "in progress"})
    broker.script("GET", LO, body={"state": "succeeded"})
    result = await scheduler.wait(instance_target(client, OperationKind.CREATE))
    assert result.state == "succeeded" and result.polls == 2 * MAX_INVALID_ANSWERS + 1


async def test_failed_state_ends_polling_with_description_and_flags(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script(
        "GET",
        LO,
        body={
            "state": "failed",
            "description": "disk full",
            "instance_usable": False,
            "update_repeatable": False,
        },
    )
    result = await scheduler.wait(instance_target(client, OperationKind.UPDATE))
    assert (result.state, result.description) == ("failed", "disk full")
    assert result.instance_usable is False and result.update_repeatable is False
    assert result.reason == ""


async def test_failed_state_flags_default_to_true(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", LO, body={"state": "failed"})
    result = await scheduler.wait(instance_target(client, OperationKind.UPDATE))
    assert result.instance_usable and result.update_repeatable


async def test_terminal_state_stops_polling(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("GET", LO, body={"state": "in progress"}, times=2)
    broker.script("GET", LO, body={"state": "succeeded"})
    result = await scheduler.wait(instance_target(client, OperationKind.CREATE))
    await asyncio.sleep(0.2)  # many poll intervals of the fast scheduler
    assert result.polls == 3 and len(broker.requests_to("GET", LO)) == 3


async def test_poll_sends_ids_plan_and_operation_in_the_query(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    op = "op with/odd&chars=1"
    broker.script("GET", LO, body={"state": "succeeded"})
    await scheduler.wait(instance_target(client, OperationKind.CREATE, operation=op))
    q = broker.requests[0].query
    assert q == {"service_id": SERVICE_ID, "plan_id": ASYNC_PLAN_ID, "operation": op}
    assert "op%20with%2Fodd%26chars%3D1" in broker.requests[0].raw_query


async def test_update_is_polled_with_the_pre_update_plan_id(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    kw = provision_kwargs(client.conn)
    created = await client.provision("i1", SERVICE_ID, ASYNC_PLAN_ID, **kw)
    assert isinstance(created, Accepted)
    await scheduler.wait(instance_target(client, OperationKind.CREATE, operation=created.operation))
    updated = await client.update(
        "i1",
        SERVICE_ID,
        plan_id=LARGE_PLAN_ID,
        previous_values={"plan_id": ASYNC_PLAN_ID},
        context=kw["context"],
    )
    assert isinstance(updated, Accepted)
    result = await scheduler.wait(
        instance_target(
            client,
            OperationKind.UPDATE,
            operation=updated.operation,
            plan_id=ASYNC_PLAN_ID,  # the plan *before* the update
        )
    )
    assert result.state == "succeeded"
    polls = [r for r in broker.requests_to("GET", LO) if r.query["operation"] == updated.operation]
    assert polls and all(r.query["plan_id"] == ASYNC_PLAN_ID for r in polls)
    assert broker.instances["i1"].plan_id == LARGE_PLAN_ID


async def test_async_bind_is_polled_then_credentials_come_from_get_binding(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    kw = provision_kwargs(client.conn)
    created = await client.provision("i1", SERVICE_ID, ASYNC_PLAN_ID, **kw)
    assert isinstance(created, Accepted)
    await scheduler.wait(instance_target(client, OperationKind.CREATE, operation=created.operation))
    ctx = binding_context(client.conn, namespace="dev")
    bound = await client.bind("i1", "b1", SERVICE_ID, ASYNC_PLAN_ID, context=ctx)
    assert isinstance(bound, Accepted) and "credentials" not in bound.body
    early = await client.get_binding("i1", "b1", SERVICE_ID, ASYNC_PLAN_ID)
    assert type(early).__name__ == "NotFound", "404 while the bind is in progress"
    result = await scheduler.wait(
        instance_target(
            client,
            OperationKind.CREATE,
            resource=ResourceType.BINDING,
            binding_id="b1",
            operation=bound.operation,
        )
    )
    assert result.state == "succeeded"
    got = await client.get_binding("i1", "b1", SERVICE_ID, ASYNC_PLAN_ID)
    assert isinstance(got, Done) and got.body["credentials"]["password"] == "pw-b1"


async def test_retry_after_seconds_is_honoured_over_http(broker: ProgrammableBroker) -> None:
    broker.script("GET", LO, body={"state": "in progress"}, retry_after=1)
    broker.script("GET", LO, body={"state": "succeeded"})
    clock = SkipClock()
    async with (
        OSBClient(make_conn(broker)) as c,
        fast_scheduler(retry_after_cap=5.0, clock=clock) as sched,
    ):
        await sched.wait(instance_target(c, OperationKind.CREATE))
    assert len(broker.requests_to("GET", LO)) == 2
    # Without the header the fast scheduler would poll again after ~0.02 s.
    assert sum(clock.sleeps) >= 0.9


async def test_retry_after_http_date_is_honoured_over_http(broker: ProgrammableBroker) -> None:
    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: waits 1-2 s
    broker.script("GET", LO, body={"state": "in progress"}, headers={"Retry-After": when})
    broker.script("GET", LO, body={"state": "succeeded"})
    clock = SkipClock()
    async with (
        OSBClient(make_conn(broker)) as c,
        fast_scheduler(retry_after_cap=5.0, clock=clock) as sched,
    ):
        await sched.wait(instance_target(c, OperationKind.CREATE))
    assert len(broker.requests_to("GET", LO)) == 2
    assert sum(clock.sleeps) >= 0.5


async def test_retry_after_is_clamped_to_the_cap_over_http(broker: ProgrammableBroker) -> None:
    broker.script("GET", LO, body={"state": "in progress"}, retry_after=3600)
    broker.script("GET", LO, body={"state": "succeeded"})
    async with (
        OSBClient(make_conn(broker)) as c,
        fast_scheduler(retry_after_cap=0.1) as sched,
    ):
        result = await asyncio.wait_for(sched.wait(instance_target(c, OperationKind.CREATE)), 10)
    assert result.state == "succeeded"


async def test_polling_deadline_over_http_fails_with_timed_out(broker: ProgrammableBroker) -> None:
    broker.script("GET", LO, body={"state": "in progress"}, times=None)
    async with OSBClient(make_conn(broker)) as c, fast_scheduler() as sched:
        result = await sched.wait(
            instance_target(c, OperationKind.CREATE, maximum_polling_duration=0.3)
        )
    assert result.state == "failed" and result.reason == "timed out"


async def test_many_operations_share_one_scheduler_and_poll_minimally(
    broker: ProgrammableBroker,
) -> None:
    # Fifty provisions wait for pool connections together: the exchange timeout is generous
    # so a busy machine cannot fail a test that is about polling, not about timeouts.
    async with OSBClient(make_conn(broker, timeout=10.0)) as c, fast_scheduler() as sched:
        kw = provision_kwargs(c.conn)
        ids = [f"i{n}" for n in range(50)]
        created = await asyncio.gather(
            *(c.provision(i, SERVICE_ID, ASYNC_PLAN_ID, **kw) for i in ids)
        )
        targets = [
            instance_target(c, OperationKind.CREATE, instance_id=i, operation=o.operation)
            for i, o in zip(ids, created, strict=True)
            if isinstance(o, Accepted)
        ]
        results = await asyncio.gather(*(sched.wait(t) for t in targets))
    assert len(targets) == 50
    assert all(r.state == "succeeded" for r in results)
    # The default async plan answers "in progress" once, then "succeeded".
    assert sched.stats.polls_sent == 100


async def test_polls_hold_a_broker_slot_only_for_the_request(broker: ProgrammableBroker) -> None:
    """With max_in_flight=1, pending polls must not block a mutating request."""
    broker.async_polls = 1000  # operations stay in progress
    conn = make_conn(broker, max_in_flight=1)
    async with OSBClient(conn) as c, fast_scheduler(initial_interval=0.05) as sched:
        kw = provision_kwargs(conn)
        ops = [await c.provision(f"a{n}", SERVICE_ID, ASYNC_PLAN_ID, **kw) for n in range(20)]
        waits = [
            asyncio.create_task(
                sched.wait(
                    instance_target(
                        c,
                        OperationKind.CREATE,
                        instance_id=f"a{n}",
                        operation=o.operation if isinstance(o, Accepted) else None,
                    )
                )
            )
            for n, o in enumerate(ops)
        ]
        while sched.stats.polls_sent < 40:
            await asyncio.sleep(0.01)
        sync = await asyncio.wait_for(c.provision("s1", SERVICE_ID, SYNC_PLAN_ID, **kw), 5)
        assert isinstance(sync, Done)
        assert sched.pending == 20, "all operations still being polled"
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
        assert c.limiter.peak_in_flight == 1
    assert broker.peak_in_flight == 1


async def test_one_scheduler_polls_operations_of_several_brokers() -> None:
    with ProgrammableBroker() as b1, ProgrammableBroker() as b2:
        async with (
            OSBClient(make_conn(b1, name="ClusterServiceBroker/one")) as c1,
            OSBClient(make_conn(b2, name="ClusterServiceBroker/two")) as c2,
            fast_scheduler() as sched,
        ):
            outs = []
            for c, n in itertools.product((c1, c2), range(3)):
                o = await c.provision(
                    f"i{n}", SERVICE_ID, ASYNC_PLAN_ID, **provision_kwargs(c.conn)
                )
                assert isinstance(o, Accepted)
                outs.append(
                    sched.wait(
                        instance_target(
                            c, OperationKind.CREATE, instance_id=f"i{n}", operation=o.operation
                        )
                    )
                )
            results = await asyncio.gather(*outs)
        assert all(r.state == "succeeded" for r in results)
        assert len(b1.requests_to("GET", "last_operation")) == 6
        assert len(b2.requests_to("GET", "last_operation")) == 6
