"""The same flow against the Kubernetes API server emulator (``--kubeconfig``): Secrets and
workload patches go over HTTP, and drift made behind catalogctl's back is found and repaired."""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.brokers.obapi import ObapiBroker
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml, service_catalog_data
from tests.fixtures.kube import KubeApiServer

KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"
NS = "apps"
SECRET = "Secret/apps/queue-binding"
MAPPING = "PodMapping/apps/web-queue"

SERVICES = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: queue
  namespace: apps
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
  namespace: apps
spec:
  instanceRef:
    name: queue
  secretTransforms:
    - addKey:
        key: topic
        stringValue: orders
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-queue
  namespace: apps
spec:
  bindingRef:
    name: queue-binding
  target:
    kind: Deployment
    name: web
    containers: [app]
  env:
    - name: TOPIC
      key: topic
    - name: QUEUE_URI
      key: uri
  volume:
    mountPath: /var/run/queue
"""


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": NS, "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "registry.example.com/web:1.0",
                            "env": [
                                {"name": "LOG_LEVEL", "value": "info"},
                                {"name": "REGION", "value": "eu-west-1"},
                            ],
                            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                        },
                        {
                            "name": "proxy",
                            "image": "registry.example.com/proxy:2.3",
                            "env": [{"name": "UPSTREAM", "value": "127.0.0.1:8080"}],
                            "volumeMounts": [{"name": "proxy-conf", "mountPath": "/etc/proxy"}],
                        },
                    ],
                    "volumes": [
                        {"name": "cache", "emptyDir": {}},
                        {"name": "proxy-conf", "configMap": {"name": "proxy-conf"}},
                    ],
                },
            },
        },
    }


def _core(api: client.ApiClient) -> Any:
    """CoreV1Api, untyped: these tests pass plain dicts, as kubectl would send JSON."""
    return client.CoreV1Api(api)


def _apps(api: client.ApiClient) -> Any:
    return client.AppsV1Api(api)


@pytest.fixture
def api(kube_apiserver: KubeApiServer) -> client.ApiClient:
    api_client = kube_apiserver.api_client()
    _core(api_client).create_namespace({"metadata": {"name": NS}})
    _apps(api_client).create_namespaced_deployment(NS, _deployment())
    return api_client


def _secret(api: client.ApiClient) -> dict[str, Any] | None:
    try:
        resp = _core(api).read_namespaced_secret("queue-binding", NS, _preload_content=False)
    except client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    data: dict[str, Any] = json.loads(resp.data)
    return data


def _secret_data(api: client.ApiClient) -> dict[str, bytes] | None:
    obj = _secret(api)
    if obj is None:
        return None
    return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}


def _deploy(api: client.ApiClient) -> dict[str, Any]:
    resp = _apps(api).read_namespaced_deployment("web", NS, _preload_content=False)
    data: dict[str, Any] = json.loads(resp.data)
    return data


def _containers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in obj["spec"]["template"]["spec"]["containers"]}


def test_kube_flow(
    tmp_path: Path,
    obapi_auth: ObapiBroker,
    obapi_recorder: RecordingMiddleware,
    kube_apiserver: KubeApiServer,
    api: client.ApiClient,
) -> None:
    broker = obapi_auth
    ws = Workspace(tmp_path, kubeconfig=kube_apiserver.kubeconfig_path)
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES)

    before = _deploy(api)["spec"]["template"]["spec"]
    ws.ok("apply", "--auto-approve")
    res = ws.resources()
    iid = res["ServiceInstance/apps/queue"]["instance_id"]
    bid = res["ServiceBinding/apps/queue-binding"]["binding_id"]
    expected = {**service_catalog_data(broker.bindings[(iid, bid)].credentials), "topic": b"orders"}

    # The Secret: ours by label and annotation, data exactly as Service Catalog wrote it.
    secret = _secret(api)
    assert secret is not None
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
    assert secret["metadata"]["annotations"]["catalogctl.io/owner"] == (
        "ServiceBinding/apps/queue-binding"
    )
    assert _secret_data(api) == expected

    # The Deployment: app container mapped; sidecar, other env vars and volumes untouched.
    original = before
    deployed = _deploy(api)
    containers = _containers(deployed)
    app_env = {e["name"]: e for e in containers["app"]["env"]}
    assert list(app_env)[:2] == ["LOG_LEVEL", "REGION"]
    assert app_env["TOPIC"]["valueFrom"]["secretKeyRef"] == {
        "name": "queue-binding",
        "key": "topic",
    }
    assert app_env["QUEUE_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "queue-binding",
        "key": "uri",
    }
    mounts = {m["mountPath"]: m["name"] for m in containers["app"]["volumeMounts"]}
    assert mounts["/cache"] == "cache" and "/var/run/queue" in mounts
    assert containers["proxy"] == original["containers"][1]
    volumes = {v["name"]: v for v in deployed["spec"]["template"]["spec"]["volumes"]}
    assert volumes["cache"] == original["volumes"][0]
    assert volumes["proxy-conf"] == original["volumes"][1]
    assert volumes[mounts["/var/run/queue"]]["secret"]["secretName"] == "queue-binding"
    ws.ok("drift", code=0)
    ws.ok("plan", "--detailed-exitcode", code=0)

    # 1. The Secret is deleted behind catalogctl's back.
    _core(api).delete_namespaced_secret("queue-binding", NS)
    drift = ws.ok("drift", code=2)
    assert SECRET in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert '+ Secret "apps/queue-binding"' in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy." in plan.stdout
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    # Credentials were read again from the broker (bindings_retrievable), not re-bound.
    assert [r.method for r in obapi_recorder.requests if r.method != "GET"] == []
    assert obapi_recorder.of("GET", f"/service_bindings/{bid}$")
    assert _secret_data(api) == expected
    assert set(broker.bindings) == {(iid, bid)}
    ws.ok("drift", code=0)

    # 2. A value of the Secret is edited.
    _core(api).patch_namespaced_secret(
        "queue-binding", NS, {"data": {"password": base64.b64encode(b"tampered").decode()}}
    )
    drift = ws.ok("drift", code=2)
    assert SECRET in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert '~ Secret "apps/queue-binding"' in plan.stdout
    ws.ok("apply", "--auto-approve")
    assert _secret_data(api) == expected
    ws.ok("drift", code=0)

    # 3. The TOPIC env var is removed from the Deployment.
    edited = _deploy(api)
    app = _containers(edited)["app"]
    app["env"] = [e for e in app["env"] if e["name"] != "TOPIC"]
    _apps(api).replace_namespaced_deployment("web", NS, edited)
    drift = ws.ok("drift", code=2)
    assert MAPPING in drift.stdout and "TOPIC" in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert '~ PodMapping "apps/web-queue"' in plan.stdout
    ws.ok("apply", "--auto-approve")
    restored = _containers(_deploy(api))
    assert {e["name"] for e in restored["app"]["env"]} == {
        "LOG_LEVEL",
        "REGION",
        "TOPIC",
        "QUEUE_URI",
    }
    assert restored["proxy"] == original["containers"][1]
    ws.ok("drift", code=0)
    ws.ok("plan", "--detailed-exitcode", code=0)

    # kubectl sees the Secret catalogctl wrote.
    kubeconfig = str(kube_apiserver.kubeconfig_path)
    listed = subprocess.run(
        [KUBECTL, "--kubeconfig", kubeconfig, "get", "secrets", "-n", NS, "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    items = json.loads(listed.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["queue-binding"]
    assert items[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
