"""The cyclic collector is paused during an apply, with a periodic young sweep."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest

from catalogctl.engine.cyclegc import cycle_collection_paused
from catalogctl.providers.kubernetes.directory import DirectoryCluster
from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, broker_yaml


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def make_cycle() -> weakref.ref[Node]:
    return weakref.ref(Node())


@pytest.fixture(autouse=True)
def collector_enabled() -> object:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


@pytest.mark.asyncio
async def test_automatic_collection_is_off_inside_and_restored_after() -> None:
    async with cycle_collection_paused(interval=60):
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.asyncio
async def test_cycles_are_still_swept_every_interval() -> None:
    async with cycle_collection_paused(interval=0.05):
        garbage = make_cycle()
        assert garbage() is not None  # nothing collects it on its own now
        for _ in range(100):
            await asyncio.sleep(0.01)
            if garbage() is None:
                break
        assert garbage() is None


@pytest.mark.asyncio
async def test_without_the_sweep_a_cycle_would_stay() -> None:
    """The control for the test above: with collection off and no sweep yet, it stays."""
    async with cycle_collection_paused(interval=60):
        garbage = make_cycle()
        await asyncio.sleep(0.1)
        assert garbage() is not None
    gc.collect()
    assert garbage() is None


@pytest.mark.asyncio
async def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    async with cycle_collection_paused(interval=0.01):
        await asyncio.sleep(0.05)
        assert not gc.isenabled()
    assert not gc.isenabled()


@pytest.mark.asyncio
async def test_an_error_inside_restores_the_collector() -> None:
    with pytest.raises(RuntimeError):
        async with cycle_collection_paused(interval=60):
            raise RuntimeError("step failed")
    assert gc.isenabled()


def test_an_apply_runs_its_steps_with_the_collector_paused(
    tmp_path: Path, programmable_broker: ProgrammableBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[bool] = []
    original = DirectoryCluster.write_binding_secrets

    def recording(self: DirectoryCluster, writes: object) -> object:
        seen.append(gc.isenabled())
        return original(self, writes)  # type: ignore[arg-type]

    monkeypatch.setattr(DirectoryCluster, "write_binding_secrets", recording)
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write(
        "app.yaml",
        """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {name: db, namespace: apps}
spec: {clusterServiceClassExternalName: programmable-db, clusterServicePlanExternalName: sync}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: db-binding, namespace: apps}
spec: {instanceRef: {name: db}}
""",
    )
    ws.ok("apply", "--auto-approve")
    assert seen == [False]
    assert gc.isenabled()
