"""Invariant 1: ``plan`` (and ``drift``) never change anything, whatever the plan holds:
no PUT/PATCH/DELETE at the broker and nothing but reads at the Kubernetes API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating
from tests.fixtures.cluster import KubeApiServer

MAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-a
  namespace: {ns}
spec:
  bindingRef:
    name: a-binding
  target:
    kind: Deployment
    name: web
  env:
    - name: A_URI
      key: uri
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]},
        },
    },
}


def _core(api: client.ApiClient) -> Any:
    """CoreV1Api, untyped: these tests pass plain dicts, as kubectl would send JSON."""
    return client.CoreV1Api(api)


def _apps(api: client.ApiClient) -> Any:
    return client.AppsV1Api(api)


def test_plan_and_drift_make_no_mutating_call(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ns = kube_namespace
    api = kube_apiserver.api_client()
    _apps(api).create_namespaced_deployment(ns, DEPLOYMENT)
    ws = Workspace(tmp_path, kubeconfig=kube_apiserver.kubeconfig(ns))
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write("a.yaml", instance_yaml("a", namespace=ns, size="s"))
    ws.write("a-binding.yaml", binding_yaml("a-binding", "a", namespace=ns))
    ws.write("mapping.yaml", MAPPING.format(ns=ns))
    ws.write("gone.yaml", instance_yaml("gone", namespace=ns))
    ws.write("swap.yaml", instance_yaml("swap", "sync", namespace=ns))
    ws.ok("apply", "--auto-approve")

    # Every kind of change pending at once: update, replace, delete, create, drift repair.
    ws.write("a.yaml", instance_yaml("a", namespace=ns, size="m"))
    ws.remove("gone.yaml")
    ws.write("swap.yaml", instance_yaml("swap", "large", namespace=ns))
    ws.write("new.yaml", instance_yaml("new", "async", namespace=ns))
    _core(api).delete_namespaced_secret("a-binding", ns)
    broker_seen = len(programmable_broker.requests)
    kube_seen = len(kube_apiserver.audit(ns))
    state_before = ws.state_doc()

    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "to add" in plan.stdout and "1 to destroy" in plan.stdout
    ws.ok("plan", "--json")
    ws.ok("plan", "--out", str(tmp_path / "p.json"))
    ws.ok("plan", "--refresh-only")
    ws.ok("plan", "--destroy")
    ws.ok("plan", "--replace", f"ServiceInstance/{ns}/a")
    ws.ok("drift", code=2)

    broker_requests = programmable_broker.requests[broker_seen:]
    assert mutating(broker_requests) == []
    assert {r.method for r in broker_requests} == {"GET"}
    # refresh did read the live objects
    assert any("/service_instances/" in r.path for r in broker_requests)
    kube_requests = kube_apiserver.audit(ns)[kube_seen:]
    assert kube_requests, "refresh reads Secrets and workloads"
    assert {r.verb for r in kube_requests} == {"get"}
    assert {r.resource for r in kube_requests} >= {"secrets", "deployments"}
    assert ws.state_doc() == state_before
    assert len(programmable_broker.instances) == 3
