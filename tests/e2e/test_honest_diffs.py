"""Diffs say what changes: a changed secret parameter names its key, sensitivity follows
where a value comes from now (so plan and drift agree), and a parameter the broker accepts
only at creation plans a replacement instead of failing the update schema."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.brokers.obapi import DB_SERVICE_ID, ObapiBroker
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml

DB = "ServiceInstance/apps/db"


def db_yaml(inline: dict[str, object], *, from_secret: bool) -> str:
    text = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
""" + "".join(f"    {k}: {json.dumps(v)}\n" for k, v in inline.items())
    if from_secret:
        text += """\
  parametersFrom:
    - secretKeyRef:
        name: db-params
        key: params
"""
    return text


class SecretWorkspace(Workspace):
    """A workspace whose input Secrets live under ``secrets/`` (--secrets-dir)."""

    def target_args(self) -> list[str]:
        return [*super().target_args(), "--secrets-dir", str(self.root / "secrets")]

    def secret_params(self, value: dict[str, object]) -> None:
        path = self.root / "secrets" / "apps" / "db-params" / "params"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


@pytest.fixture
def ws(tmp_path: Path, obapi_auth: ObapiBroker) -> SecretWorkspace:
    w = SecretWorkspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(obapi_auth.url))
    w.secret_params({"replicas": 2})
    w.write("db.yaml", db_yaml({"size": "s"}, from_secret=True))
    w.ok("apply", "--auto-approve")
    return w


def _body(plan_text: str) -> list[str]:
    return [line.rstrip() for line in plan_text.split("following actions:", 1)[1].splitlines()]


def test_a_changed_secret_parameter_names_its_key(ws: SecretWorkspace) -> None:
    ws.secret_params({"replicas": 4})
    plan = ws.ok("plan")
    body = _body(plan.stdout)
    assert "  # (parameters changed)" in body
    assert "          ~ replicas = (sensitive value)" in body
    as_json = ws.ok("plan", "--json").stdout
    assert "(changed)" not in as_json and '"replicas": 4' not in as_json


def test_sensitivity_follows_where_the_value_comes_from_now(
    ws: SecretWorkspace, obapi_auth: ObapiBroker, obapi_recorder: RecordingMiddleware
) -> None:
    iid = ws.resources()[DB]["instance_id"]
    ws.write("db.yaml", db_yaml({"size": "s", "replicas": 2}, from_secret=False))
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert (
        "  # (replicas no longer from a Secret; only state changes, nothing is sent to the broker)"
        in _body(plan.stdout)
    )
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    assert [r.method for r in obapi_recorder.requests if r.method != "GET"] == []
    state = ws.resources()[DB]
    assert state["parameters"] == {"size": "s", "replicas": 2}
    assert state.get("sensitive_parameter_keys", []) == []
    ws.ok("plan", "--detailed-exitcode", code=0)

    # A change at the broker is now seen the same way by drift and by plan.
    with httpx.Client(
        base_url=obapi_auth.url,
        auth=(obapi_auth.username, obapi_auth.password),
        headers={"X-Broker-API-Version": "2.17"},
    ) as http:
        answer = http.patch(
            f"/v2/service_instances/{iid}",
            json={"service_id": DB_SERVICE_ID, "parameters": {"replicas": 5}},
        )
    assert answer.status_code == 200, answer.text
    drift = ws.ok("drift", code=2)
    assert "replicas" in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "  # (parameters changed outside catalogctl)" in _body(plan.stdout)


def test_plan_and_drift_agree_while_a_key_is_still_recorded_as_secret(
    ws: SecretWorkspace, obapi_auth: ObapiBroker
) -> None:
    iid = ws.resources()[DB]["instance_id"]
    with httpx.Client(
        base_url=obapi_auth.url,
        auth=(obapi_auth.username, obapi_auth.password),
        headers={"X-Broker-API-Version": "2.17"},
    ) as http:
        answer = http.patch(
            f"/v2/service_instances/{iid}",
            json={"service_id": DB_SERVICE_ID, "parameters": {"replicas": 5}},
        )
    assert answer.status_code == 200, answer.text
    # replicas moves inline with its old value; state still holds it as secret, so
    # neither drift nor plan can call the broker's 5 a change made outside catalogctl.
    ws.write("db.yaml", db_yaml({"size": "s", "replicas": 2}, from_secret=False))
    ws.ok("drift", code=0)
    plan = ws.ok("plan")
    assert "outside catalogctl" not in plan.stdout


def test_a_create_only_parameter_forces_replacement(
    ws: SecretWorkspace, obapi_auth: ObapiBroker
) -> None:
    old = ws.resources()[DB]["instance_id"]
    ws.write("db.yaml", db_yaml({"size": "m"}, from_secret=True))
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    body = _body(plan.stdout)
    assert "-/+ ServiceInstance \"apps/db\" {" in body
    assert '          ~ size = "s" -> "m" # forces replacement' in body
    assert "Plan: 0 to add, 0 to change, 1 to replace, 0 to destroy." in plan.stdout
    ws.ok("apply", "--auto-approve")
    new = ws.resources()[DB]["instance_id"]
    assert new != old
    assert obapi_auth.instances[new].parameters == {"size": "m", "replicas": 2}
    assert old not in obapi_auth.instances


def test_replace_validates_against_the_create_schema(ws: SecretWorkspace) -> None:
    ws.write("db.yaml", db_yaml({}, from_secret=True))  # size is required at creation
    result = ws.run("plan", "--replace", DB)
    assert result.exit_code == 1, result.stdout
    assert result.stderr.endswith(
        "ServiceInstance/apps/db: spec.parameters: rejected by the plan's schema: "
        "'size' is a required property\nError: 1 problem found\n"
    )
    # without --replace it is an update, which sends no size: nothing to reject
    ws.ok("plan")
