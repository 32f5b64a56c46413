"""Rollout on change, through the CLI, on both cluster targets (a cluster directory and a real
kube-apiserver) with the openbrokerapi broker: new credentials raise the Secret's revision,
which goes into the pod template of every mapped workload that rolls, and only theirs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.brokers.obapi import ObapiBroker
from tests.e2e.conftest import Workspace, broker_yaml, service_catalog_data

REVISION = "catalogctl.io/secret-revision"

SERVICES = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: queue
  namespace: {ns}
spec:
  clusterServiceClassExternalName: obapi-queue
  clusterServicePlanExternalName: standard
  parameters:
    topic: orders
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: queue-binding
  namespace: {ns}
spec:
  instanceRef:
    name: queue
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-queue
  namespace: {ns}
spec:
  bindingRef:
    name: queue-binding
  target:
    kind: Deployment
    name: web
  env:
    - name: QUEUE_URI
      key: uri
  rollout: {web_rollout}
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: reader-queue
  namespace: {ns}
spec:
  bindingRef:
    name: queue-binding
  target:
    kind: Deployment
    name: reader
  volume:
    mountPath: /var/run/queue
  rollout: false
"""


def _deployment(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": {"team": "payments"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/a:1"}]},
            },
        },
    }


@dataclass
class Target:
    ws: Workspace
    ns: str
    #: the Deployment ``name`` as the target stores it
    deployment: Callable[[str], dict[str, Any]]
    secret_data: Callable[[], dict[str, bytes] | None]


@pytest.fixture(params=["directory", "apiserver"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "directory":
        ns = "apps"
        cluster = tmp_path / "cluster"
        (cluster / ns / "deployment").mkdir(parents=True)
        for name in ("web", "reader"):
            (cluster / ns / "deployment" / f"{name}.yaml").write_text(
                yaml.safe_dump(dict(_deployment(name), metadata={"name": name, "namespace": ns}))
            )
        ws = Workspace(tmp_path, cluster_dir=cluster)

        def read(name: str) -> dict[str, Any]:
            obj = ws.cluster_object(ns, "Deployment", name)
            assert obj is not None
            return obj

        return Target(ws, ns, read, lambda: ws.secret_data(ns, "queue-binding"))
    server = request.getfixturevalue("kube_apiserver")
    ns = request.getfixturevalue("kube_namespace")
    api = server.api_client()
    apps = client.AppsV1Api(api)
    for name in ("web", "reader"):
        apps.create_namespaced_deployment(ns, _deployment(name))

    def read_live(name: str) -> dict[str, Any]:
        resp = apps.read_namespaced_deployment(name, ns, _preload_content=False)
        data: dict[str, Any] = json.loads(resp.data)
        return data

    def secret_data() -> dict[str, bytes] | None:
        import base64

        obj = client.CoreV1Api(api).read_namespaced_secret("queue-binding", ns)
        return {k: base64.b64decode(v) for k, v in (obj.data or {}).items()}

    return Target(Workspace(tmp_path, kubeconfig=server.kubeconfig(ns)), ns, read_live, secret_data)


def _template_annotations(target: Target, name: str) -> dict[str, str]:
    template = target.deployment(name)["spec"]["template"]
    annotations: dict[str, str] = template["metadata"].get("annotations") or {}
    return annotations


def test_new_credentials_roll_mapped_workloads(target: Target, obapi_auth: ObapiBroker) -> None:
    ws, ns, broker = target.ws, target.ns, obapi_auth
    binding = f"ServiceBinding/{ns}/queue-binding"
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES.format(ns=ns, web_rollout="true"))

    ws.ok("apply", "--auto-approve")
    assert _template_annotations(target, "web") == {"team": "payments", REVISION: "queue-binding=1"}
    assert _template_annotations(target, "reader") == {"team": "payments"}
    assert ws.resources()[f"Secret/{ns}/queue-binding"]["attributes"]["revision"] == 1
    reader_before = target.deployment("reader")["spec"]["template"]
    ws.ok("plan", "--detailed-exitcode", code=0)

    # The plan names the workload that rolls, and not the one that opted out.
    plan = ws.ok("plan", "--replace", binding, "--detailed-exitcode", code=2)
    assert "Rollout: 1 workload will roll to pick up new credentials:" in plan.stdout
    assert f"* Deployment/{ns}/web (PodMapping/{ns}/web-queue)" in plan.stdout
    assert "Deployment/web will roll: new credentials go into" in plan.stdout
    assert f"Deployment/{ns}/reader" not in plan.stdout

    ws.ok("apply", "--replace", binding, "--auto-approve")
    (iid, bid), = broker.bindings
    assert target.secret_data() == service_catalog_data(broker.bindings[(iid, bid)].credentials)
    assert _template_annotations(target, "web") == {"team": "payments", REVISION: "queue-binding=2"}
    assert target.deployment("reader")["spec"]["template"] == reader_before
    resources = ws.resources()
    assert resources[f"Secret/{ns}/queue-binding"]["attributes"]["revision"] == 2
    assert resources[f"PodMapping/{ns}/web-queue"]["attributes"]["secret_revision"] == 2
    ws.ok("plan", "--detailed-exitcode", code=0)

    # Opting out takes catalogctl's annotation away and leaves the owner's.
    ws.write("services.yaml", SERVICES.format(ns=ns, web_rollout="false"))
    ws.ok("apply", "--auto-approve")
    assert _template_annotations(target, "web") == {"team": "payments"}
    ws.ok("plan", "--detailed-exitcode", code=0)
    # ... and a rotation then leaves the pod template alone.
    web_before = target.deployment("web")["spec"]["template"]
    ws.ok("apply", "--replace", binding, "--auto-approve")
    assert target.deployment("web")["spec"]["template"] == web_before


def _age_binding(ws: Workspace, address: str, days: int) -> None:
    """Move the binding's recorded bind time back, through the state backend's own API."""
    from datetime import UTC, datetime, timedelta

    from catalogctl.state import LocalBackend

    backend = LocalBackend(ws.state)
    info = backend.lock("test")
    try:
        journal = backend.begin(backend.read())
        res = journal.get(address)
        assert res is not None
        bound_at = datetime.fromisoformat(str(res.attributes["bound_at"]))
        assert datetime.now(UTC) - bound_at < timedelta(minutes=10)
        aged = (bound_at - timedelta(days=days)).isoformat()
        journal.record(res.model_copy(update={"attributes": {**res.attributes, "bound_at": aged}}))
        journal.commit()
        journal.close()
    finally:
        backend.unlock(info.id)


def test_rotate_older_than_rotates_only_old_credentials(
    target: Target, obapi_auth: ObapiBroker
) -> None:
    ws, ns, broker = target.ws, target.ns, obapi_auth
    binding = f"ServiceBinding/{ns}/queue-binding"
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES.format(ns=ns, web_rollout="true"))
    ws.ok("apply", "--auto-approve")
    (old,) = broker.bindings
    ws.ok("plan", "--rotate-older-than", "30d", "--detailed-exitcode", code=0)

    _age_binding(ws, binding, 31)
    plan = ws.ok("plan", "--rotate-older-than", "30d", "--detailed-exitcode", code=2)
    assert "its credentials are 31d old, older than --rotate-older-than 30d" in plan.stdout
    assert f"* Deployment/{ns}/web (PodMapping/{ns}/web-queue)" in plan.stdout
    ws.ok("plan", "--rotate-older-than", "5w", "--detailed-exitcode", code=0)
    ws.ok("plan", "--detailed-exitcode", code=0)  # without the flag, age is no reason

    ws.ok("apply", "--rotate-older-than", "30d", "--auto-approve")
    (new,) = broker.bindings
    assert new != old and new[0] == old[0]
    assert target.secret_data() == service_catalog_data(broker.bindings[new].credentials)
    assert _template_annotations(target, "web")[REVISION] == "queue-binding=2"
    ws.ok("plan", "--rotate-older-than", "30d", "--detailed-exitcode", code=0)


@pytest.mark.parametrize("age", ["30 days", "30", "d", "0d", "3x"])
def test_rotate_older_than_refuses_a_bad_age(tmp_path: Path, age: str) -> None:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("services.yaml", "")
    result = ws.run("plan", "--rotate-older-than", age)
    assert result.exit_code == 1
    assert "--rotate-older-than" in result.stderr and repr(age) in result.stderr
    assert "Traceback" not in result.stderr


def test_rotate_gives_the_named_bindings_new_credentials(
    target: Target, obapi_auth: ObapiBroker
) -> None:
    ws, ns, broker = target.ws, target.ns, obapi_auth
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES.format(ns=ns, web_rollout="true"))
    ws.ok("apply", "--auto-approve")
    (old,) = broker.bindings

    refused = ws.run("rotate", f"ServiceInstance/{ns}/queue", "--auto-approve")
    assert refused.exit_code == 1
    assert f"'ServiceInstance/{ns}/queue' is not a binding" in refused.stderr
    assert set(broker.bindings) == {old}

    rotated = ws.ok("rotate", f"ServiceBinding/{ns}/queue-binding", "--auto-approve")
    assert f"* Deployment/{ns}/web (PodMapping/{ns}/web-queue)" in rotated.stdout
    (new,) = broker.bindings
    assert new != old
    assert target.secret_data() == service_catalog_data(broker.bindings[new].credentials)
    assert _template_annotations(target, "web")[REVISION] == "queue-binding=2"
    ws.ok("plan", "--detailed-exitcode", code=0)
