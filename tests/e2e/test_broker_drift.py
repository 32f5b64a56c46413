"""Changes made at the broker behind catalogctl's back: parameters edited there, and an
instance deleted there, are reported by ``drift`` and repaired by ``apply``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.brokers.obapi import DB_SERVICE_ID, DB_SMALL_PLAN_ID, ObapiBroker
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml, service_catalog_data

DB = "ServiceInstance/apps/db"
BINDING = "ServiceBinding/apps/db-binding"


def db_yaml(**params: object) -> str:
    lines = "".join(f"    {k}: {v}\n" for k, v in params.items())
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
{lines}---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: apps
spec:
  instanceRef:
    name: db
"""


@pytest.fixture
def ws(tmp_path: Path, obapi_auth: ObapiBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(obapi_auth.url))
    w.write("db.yaml", db_yaml(size="s", replicas=1))
    w.ok("apply", "--auto-approve")
    return w


def _broker_http(broker: ObapiBroker) -> httpx.Client:
    return httpx.Client(
        base_url=broker.url,
        auth=(broker.username, broker.password),
        headers={"X-Broker-API-Version": "2.17"},
    )


def _reason(plan_text: str, address: str) -> str:
    lines = plan_text.split("following actions:", 1)[1].splitlines()
    i = lines.index(next(line for line in lines if line.startswith(f"  # {address} ")))
    return lines[i + 1].strip()


def test_parameters_edited_at_the_broker(
    ws: Workspace, obapi_auth: ObapiBroker, obapi_recorder: RecordingMiddleware
) -> None:
    iid = ws.resources()[DB]["instance_id"]

    # An edit of the configuration is not drift.
    ws.write("db.yaml", db_yaml(size="s", replicas=3))
    plan = ws.ok("plan")
    assert _reason(plan.stdout, DB) == "# (parameters changed)"
    ws.ok("drift", code=0)
    ws.ok("apply", "--auto-approve")

    # Someone changes replicas at the broker.
    with _broker_http(obapi_auth) as http:
        answer = http.patch(
            f"/v2/service_instances/{iid}",
            json={"service_id": DB_SERVICE_ID, "parameters": {"replicas": 5}},
        )
    assert answer.status_code == 200, answer.text
    drift = ws.ok("drift", code=2)
    assert DB in drift.stdout and "replicas" in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert _reason(plan.stdout, DB) == "# (parameters changed outside catalogctl)"
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    (patch,) = obapi_recorder.of("PATCH")
    assert patch.body["parameters"] == {"replicas": 3}
    assert obapi_auth.instances[iid].parameters == {"size": "s", "replicas": 3}
    ws.ok("drift", code=0)

    # A key removed from the configuration is removed at the broker (JSON merge-patch null).
    ws.write("db.yaml", db_yaml(size="s"))
    plan = ws.ok("plan")
    assert "- replicas = 3 -> null" in plan.stdout
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    (patch,) = obapi_recorder.of("PATCH")
    assert patch.body["parameters"] == {"replicas": None}
    assert obapi_auth.instances[iid].parameters == {"size": "s"}
    ws.ok("plan", "--detailed-exitcode", code=0)


def test_instance_deleted_at_the_broker(
    ws: Workspace, obapi_auth: ObapiBroker, obapi_recorder: RecordingMiddleware
) -> None:
    res = ws.resources()
    iid, bid = res[DB]["instance_id"], res[BINDING]["binding_id"]
    query = {"service_id": DB_SERVICE_ID, "plan_id": DB_SMALL_PLAN_ID}
    with _broker_http(obapi_auth) as http:
        assert http.delete(
            f"/v2/service_instances/{iid}/service_bindings/{bid}", params=query
        ).is_success
        assert http.delete(f"/v2/service_instances/{iid}", params=query).is_success

    drift = ws.ok("drift", code=2)
    assert DB in drift.stdout and BINDING in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert '-/+ ServiceBinding "apps/db-binding"' in plan.stdout
    assert "was deleted outside catalogctl" in _reason(plan.stdout, DB)
    ws.ok("apply", "--auto-approve")

    res = ws.resources()
    new_iid, new_bid = res[DB]["instance_id"], res[BINDING]["binding_id"]
    assert new_iid != iid and new_bid != bid
    assert set(obapi_auth.instances) == {new_iid}
    assert set(obapi_auth.bindings) == {(new_iid, new_bid)}
    assert ws.secret_data("apps", "db-binding") == service_catalog_data(
        obapi_auth.bindings[(new_iid, new_bid)].credentials
    )
    ws.ok("plan", "--detailed-exitcode", code=0)
