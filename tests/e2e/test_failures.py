"""Failure handling during apply: orphan mitigation after an uncertain provision, tainted
resources when it is turned off, and failures that skip only their own descendants."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, mutating, wait_for

BAD_ID = "0b5e7c1a-6f2d-4c3b-9a8e-000000000bad"
GOOD_ID = "0b5e7c1a-6f2d-4c3b-9a8e-00000000600d"


def _instance(name: str, external_id: str) -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: {name}
  namespace: apps
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: sync
  externalID: {external_id}
"""


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    w.write("bad.yaml", _instance("bad", BAD_ID))
    return w


def test_provision_500_is_orphan_mitigated(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", f"/service_instances/{BAD_ID}$", status=500, body={})
    result = ws.run("apply", "--auto-approve", "--retry-timeout", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "ServiceInstance/apps/bad" in result.stderr
    assert "500" in result.stderr
    assert mutating(programmable_broker.requests) == [
        ("PUT", f"/v2/service_instances/{BAD_ID}"),
        ("DELETE", f"/v2/service_instances/{BAD_ID}"),
    ]
    # Mitigated; the id stays recorded as a create still to do.
    entry = ws.resources()["ServiceInstance/apps/bad"]
    assert entry["status"] == "creating" and entry["instance_id"] == BAD_ID
    assert not entry["orphan_mitigation_pending"]
    assert programmable_broker.instances == {}
    # The next run simply tries again.
    plan = ws.ok("plan")
    assert '+ ServiceInstance "apps/bad"' in plan.stdout


def test_provision_timeout_is_orphan_mitigated(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.hang_seconds = 3
    programmable_broker.script("PUT", f"/service_instances/{BAD_ID}$", hang=True)
    result = ws.run("apply", "--auto-approve", "--broker-timeout", "0.5", "--retry-timeout", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert ("DELETE", f"/v2/service_instances/{BAD_ID}") in mutating(programmable_broker.requests)
    assert ws.resources()["ServiceInstance/apps/bad"]["status"] == "creating"


def test_without_orphan_mitigation_the_instance_is_tainted_then_replaced(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("PUT", f"/service_instances/{BAD_ID}$", status=500, body={})
    result = ws.run("apply", "--auto-approve", "--no-orphan-mitigation")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "tainted" in result.stderr
    assert mutating(programmable_broker.requests) == [("PUT", f"/v2/service_instances/{BAD_ID}")]
    entry = ws.resources()["ServiceInstance/apps/bad"]
    assert entry["status"] == "tainted"
    assert entry["instance_id"] == BAD_ID

    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert '-/+ ServiceInstance "apps/bad"' in plan.stdout
    assert "tainted" in plan.stdout

    seen = len(programmable_broker.requests)
    ws.ok("apply", "--auto-approve")
    assert mutating(programmable_broker.requests[seen:]) == [
        ("DELETE", f"/v2/service_instances/{BAD_ID}"),
        ("PUT", f"/v2/service_instances/{BAD_ID}"),
    ]
    assert ws.resources()["ServiceInstance/apps/bad"]["status"] == "ready"
    assert set(programmable_broker.instances) == {BAD_ID}
    ws.ok("plan", "--detailed-exitcode", code=0)


def test_a_failure_skips_only_its_own_branch(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write("good.yaml", _instance("good", GOOD_ID))
    ws.write(
        "bindings.yaml", binding_yaml("good-b", "good") + "---\n" + binding_yaml("bad-b", "bad")
    )
    programmable_broker.script("PUT", f"/service_instances/{BAD_ID}$", status=500, body={})
    result = ws.run("apply", "--auto-approve", "--retry-timeout", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "ServiceInstance/apps/bad: provisioning failed" in result.stderr
    assert "ServiceBinding/apps/bad-b: skipped: upstream" in result.stderr
    assert "Secret/apps/bad-b: skipped: upstream" in result.stderr
    assert "good" not in result.stderr

    # The independent branch went all the way.
    assert set(programmable_broker.instances) == {GOOD_ID}
    assert [iid for iid, _ in programmable_broker.bindings] == [GOOD_ID]
    assert set(ws.resources()) == {
        "ServiceInstance/apps/bad",  # its id, for the next attempt
        "ServiceInstance/apps/good",
        "ServiceBinding/apps/good-b",
        "Secret/apps/good-b",
    }
    assert ws.secret_data("apps", "good-b") is not None
    assert ws.secret_data("apps", "bad-b") is None

    # The next apply finishes the failed branch and leaves the good one alone.
    seen = len(programmable_broker.requests)
    ws.ok("apply", "--auto-approve")
    again = mutating(programmable_broker.requests[seen:])
    assert [m for m, _ in again] == ["PUT", "PUT"]
    assert all(path.startswith(f"/v2/service_instances/{BAD_ID}") for _, path in again)
    assert len(ws.resources()) == 6


def test_bind_500_is_orphan_mitigated_and_the_instance_kept(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write("bindings.yaml", binding_yaml("bad-b", "bad"))
    programmable_broker.script("PUT", "/service_bindings/[^/]+$", status=500, body={})
    result = ws.run("apply", "--auto-approve", "--retry-timeout", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "ServiceBinding/apps/bad-b: binding failed" in result.stderr
    methods = [m for m, p in mutating(programmable_broker.requests) if "service_bindings" in p]
    assert methods == ["PUT", "DELETE"]
    assert set(ws.resources()) == {"ServiceInstance/apps/bad", "ServiceBinding/apps/bad-b"}
    assert ws.resources()["ServiceBinding/apps/bad-b"]["status"] == "creating"
    assert programmable_broker.bindings == {}
    assert set(programmable_broker.instances) == {BAD_ID}


def test_failed_async_provision_is_orphan_mitigated(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write(
        "bad.yaml",
        _instance("bad", BAD_ID).replace("PlanExternalName: sync", "PlanExternalName: async"),
    )
    programmable_broker.async_polls = 1000  # in progress until the test fails it

    def fail_when_started() -> None:
        wait_for(lambda: BAD_ID in programmable_broker.instances, 20, "the provision request")
        programmable_broker.fail_operation(BAD_ID, description="quota exceeded")
        programmable_broker.async_polls = 1  # the mitigating deprovision finishes at once

    watcher = threading.Thread(target=fail_when_started)
    watcher.start()
    try:
        result = ws.run("apply", "--auto-approve")
    finally:
        watcher.join(timeout=30)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "quota exceeded" in result.stderr
    assert mutating(programmable_broker.requests)[:2] == [
        ("PUT", f"/v2/service_instances/{BAD_ID}"),
        ("DELETE", f"/v2/service_instances/{BAD_ID}"),
    ]
    assert ws.resources()["ServiceInstance/apps/bad"]["status"] == "creating"
    assert programmable_broker.instances == {}


@pytest.mark.parametrize("status", [400, 500])
def test_failed_destroy_keeps_what_the_broker_kept(
    ws: Workspace, programmable_broker: ProgrammableBroker, status: int
) -> None:
    ws.ok("apply", "--auto-approve")
    programmable_broker.script(
        "DELETE", f"/service_instances/{BAD_ID}$", status=status, body={"description": "no"}
    )
    result = ws.run("destroy", "--auto-approve", "--retry-timeout", "0")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "deprovisioning failed" in result.stderr
    assert set(programmable_broker.instances) == {BAD_ID}
    entry = ws.resources()["ServiceInstance/apps/bad"]
    plan = ws.run("plan", "--detailed-exitcode")
    if status == 400:
        # The broker refused: the instance is untouched, and the configuration still wants it.
        assert entry["status"] == "ready"
        assert plan.exit_code == 0, plan.stdout
    else:
        # A 5xx is uncertain (the spec's orphan mitigation re-issues the DELETE).
        assert entry["status"] == "deleting"
        assert plan.exit_code == 2
    ws.ok("destroy", "--auto-approve")
    assert programmable_broker.instances == {}
    assert ws.resources() == {}


def test_failed_async_bind_is_orphan_mitigated(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write(
        "bad.yaml",
        _instance("bad", BAD_ID).replace("PlanExternalName: sync", "PlanExternalName: async"),
    )
    ws.write("bindings.yaml", binding_yaml("bad-b", "bad"))
    programmable_broker.async_polls = 1
    programmable_broker.script(
        "GET",
        r"/service_bindings/[^/]+/last_operation$",
        body={"state": "failed", "description": "no more connections"},
    )
    result = ws.run("apply", "--auto-approve")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "ServiceBinding/apps/bad-b: binding failed" in result.stderr
    assert "no more connections" in result.stderr
    assert "Secret/apps/bad-b: skipped: upstream" in result.stderr
    bind_calls = [m for m, p in mutating(programmable_broker.requests) if "service_bindings" in p]
    assert bind_calls == ["PUT", "DELETE"]
    assert programmable_broker.bindings == {}
    assert set(ws.resources()) == {"ServiceInstance/apps/bad", "ServiceBinding/apps/bad-b"}
    first = ws.resources()["ServiceBinding/apps/bad-b"]["binding_id"]
    # The next apply binds again, under the same id.
    ws.ok("apply", "--auto-approve")
    assert [bid for _, bid in programmable_broker.bindings] == [first]
    assert ws.secret_data("apps", "bad-b") is not None
