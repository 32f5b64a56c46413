"""svcat's views: `get instances|bindings` and `describe`, from state, and live with --refresh."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.brokers.obapi import DB_SERVICE_ID, DB_SMALL_PLAN_ID, ObapiBroker
from tests.cli import run_cli
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml

SERVICES = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
    size: s
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: apps
spec:
  instanceRef:
    name: db
  secretName: db-creds
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: cache
  namespace: team-a
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
    size: m
"""


@pytest.fixture
def ws(tmp_path: Path, obapi_auth: ObapiBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(obapi_auth.url))
    w.write("services.yaml", SERVICES)
    w.ok("apply", "--auto-approve")
    return w


def _state(ws: Workspace) -> list[str]:
    return ["--state", str(ws.state), "--cluster-dir", str(ws.cluster_dir)]


def test_get_instances_and_bindings_from_state(
    ws: Workspace, obapi_recorder: RecordingMiddleware
) -> None:
    obapi_recorder.requests.clear()
    result = run_cli("get", "instances", "-n", "apps", *_state(ws))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "NAME  NAMESPACE  CLASS     PLAN   STATUS",
        "db    apps       obapi-db  small  Ready",
    ]
    every = run_cli("get", "instances", "-A", *_state(ws))
    assert [line.split()[0] for line in every.stdout.splitlines()] == ["NAME", "db", "cache"]
    bindings = run_cli("get", "bindings", "-n", "apps", *_state(ws))
    assert bindings.stdout.splitlines() == [
        "NAME        NAMESPACE  INSTANCE  SECRET    STATUS",
        "db-binding  apps       db        db-creds  Ready",
    ]
    none = run_cli("get", "bindings", "-n", "team-a", *_state(ws))
    assert none.stdout == "No bindings in namespace team-a.\n"
    assert obapi_recorder.requests == []  # state only


def test_describe_an_instance_and_see_it_deleted_live(
    ws: Workspace, obapi_auth: ObapiBroker
) -> None:
    res = ws.resources()["ServiceInstance/apps/db"]
    result = run_cli("describe", "ServiceInstance/apps/db", *_state(ws))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "Name:            db",
        "Namespace:       apps",
        "Status:          Ready",
        lines[3],
    ]
    assert lines[3].startswith("Last operation:  succeeded at ")
    assert f"Instance ID:     {res['instance_id']}" in lines
    assert f"Dashboard URL:   {res['dashboard_url']}" in lines
    assert "Class:           obapi-db" in lines and "Plan:            small" in lines
    assert lines[-4:] == [
        "  size: \"s\"",
        "Bindings:",
        "  NAME        STATUS  SECRET",
        "  db-binding  Ready   db-creds",
    ]
    short = run_cli("describe", "-n", "apps", "ServiceInstance/db", *_state(ws))
    assert short.stdout == result.stdout

    with httpx.Client(
        base_url=obapi_auth.url,
        auth=(obapi_auth.username, obapi_auth.password),
        headers={"X-Broker-API-Version": "2.17"},
    ) as http:
        iid = res["instance_id"]
        bid = ws.resources()["ServiceBinding/apps/db-binding"]["binding_id"]
        query = {"service_id": DB_SERVICE_ID, "plan_id": DB_SMALL_PLAN_ID}
        assert http.delete(
            f"/v2/service_instances/{iid}/service_bindings/{bid}", params=query
        ).is_success
        assert http.delete(f"/v2/service_instances/{iid}", params=query).is_success
    live = run_cli("describe", "ServiceInstance/apps/db", "--refresh", *_state(ws))
    assert live.exit_code == 0, live.stderr
    assert "Status:          Deleted outside catalogctl" in live.stdout
    assert "Live:            deleted outside catalogctl (the broker answered 404" in live.stdout
    table = run_cli("get", "instances", "-n", "apps", "--refresh", *_state(ws))
    assert table.stdout.splitlines()[1].endswith("Deleted outside catalogctl")


def test_describe_refuses_other_kinds_and_suggests_addresses(ws: Workspace) -> None:
    result = run_cli("describe", "ServiceInstance/apps/cache", *_state(ws))
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: ServiceInstance/apps/cache is not in the state "
        "(did you mean ServiceInstance/team-a/cache?)\n"
    )
    secret = run_cli("describe", "Secret/apps/db-creds", *_state(ws))
    assert secret.exit_code == 1
    assert "describe shows ServiceInstance and ServiceBinding addresses" in secret.stderr
