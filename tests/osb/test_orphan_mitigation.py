"""Orphan mitigation (rules §3, §6 ConcurrencyError, §10 cases 2, 8, 9, 10, 11, 12).

The pure table is checked row by row; the end-to-end cases run the sequence
the engine runs — send, classify, ``needs_orphan_mitigation``, mitigate —
against the programmable broker over real HTTP.
"""

from __future__ import annotations

import base64
import json

import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.identity import binding_context
from catalogctl.providers.osb.orphan import MitigationPolicy, mitigate
from catalogctl.providers.osb.outcomes import (
    Accepted,
    BadRequest,
    ConcurrencyError,
    Conflict,
    Done,
    Failed,
    Malformed,
    RequestKind,
    TimedOut,
    needs_orphan_mitigation,
)
from catalogctl.providers.osb.poller import (
    OperationKind,
    PollScheduler,
    PollTarget,
    ResourceType,
)
from catalogctl.providers.osb.retrying import retry_on_concurrency_error
from tests.brokers.programmable import ASYNC_PLAN_ID, SERVICE_ID, SYNC_PLAN_ID, ProgrammableBroker
from tests.osb.conftest import make_conn, provision_kwargs

pytestmark = pytest.mark.asyncio

K = RequestKind
FAST = MitigationPolicy(deadline=5.0, initial_backoff=0.01, max_backoff=0.05)
INSTANCE = r"^/v2/service_instances/i1$"
BINDING = r"^/v2/service_instances/i1/service_bindings/b1$"


async def test_provision_answered_500_gets_deletes_until_one_succeeds(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("PUT", INSTANCE, status=500, body={"description": "db exploded"})
    broker.script("DELETE", INSTANCE, status=500, body={}, times=2)
    broker.script("DELETE", INSTANCE, status=200, body={})
    outcome = await client.provision(
        "i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert needs_orphan_mitigation(K.PROVISION, outcome)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=FAST,
    )
    assert (result.status, result.attempts) == ("mitigated", 3)
    deletes = broker.requests_to("DELETE", INSTANCE)
    assert len(deletes) == 3
    for d in deletes:
        assert d.query == {
            "service_id": SERVICE_ID,
            "plan_id": SYNC_PLAN_ID,
            "accepts_incomplete": "true",
        }
        assert "x-broker-api-originating-identity" not in d.headers


async def test_provision_answered_409_gets_no_delete(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script("PUT", INSTANCE, status=409, body={"description": "exists, other plan"})
    outcome = await client.provision(
        "i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert isinstance(outcome, Conflict) and outcome.description == "exists, other plan"
    assert not needs_orphan_mitigation(K.PROVISION, outcome)
    assert broker.requests_to("DELETE") == []


async def test_timed_out_bind_gets_an_unbind(
    broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    await_client = OSBClient(make_conn(broker, timeout=0.3))
    async with await_client as client:
        await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
        broker.script("PUT", BINDING, hang=True)
        ctx = binding_context(client.conn, namespace="dev")
        outcome = await client.bind("i1", "b1", SERVICE_ID, SYNC_PLAN_ID, context=ctx)
        assert isinstance(outcome, TimedOut)
        assert needs_orphan_mitigation(K.BIND, outcome)
        result = await mitigate(
            client,
            scheduler,
            instance_id="i1",
            binding_id="b1",
            service_id=SERVICE_ID,
            plan_id=SYNC_PLAN_ID,
            policy=FAST,
        )
    assert result.status == "mitigated"
    unbinds = broker.requests_to("DELETE", BINDING)
    assert len(unbinds) == 1
    assert "x-broker-api-originating-identity" not in unbinds[0].headers
    assert broker.requests_to("DELETE", INSTANCE) == [], (
        "OM of a binding never deletes the instance"
    )


async def test_concurrency_error_gets_a_retry_and_no_cleanup(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script(
        "PUT",
        INSTANCE,
        status=422,
        body={"error": "ConcurrencyError", "description": "busy"},
        times=2,
    )
    slept: list[float] = []

    async def record_sleep(seconds: float) -> None:
        slept.append(seconds)

    first = await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn))
    assert isinstance(first, ConcurrencyError)
    assert not needs_orphan_mitigation(K.PROVISION, first)
    outcome = await retry_on_concurrency_error(
        lambda: client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn)),
        sleep=record_sleep,
    )
    assert isinstance(outcome, Done) and outcome.status == 201
    assert len(broker.requests_to("PUT", INSTANCE)) == 3
    assert slept == [1.0], "backs off before re-sending"
    assert broker.requests_to("DELETE") == []


async def test_concurrency_error_retry_gives_up_after_its_attempts(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script("PATCH", INSTANCE, status=422, body={"error": "ConcurrencyError"}, times=None)

    async def no_sleep(_: float) -> None:
        return None

    ctx = provision_kwargs(client.conn)["context"]
    outcome = await retry_on_concurrency_error(
        lambda: client.update("i1", SERVICE_ID, previous_values={}, context=ctx),
        attempts=3,
        sleep=no_sleep,
    )
    assert isinstance(outcome, ConcurrencyError)
    assert len(broker.requests_to("PATCH")) == 3 and broker.requests_to("DELETE") == []


async def test_async_provision_ending_failed_gets_deprovisioned_and_polled(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    created = await client.provision(
        "i1", SERVICE_ID, ASYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert isinstance(created, Accepted)
    broker.fail_operation("i1", description="no capacity")
    result = await scheduler.wait(
        PollTarget(
            client,
            ResourceType.INSTANCE,
            "i1",
            SERVICE_ID,
            ASYNC_PLAN_ID,
            created.operation,
            OperationKind.CREATE,
        )
    )
    assert result.state == "failed" and result.description == "no capacity"
    assert needs_orphan_mitigation(K.PROVISION, result)
    mitigation = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=ASYNC_PLAN_ID,
        policy=FAST,
    )
    assert mitigation.status == "mitigated" and mitigation.attempts == 1
    assert "i1" not in broker.instances
    om_requests = [
        r for r in broker.requests if r.method == "DELETE" or "deprovision" in r.raw_query
    ]
    assert om_requests, "the async DELETE was polled"
    for r in om_requests:
        assert "x-broker-api-originating-identity" not in r.headers


async def test_provision_with_malformed_201_gets_orphan_mitigation(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("PUT", INSTANCE, status=201, body="<html>ok</html>")
    outcome = await client.provision(
        "i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(client.conn)
    )
    assert isinstance(outcome, Malformed) and needs_orphan_mitigation(K.PROVISION, outcome)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=FAST,
    )
    assert result.status == "mitigated"
    assert len(broker.requests_to("DELETE", INSTANCE)) == 1


async def test_bind_answered_500_gets_an_unbind(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("PUT", BINDING, status=502, body="bad gateway")
    ctx = binding_context(client.conn, namespace="dev")
    outcome = await client.bind("i1", "b1", SERVICE_ID, SYNC_PLAN_ID, context=ctx)
    assert isinstance(outcome, Failed) and needs_orphan_mitigation(K.BIND, outcome)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        binding_id="b1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=FAST,
    )
    assert result.status == "mitigated"  # 410: nothing was created after all
    assert len(broker.requests_to("DELETE", BINDING)) == 1


async def test_update_failure_or_timeout_never_gets_orphan_mitigation(
    broker: ProgrammableBroker,
) -> None:
    broker.script("PATCH", INSTANCE, status=500, body={})
    broker.script("PATCH", INSTANCE, hang=True)
    async with OSBClient(make_conn(broker, timeout=0.3)) as client:
        ctx = provision_kwargs(client.conn)["context"]
        failed = await client.update("i1", SERVICE_ID, previous_values={}, context=ctx)
        timed_out = await client.update("i1", SERVICE_ID, previous_values={}, context=ctx)
    assert isinstance(failed, Failed) and isinstance(timed_out, TimedOut)
    assert not needs_orphan_mitigation(K.UPDATE, failed)
    assert not needs_orphan_mitigation(K.UPDATE, timed_out)


async def test_deprovision_timeout_gets_no_orphan_mitigation_but_500_gets_a_retry(
    broker: ProgrammableBroker,
) -> None:
    broker.script("DELETE", INSTANCE, hang=True)
    broker.script("DELETE", INSTANCE, status=500, body={})
    async with OSBClient(make_conn(broker, timeout=0.3)) as client:
        timed_out = await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)
        failed = await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)
    assert isinstance(timed_out, TimedOut) and not needs_orphan_mitigation(K.DEPROVISION, timed_out)
    assert isinstance(failed, Failed) and needs_orphan_mitigation(K.DEPROVISION, failed)


async def test_orphan_mitigation_can_be_disabled_for_the_run(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=MitigationPolicy(enabled=False),
    )
    assert (result.status, result.attempts) == ("skipped", 0)
    assert broker.requests == []


async def test_orphan_mitigation_backs_off_and_gives_up_at_its_deadline(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("DELETE", INSTANCE, status=503, body={}, times=None)
    policy = MitigationPolicy(deadline=0.3, initial_backoff=0.02, max_backoff=0.08)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=policy,
    )
    assert result.status == "failed" and "gave up" in result.detail
    n = len(broker.requests_to("DELETE", INSTANCE))
    assert n == result.attempts and 2 <= n <= 15, "bounded, with back-off between attempts"
    gaps = [
        b.received_at - a.received_at
        for a, b in zip(broker.requests[:-1], broker.requests[1:], strict=True)
    ]
    assert all(g >= 0.015 for g in gaps)


async def test_orphan_mitigation_retries_through_concurrency_error(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    broker.script("DELETE", INSTANCE, status=422, body={"error": "ConcurrencyError"}, times=2)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=FAST,
    )
    assert (result.status, result.attempts) == ("mitigated", 3)


@pytest.mark.parametrize("status", [400, 401, 412])
async def test_orphan_mitigation_stops_early_when_a_retry_cannot_help(
    client: OSBClient, broker: ProgrammableBroker, scheduler: PollScheduler, status: int
) -> None:
    broker.script("DELETE", INSTANCE, status=status, body={"description": "nope"}, times=None)
    result = await mitigate(
        client,
        scheduler,
        instance_id="i1",
        service_id=SERVICE_ID,
        plan_id=SYNC_PLAN_ID,
        policy=FAST,
    )
    assert (result.status, result.attempts) == ("failed", 1)
    assert "nope" in result.detail
    assert isinstance(result.last_outcome, Failed | BadRequest)


async def test_async_orphan_mitigation_polls_without_identity_until_gone(
    broker: ProgrammableBroker, scheduler: PollScheduler
) -> None:
    async with OSBClient(make_conn(broker)) as client:
        broker.script("DELETE", INSTANCE, status=202, body={"operation": "om-1"})
        broker.script("GET", r"i1/last_operation$", body={"state": "in progress"})
        broker.script("GET", r"i1/last_operation$", status=410, body={})
        result = await mitigate(
            client,
            scheduler,
            instance_id="i1",
            service_id=SERVICE_ID,
            plan_id=SYNC_PLAN_ID,
            policy=FAST,
        )
    assert result.status == "mitigated"
    polls = broker.requests_to("GET", "last_operation")
    assert len(polls) == 2 and all(p.query["operation"] == "om-1" for p in polls)
    for r in broker.requests:
        assert "x-broker-api-originating-identity" not in r.headers


async def test_user_initiated_deprovision_keeps_originating_identity(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)
    header = broker.requests[0].headers["x-broker-api-originating-identity"]
    assert json.loads(base64.b64decode(header.split(" ")[1]))["username"] == "duke"
