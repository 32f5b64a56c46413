"""apply --refresh-only: shows what changed outside catalogctl and accepts it into state,
changing nothing at any broker or in the cluster; the next plan then proposes what the
configuration wants."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.brokers.obapi import DB_SERVICE_ID, DB_SMALL_PLAN_ID, ObapiBroker
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml, mutating

DB = "ServiceInstance/apps/db"
QUEUE_DB = "ServiceInstance/apps/db2"


def db_yaml(name: str, replicas: int) -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: {name}
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
    size: s
    replicas: {replicas}
"""


@pytest.fixture
def ws(tmp_path: Path, obapi_auth: ObapiBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(obapi_auth.url))
    w.write("db.yaml", db_yaml("db", 1))
    w.write("db2.yaml", db_yaml("db2", 1))
    w.ok("apply", "--auto-approve")
    return w


def _broker(broker: ObapiBroker) -> httpx.Client:
    return httpx.Client(
        base_url=broker.url,
        auth=(broker.username, broker.password),
        headers={"X-Broker-API-Version": "2.17"},
    )


def test_refresh_only_apply_accepts_outside_changes_into_state(
    ws: Workspace, obapi_auth: ObapiBroker, obapi_recorder: RecordingMiddleware
) -> None:
    res = ws.resources()
    iid, gone = res[DB]["instance_id"], res[QUEUE_DB]["instance_id"]
    with _broker(obapi_auth) as http:
        assert http.patch(
            f"/v2/service_instances/{iid}",
            json={"service_id": DB_SERVICE_ID, "parameters": {"replicas": 5}},
        ).is_success
        assert http.delete(
            f"/v2/service_instances/{gone}",
            params={"service_id": DB_SERVICE_ID, "plan_id": DB_SMALL_PLAN_ID},
        ).is_success
    serial = ws.state_doc()["serial"]
    obapi_recorder.requests.clear()

    applied = ws.ok("apply", "--refresh-only", "--auto-approve")
    assert "replicas" in applied.stdout and QUEUE_DB in applied.stdout
    assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in applied.stdout
    assert mutating(obapi_recorder.requests) == []
    state = ws.state_doc()
    assert state["serial"] == serial + 1
    assert state["resources"][DB]["parameters"] == {"size": "s", "replicas": 5}
    assert QUEUE_DB not in state["resources"]
    ws.ok("drift", code=0)

    # The configuration still says 1 and db2: the next plan proposes exactly that.
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "~ replicas = 5 -> 1" in plan.stdout
    assert f"# {QUEUE_DB} will be provisioned" in plan.stdout


def test_refresh_only_apply_with_no_drift_changes_nothing(ws: Workspace) -> None:
    before = ws.state_doc()
    result = ws.ok("apply", "--refresh-only", "--auto-approve")
    assert "No changes." in result.stdout
    assert ws.state_doc()["serial"] == before["serial"]


def test_refresh_only_apply_without_a_terminal_asks_for_auto_approve(
    ws: Workspace, obapi_auth: ObapiBroker
) -> None:
    iid = ws.resources()[DB]["instance_id"]
    with _broker(obapi_auth) as http:
        assert http.patch(
            f"/v2/service_instances/{iid}",
            json={"service_id": DB_SERVICE_ID, "parameters": {"replicas": 4}},
        ).is_success
    before = ws.state_doc()
    result = ws.run("apply", "--refresh-only")
    assert result.exit_code == 1
    assert "pass --auto-approve" in result.stderr
    assert ws.state_doc() == before
