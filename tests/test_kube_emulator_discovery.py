"""Discovery, health endpoints, the standalone entry point and a kubectl 1.27 smoke run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeEmulator

REPO = Path(__file__).resolve().parents[1]


def kubectl_binary() -> str:
    """kubectl 1.27 (it sends JSON; newer ones send protobuf for typed create commands)."""
    candidates = [os.environ.get("KUBECTL", ""), "/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
                  shutil.which("kubectl.1.27") or "", shutil.which("kubectl") or ""]
    found = next((c for c in candidates if c and os.access(c, os.X_OK)), None)
    assert found, "kubectl is expected on this machine and in CI"
    return found


# --- discovery -------------------------------------------------------------------------------


def test_version_is_within_kubectl_supported_range(kube_emulator: KubeEmulator) -> None:
    info = client.VersionApi(kube_emulator.api_client()).get_code()
    assert info.major == "1" and 27 <= int(info.minor) <= 31
    assert info.git_version == f"v1.{info.minor}.0"


def test_core_and_group_discovery(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    versions = client.CoreApi(api).get_api_versions()
    assert versions.versions == ["v1"]
    assert versions.server_address_by_client_cidrs[0].client_cidr == "0.0.0.0/0"
    groups = {g.name: g.preferred_version.group_version
              for g in client.ApisApi(api).get_api_versions().groups}
    assert groups == {"apps": "apps/v1", "batch": "batch/v1",
                      "coordination.k8s.io": "coordination.k8s.io/v1",
                      "apiextensions.k8s.io": "apiextensions.k8s.io/v1",
                      "servicecatalog.k8s.io": "servicecatalog.k8s.io/v1beta1"}
    apps_group = client.AppsApi(api).get_api_group()
    assert apps_group.name == "apps" and apps_group.versions[0].version == "v1"


def test_resource_lists_carry_what_kubectl_maps_with(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    core = client.CoreV1Api(api).get_api_resources()
    assert core.group_version == "v1"
    by_name = {r.name: r for r in core.resources}
    secret = by_name["secrets"]
    assert (secret.kind, secret.singular_name, secret.namespaced) == ("Secret", "secret", True)
    assert set(secret.verbs) >= {"create", "delete", "get", "list", "patch", "update", "watch"}
    assert by_name["configmaps"].short_names == ["cm"]
    assert by_name["namespaces"].short_names == ["ns"] and not by_name["namespaces"].namespaced
    apps = {r.name: r for r in client.AppsV1Api(api).get_api_resources().resources}
    assert apps["deployments"].short_names == ["deploy"]
    assert apps["deployments/status"].verbs == ["get", "patch", "update"]
    assert {"statefulsets", "daemonsets"} <= set(apps)
    batch = {r.name for r in client.BatchV1Api(api).get_api_resources().resources}
    assert {"jobs", "cronjobs", "jobs/status", "cronjobs/status"} <= batch


def test_crd_registration_shows_up_in_discovery(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    client.ApiextensionsV1Api(api).create_custom_resource_definition({
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
                 "names": {"plural": "gadgets", "kind": "Gadget", "shortNames": ["gd"]},
                 "versions": [{"name": "v1", "served": True, "storage": True}]}})
    raw = api.call_api("GET", kube_emulator.url + "/apis/example.com/v1")
    doc = json.loads(raw.read())
    assert doc["resources"] == [{"name": "gadgets", "singularName": "gadget",
                                 "namespaced": False, "kind": "Gadget",
                                 "verbs": ["create", "delete", "deletecollection", "get", "list",
                                           "patch", "update", "watch"], "shortNames": ["gd"]}]


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/livez"])
def test_health_endpoints(kube_emulator: KubeEmulator, path: str) -> None:
    resp = kube_emulator.api_client().call_api("GET", kube_emulator.url + path)
    assert resp.status == 200 and resp.read() == b"ok"


# --- standalone ------------------------------------------------------------------------------


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_module_runs_standalone_and_exits_on_signal(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "tests.kube", "--port", "0"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        cfg = client.Configuration()
        cfg.host = line.split()[1]
        api = client.ApiClient(cfg)
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "default" in names
        api.close()
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
        assert proc.stdout.read() == ""  # nothing else is printed
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# --- kubectl ---------------------------------------------------------------------------------


class Kubectl:
    def __init__(self, server: KubeEmulator, tmp: Path) -> None:
        self.base = [kubectl_binary(), "--kubeconfig", str(server.kubeconfig_path),
                     "--cache-dir", str(tmp / "kubecache")]
        self.tmp = tmp

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=60)
        if ok:
            assert done.returncode == 0, done.stderr
        return done

    def write(self, name: str, obj: dict[str, Any]) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(obj))
        return str(path)


def web_deployment(replicas: int) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}}


def test_kubectl_smoke(kube_emulator: KubeEmulator, tmp_path: Path) -> None:
    kubectl = Kubectl(kube_emulator, tmp_path)
    api = kube_emulator.api_client()
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)

    version = json.loads(kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.")
    assert "default" in kubectl("get", "ns").stdout

    secret = kubectl.write("secret.json", {"apiVersion": "v1", "kind": "Secret",
                                           "metadata": {"name": "s1"},
                                           "stringData": {"password": "hunter2"}})
    assert kubectl("create", "-f", secret, "--validate=false").stdout.strip() == \
        "secret/s1 created"
    got = json.loads(kubectl("get", "secret", "s1", "-o", "json").stdout)
    assert got["kind"] == "Secret" and got["data"] == {"password": "aHVudGVyMg=="}
    assert core.read_namespaced_secret("s1", "default").type == "Opaque"
    assert "s1" in kubectl("get", "secrets").stdout
    assert "name: s1" in kubectl("get", "secrets", "-o", "yaml").stdout
    secret = kubectl.write("secret.json", {"apiVersion": "v1", "kind": "Secret",
                                           "metadata": {"name": "s1"},
                                           "stringData": {"password": "rotated"}})
    assert kubectl("apply", "-f", secret, "--validate=false").stdout.strip() == \
        "secret/s1 configured"
    assert core.read_namespaced_secret("s1", "default").data == {"password": "cm90YXRlZA=="}
    again = kubectl("create", "-f", secret, "--validate=false", ok=False)
    assert again.returncode != 0
    assert 'Error from server (AlreadyExists): error when creating' in again.stderr
    assert again.stderr.rstrip().endswith('secrets "s1" already exists')

    manifest = kubectl.write("deploy.json", web_deployment(2))
    assert "deployment.apps/web created" in kubectl("apply", "-f", manifest,
                                                    "--validate=false").stdout
    # catalogctl-style out-of-band edit that a later kubectl apply must not undo
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "app", "env": [{"name": "DB", "valueFrom": {
            "secretKeyRef": {"name": "s1", "key": "password"}}}]}]}}}})
    manifest = kubectl.write("deploy.json", web_deployment(3))
    assert "deployment.apps/web configured" in kubectl("apply", "-f", manifest,
                                                       "--validate=false").stdout
    dep = apps.read_namespaced_deployment("web", "default")
    assert dep.spec.replicas == 3 and dep.metadata.generation == 3
    assert [e.name for e in dep.spec.template.spec.containers[0].env] == ["DB"]
    assert "web" in kubectl("get", "deploy").stdout
    assert json.loads(kubectl("get", "deployment", "web", "-o", "json").stdout)[
        "spec"]["replicas"] == 3
    assert kubectl("scale", "deployment", "web", "--replicas=4").stdout.strip() == \
        "deployment.apps/web scaled"
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 4

    assert 'secret "s1" deleted' in kubectl("delete", "secret", "s1").stdout
    assert 'deployment.apps "web" deleted' in kubectl("delete", "-f", manifest).stdout
    assert core.list_namespaced_secret("default").items == []
    assert apps.list_namespaced_deployment("default").items == []


def test_kubectl_typed_create_and_custom_resources(kube_emulator: KubeEmulator,
                                                   tmp_path: Path) -> None:
    kubectl = Kubectl(kube_emulator, tmp_path)
    kubectl("create", "namespace", "demo")
    kubectl("-n", "demo", "create", "secret", "generic", "creds", "--from-literal=user=admin")
    kubectl("-n", "demo", "label", "secret", "creds", "team=a")
    listed = json.loads(kubectl("get", "secrets", "-A", "-l", "team=a", "-o", "json").stdout)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["creds"]
    instance = kubectl.write("si.json", {
        "apiVersion": "servicecatalog.k8s.io/v1beta1", "kind": "ServiceInstance",
        "metadata": {"name": "db", "namespace": "demo"}, "spec": {"plan": "small"}})
    kubectl("apply", "-f", instance, "--validate=false")
    got = json.loads(kubectl("-n", "demo", "get", "serviceinstances", "db", "-o", "json").stdout)
    assert got["spec"] == {"plan": "small"}
    kubectl("delete", "namespace", "demo")
    missing = kubectl("-n", "demo", "get", "secret", "creds", ok=False)
    # kubectl answers a 404 by checking the namespace, as it does against a cluster
    assert missing.stderr.strip() == 'Error from server (NotFound): namespaces "demo" not found'


def test_server_side_table_for_kubectl_get(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    client.CoreV1Api(api).create_namespaced_secret(
        "default", {"metadata": {"name": "s"}, "stringData": {"a": "1", "b": "2"}})
    resp = api.call_api("GET", kube_emulator.url + "/api/v1/namespaces/default/secrets",
                        header_params={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,"
                                                 "application/json"})
    table = json.loads(resp.read())
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:3] == ["s", "Opaque", 2]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    assert row["object"]["metadata"]["name"] == "s"


def test_kubectl_get_watch_streams_rows(kube_emulator: KubeEmulator, tmp_path: Path) -> None:
    kubectl = Kubectl(kube_emulator, tmp_path)
    core = client.CoreV1Api(kube_emulator.api_client())
    core.create_namespaced_config_map("default", {"metadata": {"name": "first"}})
    proc = subprocess.Popen([*kubectl.base, "get", "configmaps", "--watch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(30, proc.kill)  # a missing line must fail the test, not hang it
    guard.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().split() == ["NAME", "DATA", "AGE"]
        assert proc.stdout.readline().split()[:2] == ["first", "0"]
        core.create_namespaced_config_map("default", {"metadata": {"name": "second"},
                                                      "data": {"k": "v"}})
        assert proc.stdout.readline().split()[:2] == ["second", "1"]
    finally:
        guard.cancel()
        proc.terminate()
        proc.wait(timeout=10)
