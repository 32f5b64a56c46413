"""The whole flow against a real kube-apiserver (``--kubeconfig``) and a real broker on
127.0.0.1: plan, apply, drift made with kubectl behind catalogctl's back found and repaired, and
destroy leaving the workloads as they were."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from catalogctl.providers.kubernetes import KubeCluster
from tests.brokers.obapi import ObapiBroker
from tests.e2e.conftest import RecordingMiddleware, Workspace, broker_yaml, service_catalog_data
from tests.fixtures.cluster import KubeApiServer

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
  secretTransforms:
    - addKey:
        key: topic
        stringValue: orders
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
    containers: [app]
  env:
    - name: TOPIC
      key: topic
    - name: QUEUE_URI
      key: uri
  volume:
    mountPath: /var/run/queue
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: nightly-queue
  namespace: {ns}
spec:
  bindingRef:
    name: queue-binding
  target:
    kind: CronJob
    name: nightly
  envFrom:
    prefix: QUEUE_
"""


def _pod_spec() -> dict[str, Any]:
    return {
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
    }


def _deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": _pod_spec()},
        },
    }


def _cron_job(version: str) -> dict[str, Any]:
    pod = dict(_pod_spec(), restartPolicy="OnFailure")
    return {
        "apiVersion": f"batch/{version}",
        "kind": "CronJob",
        "metadata": {"name": "nightly"},
        "spec": {"schedule": "0 3 * * *",
                 "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }


class Cluster:
    """Reads of the test namespace, through the official client."""

    def __init__(self, api: client.ApiClient, ns: str) -> None:
        self.api = api
        self.ns = ns
        self.cron_version = KubeCluster.from_api_client(api, ns).cron_job_version()

    def create_workloads(self) -> None:
        client.AppsV1Api(self.api).create_namespaced_deployment(self.ns, _deployment())
        client.CustomObjectsApi(self.api).create_namespaced_custom_object(
            "batch", self.cron_version, self.ns, "cronjobs", _cron_job(self.cron_version))

    def secret(self) -> dict[str, Any] | None:
        try:
            resp = client.CoreV1Api(self.api).read_namespaced_secret(
                "queue-binding", self.ns, _preload_content=False)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: dict[str, Any] = json.loads(resp.data)
        return data

    def secret_data(self) -> dict[str, bytes] | None:
        obj = self.secret()
        if obj is None:
            return None
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def web(self) -> dict[str, Any]:
        resp = client.AppsV1Api(self.api).read_namespaced_deployment(
            "web", self.ns, _preload_content=False)
        data: dict[str, Any] = json.loads(resp.data)
        return data

    def web_pod(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.web()["spec"]["template"]["spec"]
        return spec

    def nightly_pod(self) -> dict[str, Any]:
        obj = client.CustomObjectsApi(self.api).get_namespaced_custom_object(
            "batch", self.cron_version, self.ns, "cronjobs", "nightly")
        spec: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return spec


def _containers(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod["containers"]}


@pytest.fixture
def cluster(kube_apiserver: KubeApiServer, kube_namespace: str) -> Cluster:
    cluster = Cluster(kube_apiserver.api_client(), kube_namespace)
    cluster.create_workloads()
    return cluster


def test_kube_flow(
    tmp_path: Path,
    obapi_auth: ObapiBroker,
    obapi_recorder: RecordingMiddleware,
    kube_apiserver: KubeApiServer,
    kube_namespace: str,
    cluster: Cluster,
) -> None:
    ns = kube_namespace
    secret_address = f"Secret/{ns}/queue-binding"
    broker = obapi_auth
    ws = Workspace(tmp_path, kubeconfig=kube_apiserver.kubeconfig(ns))
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES.format(ns=ns))
    web_before, nightly_before = cluster.web_pod(), cluster.nightly_pod()

    # plan reads the cluster and changes nothing in it.
    audit_start = len(kube_apiserver.audit(ns))
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert "Plan: 5 to add, 0 to change, 0 to replace, 0 to destroy." in plan.stdout
    assert [r for r in kube_apiserver.audit(ns)[audit_start:] if r.mutating] == []

    ws.ok("apply", "--auto-approve")
    res = ws.resources()
    iid = res[f"ServiceInstance/{ns}/queue"]["instance_id"]
    bid = res[f"ServiceBinding/{ns}/queue-binding"]["binding_id"]
    expected = {**service_catalog_data(broker.bindings[(iid, bid)].credentials), "topic": b"orders"}

    # The Secret: ours by label and annotation, data exactly as Service Catalog wrote it.
    secret = cluster.secret()
    assert secret is not None
    assert secret["type"] == "Opaque"
    assert secret["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
    assert secret["metadata"]["annotations"]["catalogctl.io/owner"] == (
        f"ServiceBinding/{ns}/queue-binding"
    )
    assert cluster.secret_data() == expected

    # The Deployment: app container mapped; sidecar, other env vars and volumes untouched.
    containers = _containers(cluster.web_pod())
    app_env = {e["name"]: e for e in containers["app"]["env"]}
    assert list(app_env)[:2] == ["LOG_LEVEL", "REGION"]
    assert app_env["TOPIC"]["valueFrom"]["secretKeyRef"] == {"name": "queue-binding",
                                                             "key": "topic"}
    assert app_env["QUEUE_URI"]["valueFrom"]["secretKeyRef"] == {"name": "queue-binding",
                                                                 "key": "uri"}
    mounts = {m["mountPath"]: m["name"] for m in containers["app"]["volumeMounts"]}
    assert mounts["/cache"] == "cache" and "/var/run/queue" in mounts
    assert containers["proxy"] == _containers(web_before)["proxy"]
    volumes = {v["name"]: v for v in cluster.web_pod()["volumes"]}
    assert volumes["cache"] == web_before["volumes"][0]
    assert volumes["proxy-conf"] == web_before["volumes"][1]
    assert volumes[mounts["/var/run/queue"]]["secret"]["secretName"] == "queue-binding"
    # The CronJob (batch/v1beta1 on v1.20, found by discovery): every container mapped.
    for container in cluster.nightly_pod()["containers"]:
        assert {"prefix": "QUEUE_", "secretRef": {"name": "queue-binding"}} in container["envFrom"]
    ws.ok("drift", code=0)
    ws.ok("plan", "--detailed-exitcode", code=0)

    # kubectl reads what catalogctl wrote.
    listed = kube_apiserver.kubectl(
        "get", "secrets", "-l", "app.kubernetes.io/managed-by=catalogctl", "-o", "json",
        namespace=ns)
    items = json.loads(listed.stdout)["items"]
    assert [i["metadata"]["name"] for i in items] == ["queue-binding"]
    topic = kube_apiserver.kubectl(
        "get", "secret", "queue-binding", "-o", "jsonpath={.data.topic}", namespace=ns).stdout
    assert base64.b64decode(topic) == b"orders"
    env = kube_apiserver.kubectl("set", "env", "deployment/web", "-c", "app", "--list",
                                 namespace=ns).stdout
    assert "# TOPIC from secret queue-binding, key topic" in env

    # 1. The Secret is deleted with kubectl.
    kube_apiserver.kubectl("delete", "secret", "queue-binding", namespace=ns)
    drift = ws.ok("drift", code=2)
    assert secret_address in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert f'+ Secret "{ns}/queue-binding"' in plan.stdout
    assert "Plan: 1 to add, 0 to change, 0 to replace, 0 to destroy." in plan.stdout
    obapi_recorder.requests.clear()
    ws.ok("apply", "--auto-approve")
    # Credentials were read again from the broker (bindings_retrievable), not re-bound.
    assert [r.method for r in obapi_recorder.requests if r.method != "GET"] == []
    assert obapi_recorder.of("GET", f"/service_bindings/{bid}$")
    assert cluster.secret_data() == expected
    assert set(broker.bindings) == {(iid, bid)}
    ws.ok("drift", code=0)

    # 2. A value of the Secret is edited with kubectl.
    tampered = base64.b64encode(b"tampered").decode()
    kube_apiserver.kubectl("patch", "secret", "queue-binding", "--type", "merge",
                           "-p", json.dumps({"data": {"topic": tampered}}), namespace=ns)
    drift = ws.ok("drift", code=2)
    assert secret_address in drift.stdout
    assert "tampered" not in drift.stdout and tampered not in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert f'~ Secret "{ns}/queue-binding"' in plan.stdout
    ws.ok("apply", "--auto-approve")
    assert cluster.secret_data() == expected
    ws.ok("drift", code=0)

    # 3. The TOPIC env var is removed from the Deployment by hand.
    kube_apiserver.kubectl("set", "env", "deployment/web", "-c", "app", "TOPIC-", namespace=ns)
    assert "TOPIC" not in {e["name"] for e in _containers(cluster.web_pod())["app"]["env"]}
    drift = ws.ok("drift", code=2)
    assert f"PodMapping/{ns}/web-queue" in drift.stdout and "TOPIC" in drift.stdout
    plan = ws.ok("plan", "--detailed-exitcode", code=2)
    assert f'~ PodMapping "{ns}/web-queue"' in plan.stdout
    ws.ok("apply", "--auto-approve")
    restored = _containers(cluster.web_pod())
    # Put back after the owner's entries, where a new entry goes.
    assert [e["name"] for e in restored["app"]["env"]] == [
        "LOG_LEVEL", "REGION", "QUEUE_URI", "TOPIC"]
    assert restored["proxy"] == _containers(web_before)["proxy"]
    ws.ok("drift", code=0)
    ws.ok("plan", "--detailed-exitcode", code=0)

    # destroy: mappings taken out, Secret deleted, binding and instance gone from the broker.
    ws.ok("destroy", "--auto-approve")
    assert cluster.secret() is None
    assert cluster.web_pod() == web_before
    assert cluster.nightly_pod() == nightly_before
    assert "catalogctl.io/mappings" not in (cluster.web()["metadata"].get("annotations") or {})
    assert broker.bindings == {} and broker.instances == {}
    assert ws.resources() == {}
