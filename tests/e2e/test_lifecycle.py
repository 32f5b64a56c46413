"""The whole life of a set of services, through the CLI, against the openbrokerapi broker
and a cluster directory: provision, bind, write Secrets, map, update, replace, rebind,
unmap, unbind and destroy, checking the broker's and the cluster's truth at every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.brokers.obapi import (
    DB_LARGE_PLAN_ID,
    DB_SMALL_PLAN_ID,
    QUEUE_PREMIUM_PLAN_ID,
    QUEUE_STANDARD_PLAN_ID,
    ObapiBroker,
)
from tests.e2e.conftest import (
    RecordingMiddleware,
    Workspace,
    assert_golden,
    broker_yaml,
    normalise,
    service_catalog_data,
)

NS = "apps"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: registry.example.com/web:1.0
          env:
            - name: LOG_LEVEL
              value: info
          volumeMounts:
            - name: cache
              mountPath: /cache
      volumes:
        - name: cache
          emptyDir: {}
"""


def instances_yaml(
    *, replicas: int = 1, db_plan: str = "small", queue_plan: str = "standard"
) -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: {db_plan}
  parameters:
    size: s
    replicas: {replicas}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: queue
  namespace: apps
spec:
  clusterServiceClassExternalName: obapi-queue
  clusterServicePlanExternalName: {queue_plan}
  parameters:
    topic: orders
    retentionHours: 24
"""


DB_BINDING = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: apps
spec:
  instanceRef:
    name: db
"""


def queue_binding_yaml(role: str = "producer") -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: queue-binding
  namespace: apps
spec:
  instanceRef:
    name: queue
  parameters:
    role: {role}
"""


MAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-db
  namespace: apps
spec:
  bindingRef:
    name: db-binding
  target:
    kind: Deployment
    name: web
  env:
    - name: DB_URI
      key: uri
    - name: DB_MODE
      value: primary
  volume:
    mountPath: /var/run/db
"""


@pytest.fixture
def ws(tmp_path: Path, obapi_auth: ObapiBroker) -> Workspace:
    cluster = tmp_path / "cluster"
    (cluster / NS / "deployment").mkdir(parents=True)
    (cluster / NS / "deployment" / "web.yaml").write_text(DEPLOYMENT)
    w = Workspace(tmp_path, cluster_dir=cluster)
    w.write("broker.yaml", broker_yaml(obapi_auth.url))
    w.write("instances.yaml", instances_yaml())
    w.write("db-binding.yaml", DB_BINDING)
    w.write("queue-binding.yaml", queue_binding_yaml())
    w.write("mapping.yaml", MAPPING)
    return w


def _ids(ws: Workspace) -> dict[str, str]:
    out = {}
    for address, res in ws.resources().items():
        out[address] = res.get("binding_id") or res.get("instance_id") or ""
    return out


def _broker_secret(broker: ObapiBroker, instance_id: str, binding_id: str) -> dict[str, bytes]:
    return service_catalog_data(broker.bindings[(instance_id, binding_id)].credentials)


def _changed_lines(text: str) -> list[str]:
    """The attribute lines of a human plan that carry a change marker."""
    body = text.split("following actions:", 1)[1]
    return [
        line.strip() for line in body.splitlines() if line.strip()[:2] in ("~ ", "+ ", "- ", "-/")
    ]


def test_lifecycle(
    ws: Workspace, obapi_auth: ObapiBroker, obapi_recorder: RecordingMiddleware
) -> None:
    broker = obapi_auth
    db, queue = "ServiceInstance/apps/db", "ServiceInstance/apps/queue"
    dbb, qb = "ServiceBinding/apps/db-binding", "ServiceBinding/apps/queue-binding"

    # --- first plan: golden human and JSON output; nothing happens at the broker
    first = ws.ok("plan", "--detailed-exitcode", code=2)
    assert_golden(
        "lifecycle_first_plan.txt", normalise(first.stdout.replace(str(ws.root), "<workspace>"))
    )
    first_json = ws.ok("plan", "--json")
    assert_golden("lifecycle_first_plan.json", normalise(first_json.stdout))
    assert [r.method for r in obapi_recorder.requests] == ["GET"] * len(obapi_recorder.requests)
    assert broker.instances == {}

    # --- apply: both instances provisioned (sync and async), bound, Secrets, mapping
    applied = ws.ok("apply", "--auto-approve")
    assert "Apply complete! Resources: 7 added, 0 changed, 0 destroyed." in applied.stdout
    ids = _ids(ws)
    assert set(broker.instances) == {ids[db], ids[queue]}
    assert broker.instances[ids[db]].plan_id == DB_SMALL_PLAN_ID
    assert broker.instances[ids[db]].parameters == {"size": "s", "replicas": 1}
    assert broker.instances[ids[queue]].parameters == {"topic": "orders", "retentionHours": 24}
    assert broker.instances[ids[queue]].state == "ready"
    assert set(broker.bindings) == {(ids[db], ids[dbb]), (ids[queue], ids[qb])}
    assert broker.bindings[(ids[queue], ids[qb])].parameters == {"role": "producer"}
    db_secret = ws.secret_data(NS, "db-binding")
    assert db_secret == _broker_secret(broker, ids[db], ids[dbb])
    assert db_secret is not None
    assert db_secret["port"] == b"5432" and db_secret["tls"] == b"true"
    assert db_secret["limits"] == b'{"burst":false,"connections":20,"ratio":0.75}'
    assert ws.secret_data(NS, "queue-binding") == _broker_secret(broker, ids[queue], ids[qb])
    secret_obj = ws.cluster_object(NS, "Secret", "db-binding")
    assert secret_obj is not None
    assert secret_obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
    assert secret_obj["metadata"]["annotations"]["catalogctl.io/owner"] == dbb
    original = yaml.safe_load(DEPLOYMENT)
    mapped = ws.cluster_object(NS, "Deployment", "web")
    assert mapped is not None
    container = mapped["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [
        {"name": "LOG_LEVEL", "value": "info"},
        {"name": "DB_URI", "valueFrom": {"secretKeyRef": {"name": "db-binding", "key": "uri"}}},
        {"name": "DB_MODE", "value": "primary"},
    ]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert set(mounts) == {"/cache", "/var/run/db"}
    volumes = {v["name"]: v for v in mapped["spec"]["template"]["spec"]["volumes"]}
    assert volumes[mounts["/var/run/db"]["name"]]["secret"]["secretName"] == "db-binding"
    assert volumes["cache"] == {"name": "cache", "emptyDir": {}}
    serial = ws.state_doc()["serial"]

    # --- nothing to do: exit 0 with --detailed-exitcode, and no serial bump on a no-op apply
    again = ws.ok("plan", "--detailed-exitcode", code=0)
    assert "No changes." in again.stdout
    ws.ok("apply", "--auto-approve")
    assert ws.state_doc()["serial"] == serial

    # --- one parameter changes: update of only that key, PATCH with only that key
    ws.write("instances.yaml", instances_yaml(replicas=3))
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "Plan: 0 to add, 1 to change, 0 to replace, 0 to destroy." in plan.stdout
    assert '~ ServiceInstance "apps/db"' in plan.stdout
    assert "  # (parameters changed)\n" in plan.stdout  # an edit, not drift
    assert _changed_lines(plan.stdout) == [
        '~ ServiceInstance "apps/db" {',
        "~ parameters = {",
        "~ replicas = 1 -> 3",
    ]
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    patches = obapi_recorder.of("PATCH")
    assert len(patches) == 1 and patches[0].path.endswith(ids[db])
    assert patches[0].body["parameters"] == {"replicas": 3}
    assert "plan_id" not in patches[0].body
    assert [r.method for r in obapi_recorder.requests if r.method != "GET"] == ["PATCH"]
    assert broker.instances[ids[db]].parameters == {"size": "s", "replicas": 3}
    ws.ok("plan", "--detailed-exitcode", code=0)

    # --- plan change to a plan_updateable plan: in-place update, same ids
    ws.write("instances.yaml", instances_yaml(replicas=3, db_plan="large", queue_plan="premium"))
    plan = ws.ok("plan")
    assert "Plan: 0 to add, 2 to change, 0 to replace, 0 to destroy." in plan.stdout
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    by_id = {r.path.rsplit("/", 1)[1]: r.body for r in obapi_recorder.of("PATCH")}
    assert by_id[ids[db]]["plan_id"] == DB_LARGE_PLAN_ID
    assert by_id[ids[queue]]["plan_id"] == QUEUE_PREMIUM_PLAN_ID
    assert not by_id[ids[db]].get("parameters")
    assert [r.method for r in obapi_recorder.requests if r.method != "GET"] == ["PATCH", "PATCH"]
    assert _ids(ws) == ids
    assert broker.instances[ids[db]].plan_id == DB_LARGE_PLAN_ID
    assert broker.instances[ids[queue]].plan_id == QUEUE_PREMIUM_PLAN_ID
    ws.ok("plan", "--detailed-exitcode", code=0)

    # --- plan change to a plan that is not plan_updateable: replace, binding and Secret too
    ws.write("instances.yaml", instances_yaml(replicas=3, db_plan="large", queue_plan="standard"))
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert_golden("lifecycle_replace_plan.txt", normalise(plan.stdout))
    assert_golden("lifecycle_replace_plan.json", normalise(ws.ok("plan", "--json").stdout))
    assert '-/+ ServiceInstance "apps/queue"' in plan.stdout
    assert '-/+ ServiceBinding "apps/queue-binding"' in plan.stdout
    assert "Plan: 0 to add, 1 to change, 2 to replace, 0 to destroy." in plan.stdout
    old_queue_secret = ws.secret_data(NS, "queue-binding")
    ws.ok("apply", "--auto-approve")
    new_ids = _ids(ws)
    assert new_ids[queue] != ids[queue] and new_ids[qb] != ids[qb]
    assert new_ids[db] == ids[db] and new_ids[dbb] == ids[dbb]
    assert set(broker.instances) == {ids[db], new_ids[queue]}
    assert broker.instances[new_ids[queue]].plan_id == QUEUE_STANDARD_PLAN_ID
    assert set(broker.bindings) == {(ids[db], ids[dbb]), (new_ids[queue], new_ids[qb])}
    queue_secret = ws.secret_data(NS, "queue-binding")
    assert queue_secret == _broker_secret(broker, new_ids[queue], new_ids[qb])
    assert queue_secret != old_queue_secret
    ids = new_ids
    ws.ok("plan", "--detailed-exitcode", code=0)

    # --- binding parameters change: bind anew, new credentials in the Secret, old one unbound
    ws.write("queue-binding.yaml", queue_binding_yaml("consumer"))
    plan = ws.ok("plan")
    assert '+/- ServiceBinding "apps/queue-binding"' in plan.stdout
    ws.ok("apply", "--auto-approve")
    new_ids = _ids(ws)
    assert new_ids[qb] != ids[qb] and new_ids[queue] == ids[queue]
    assert set(broker.bindings) == {(ids[db], ids[dbb]), (ids[queue], new_ids[qb])}
    assert broker.bindings[(ids[queue], new_ids[qb])].parameters == {"role": "consumer"}
    assert ws.secret_data(NS, "queue-binding") == _broker_secret(broker, ids[queue], new_ids[qb])
    ids = new_ids
    ws.ok("plan", "--detailed-exitcode", code=0)

    # --- the mapping leaves the configuration: the workload is back to what it was
    ws.remove("mapping.yaml")
    plan = ws.ok("plan")
    assert "Plan: 0 to add, 0 to change, 0 to replace, 1 to destroy." in plan.stdout
    ws.ok("apply", "--auto-approve")
    unmapped = ws.cluster_object(NS, "Deployment", "web")
    assert unmapped is not None
    assert unmapped["spec"] == original["spec"]
    assert not (unmapped["metadata"].get("annotations") or {})
    assert "PodMapping/apps/web-db" not in ws.resources()

    # --- the binding leaves: unbind and delete its Secret
    ws.remove("db-binding.yaml")
    ws.ok("apply", "--auto-approve")
    assert (ids[db], ids[dbb]) not in broker.bindings
    assert ws.cluster_object(NS, "Secret", "db-binding") is None
    assert dbb not in ws.resources() and "Secret/apps/db-binding" not in ws.resources()
    ws.ok("plan", "--detailed-exitcode", code=0)

    # --- destroy: nothing left at the broker, in the cluster or in state
    destroyed = ws.ok("destroy", "--auto-approve")
    assert "Destroy complete!" in destroyed.stdout
    assert broker.instances == {} and broker.bindings == {}
    assert ws.resources() == {}
    assert ws.cluster_object(NS, "Secret", "queue-binding") is None
    final = ws.cluster_object(NS, "Deployment", "web")
    assert final is not None and final["spec"] == original["spec"]
    assert json.loads(json.dumps(ws.state_doc()))["serial"] > serial


def test_mapping_edit_is_applied_and_not_reported_as_drift(ws: Workspace) -> None:
    ws.ok("apply", "--auto-approve")
    ws.write("mapping.yaml", MAPPING.split("  env:")[0] + "  envFrom:\n    prefix: DB_\n")
    ws.ok("drift", code=0)
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "changed outside of catalogctl" not in plan.stdout
    assert "  # (its mapping changed)\n" in plan.stdout
    ws.ok("apply", "--auto-approve")
    deployed = ws.cluster_object(NS, "Deployment", "web")
    assert deployed is not None
    pod = deployed["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["env"] == [{"name": "LOG_LEVEL", "value": "info"}]
    assert container["envFrom"] == [{"prefix": "DB_", "secretRef": {"name": "db-binding"}}]
    assert [m["mountPath"] for m in container["volumeMounts"]] == ["/cache"]
    assert [v["name"] for v in pod["volumes"]] == ["cache"]
    ws.ok("plan", "--detailed-exitcode", code=0)
