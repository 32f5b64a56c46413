"""Admission of apply steps: a bounded number prepare their write-ahead at once.

The unit tests drive :class:`Admission` directly, with a real request limiter
for the slot hook; the last test runs a whole apply of many instances against
a real broker on 127.0.0.1 and checks the bound held while everything was
still provisioned.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from catalogctl.engine import admission as admission_module
from catalogctl.engine.admission import Admission
from catalogctl.providers.osb.limits import RequestLimiter
from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, broker_yaml


@pytest.mark.asyncio
async def test_no_more_than_the_limit_prepare_at_once() -> None:
    gate = Admission(2)
    peak = 0
    release = asyncio.Event()

    async def step() -> None:
        nonlocal peak
        async with gate.admitted():
            peak = max(peak, gate.preparing)
            await release.wait()

    tasks = [asyncio.ensure_future(step()) for _ in range(6)]
    await asyncio.sleep(0.01)
    assert gate.preparing == 2  # four wait for a place
    release.set()
    await asyncio.gather(*tasks)
    assert peak == 2
    assert gate.preparing == 0


@pytest.mark.asyncio
async def test_a_step_let_through_frees_its_place_while_it_goes_on() -> None:
    gate = Admission(1)
    order: list[str] = []
    go_on = asyncio.Event()

    async def first() -> None:
        async with gate.admitted():
            order.append("first prepared")
            Admission.let_through()
            Admission.let_through()  # idempotent: frees one place, once
            await go_on.wait()
            order.append("first done")

    async def second() -> None:
        async with gate.admitted():
            order.append("second admitted")
            go_on.set()

    await asyncio.gather(first(), second())
    assert order == ["first prepared", "second admitted", "first done"]
    assert gate.preparing == 0


@pytest.mark.asyncio
async def test_taking_a_request_slot_lets_a_step_through() -> None:
    gate = Admission(1)
    limiter = RequestLimiter(max_in_flight=4)
    admitted_second = asyncio.Event()
    sent = asyncio.Event()

    async def first() -> None:
        async with gate.admitted(), limiter.slot():
            sent.set()
            # Still in flight: the second step must be admitted meanwhile.
            await asyncio.wait_for(admitted_second.wait(), 1)

    async def second() -> None:
        await sent.wait()
        async with gate.admitted():
            admitted_second.set()

    await asyncio.gather(first(), second())


@pytest.mark.asyncio
async def test_a_failing_step_gives_its_place_back() -> None:
    gate = Admission(1)

    async def failing() -> None:
        async with gate.admitted():
            raise RuntimeError("broker said no")

    with pytest.raises(RuntimeError):
        await failing()
    async with asyncio.timeout(1):
        async with gate.admitted():
            assert gate.preparing == 1


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Admission(0)


def test_an_apply_of_many_instances_is_admitted_a_few_at_a_time(
    tmp_path: Path, programmable_broker: ProgrammableBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    peaks: list[int] = []
    original = Admission.admitted

    @contextlib.asynccontextmanager
    async def recording(self: Admission) -> AsyncIterator[None]:
        async with original(self):
            peaks.append(self.preparing)
            yield

    monkeypatch.setattr(admission_module.Admission, "admitted", recording)
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write(
        "instances.yaml",
        "---\n".join(
            "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
            f"metadata: {{name: db-{i}, namespace: apps}}\n"
            "spec: {clusterServiceClassExternalName: programmable-db,"
            " clusterServicePlanExternalName: sync}\n"
            for i in range(24)
        ),
    )
    ws.ok("apply", "--auto-approve", "--parallelism", "2")
    # Every step went through admission; with 24 ready at once, never more
    # than 2 x parallelism were preparing together.
    assert len(peaks) == 24
    assert max(peaks) <= 4
    assert len(programmable_broker.instances) == 24
    assert all(r["status"] == "ready" for r in ws.resources().values() if "Instance" in r["kind"])
