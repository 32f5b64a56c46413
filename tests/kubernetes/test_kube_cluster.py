"""KubeCluster end to end against the API server emulator, over real HTTP."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from catalogctl.errors import ClusterError, InputError, OwnershipError, ProviderError
from catalogctl.providers.kubernetes import (
    DirectoryCluster,
    ImmutableWorkloadError,
    KubeApiError,
    KubeCluster,
    KubeConnection,
    KubeOptions,
    WorkloadNotFound,
    build_secret_data,
    mapping_entries,
    secret_data_digest,
)
from catalogctl.providers.kubernetes.sources import ChainSecretSource
from tests.fixtures.kube import KubeApiServer
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, transforms, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"
KUBECTL = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27"
PASSWORD = "pw-Zq8!unique-credential"
TOKEN = "tok-9f8e7d-unique-token"


@pytest.fixture
def api(kube_apiserver: KubeApiServer) -> client.ApiClient:
    api_client = kube_apiserver.api_client()
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": NS}})
    return api_client


@pytest.fixture
def kube(api: client.ApiClient) -> KubeCluster:
    return KubeCluster.from_api_client(api, NS)


def create_workload(api: client.ApiClient, kind: str = "Deployment") -> None:
    body = workload(kind)
    if kind == "Deployment":
        client.AppsV1Api(api).create_namespaced_deployment(NS, body)
    elif kind == "StatefulSet":
        client.AppsV1Api(api).create_namespaced_stateful_set(NS, body)
    elif kind == "DaemonSet":
        client.AppsV1Api(api).create_namespaced_daemon_set(NS, body)
    elif kind == "Job":
        client.BatchV1Api(api).create_namespaced_job(NS, body)
    else:
        client.BatchV1Api(api).create_namespaced_cron_job(NS, body)


def raw_secret(api: client.ApiClient, name: str) -> dict[str, Any]:
    resp = client.CoreV1Api(api).read_namespaced_secret(name, NS, _preload_content=False)
    result: dict[str, Any] = json.loads(resp.data)
    return result


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    result: dict[str, Any] = spec["template"]["spec"]
    return result


def mutations(server: KubeApiServer) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests if r.method not in ("GET",)]


class TestSecrets:
    def test_create_then_update_replaces_data_wholesale(
        self, kube: KubeCluster, api: client.ApiClient
    ) -> None:
        obs = kube.write_binding_secret(
            namespace=NS, name=SECRET, owner=OWNER, data={"topic": b"orders", "old": b"x"}
        )
        assert obs.exists and obs.owner == OWNER and obs.keys == ("old", "topic")
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"topic": b"new"})
        obj = raw_secret(api, SECRET)
        assert obj["type"] == "Opaque"
        assert obj["data"] == {"topic": base64.b64encode(b"new").decode()}
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
        assert obj["metadata"]["annotations"]["catalogctl.io/owner"] == OWNER

    def test_update_sends_resource_version(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})
        put = [r for r in kube_apiserver.requests if r.method == "PUT"]
        assert len(put) == 1 and put[0].body["metadata"]["resourceVersion"]

    def test_unchanged_data_makes_no_write(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        before = len(mutations(kube_apiserver))
        obs = kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert len(mutations(kube_apiserver)) == before
        assert obs.data_sha256 == secret_data_digest({"a": b"1"})

    def test_conflict_is_retried(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, api: client.ApiClient
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube_apiserver.inject_fault(
            "PUT",
            rf"/secrets/{SECRET}$",
            409,
            "Conflict",
            f'Operation cannot be fulfilled on secrets "{SECRET}"',
            count=2,
        )
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})
        puts = [r for r in kube_apiserver.requests if r.method == "PUT"]
        assert [r.status for r in puts] == [409, 409, 200]
        assert raw_secret(api, SECRET)["data"]["a"] == base64.b64encode(b"2").decode()

    def test_create_race_already_exists_is_retried(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        kube_apiserver.inject_fault(
            "POST", r"/secrets$", 409, "AlreadyExists", f'secrets "{SECRET}" already exists'
        )
        obs = kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert obs.exists
        assert [r.status for r in kube_apiserver.requests if r.method == "POST"][-2:] == [409, 201]

    def test_conflicts_are_bounded(self, kube: KubeCluster, kube_apiserver: KubeApiServer) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube_apiserver.inject_fault("PUT", r"/secrets/", 409, "Conflict", "modified", count=100)
        with pytest.raises(KubeApiError) as exc:
            kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})
        assert exc.value.status == 409 and exc.value.reason == "Conflict"
        assert len([r for r in kube_apiserver.requests if r.method == "PUT"]) == 5

    def test_refuses_unowned_secret(self, kube: KubeCluster, api: client.ApiClient) -> None:
        client.CoreV1Api(api).create_namespaced_secret(
            NS, {"metadata": {"name": SECRET}, "stringData": {"mine": "keep"}}
        )
        with pytest.raises(OwnershipError, match=f"Secret {NS}/{SECRET} exists but is not managed"):
            kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        with pytest.raises(OwnershipError):
            kube.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER)
        assert raw_secret(api, SECRET)["data"] == {"mine": base64.b64encode(b"keep").decode()}

    def test_refuses_secret_of_another_binding(self, kube: KubeCluster) -> None:
        kube.write_binding_secret(
            namespace=NS, name=SECRET, owner="ServiceBinding/cloud-apps/x", data={"a": b"1"}
        )
        with pytest.raises(OwnershipError, match="owned by ServiceBinding/cloud-apps/x"):
            kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})

    def test_delete_and_delete_again(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert kube.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER) is True
        assert not kube.observe_binding_secret(NS, SECRET).exists
        assert kube.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER) is False
        delete = next(r for r in kube_apiserver.requests if r.method == "DELETE")
        assert delete.body["preconditions"]["uid"]

    def test_delete_404_race_counts_as_gone(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube_apiserver.inject_fault(
            "DELETE", r"/secrets/", 404, "NotFound", f'secrets "{SECRET}" not found'
        )
        assert kube.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER) is False

    def test_missing_namespace_is_cluster_error(self, kube: KubeCluster) -> None:
        with pytest.raises(KubeApiError, match='404 NotFound: namespaces "nope" not found'):
            kube.write_binding_secret(namespace="nope", name=SECRET, owner=OWNER, data={})

    def test_read_secret_and_key(self, kube: KubeCluster, api: client.ApiClient) -> None:
        client.CoreV1Api(api).create_namespaced_secret(
            NS, {"metadata": {"name": "auth"}, "stringData": {"username": "u", "password": "p"}}
        )
        assert kube.read_secret(NS, "auth") == {"username": b"u", "password": b"p"}
        assert kube.read_secret_key(NS, "auth", "password") == b"p"
        assert kube.read_secret_key(NS, "auth", "nope") is None
        assert kube.read_secret(NS, "nope") is None

    def test_namespace_uid(self, kube: KubeCluster, kube_apiserver: KubeApiServer) -> None:
        uid = kube.namespace_uid(NS)
        assert uid and len(uid) == 36
        assert kube.namespace_uid("missing") is None
        kube_apiserver.inject_fault("GET", r"/namespaces/cloud-apps$", 403, "Forbidden", "no")
        assert kube.namespace_uid(NS) is None

    def test_kubectl_lists_what_catalogctl_wrote(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer
    ) -> None:
        creds = {"topic": "orders", "port": 5432, "password": PASSWORD}
        data = build_secret_data(
            creds, transforms("[{renameKey: {from: topic, to: queue}}]"), lambda ns, n: {}
        )
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data=data)
        out = subprocess.run(
            [
                KUBECTL,
                "--kubeconfig",
                str(kube_apiserver.kubeconfig_path),
                "get",
                "secrets",
                "-n",
                NS,
                "-o",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        items = json.loads(out)["items"]
        [secret] = [i for i in items if i["metadata"]["name"] == SECRET]
        decoded = {k: base64.b64decode(v) for k, v in secret["data"].items()}
        assert decoded == {"queue": b"orders", "port": b"5432", "password": PASSWORD.encode()}
        assert secret["metadata"]["annotations"]["catalogctl.io/owner"] == OWNER


class TestMappings:
    ADDRESS = "PodMapping/cloud-apps/myapp-queue"

    def entries(self, spec: dict[str, Any] | None = None) -> Any:
        return mapping_entries(pod_mapping(spec or QUEUE_MAPPING), SECRET)

    def test_apply_leaves_sidecar_and_other_entries_untouched(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer
    ) -> None:
        create_workload(api)
        original = pod_spec(kube.read_workload(NS, "Deployment", "myapp") or {})
        result = kube.apply_mapping(
            namespace=NS, kind="Deployment", name="myapp", entries=self.entries()
        )
        assert result.changed
        live = pod_spec(kube.read_workload(NS, "Deployment", "myapp") or {})
        app, sidecar = live["containers"]
        assert sidecar == original["containers"][1]
        assert app["env"][:2] == original["containers"][0]["env"]
        assert [e["name"] for e in app["env"][2:]] == ["TOPIC", "PROVIDER_APPLICATION_CREDENTIALS"]
        assert app["envFrom"][0] == {"configMapRef": {"name": "app-config"}}
        assert app["volumeMounts"][0] == original["containers"][0]["volumeMounts"][0]
        assert live["volumes"][:2] == original["volumes"]
        assert live["volumes"][2]["secret"]["secretName"] == SECRET
        patch = next(r for r in kube_apiserver.requests if r.method == "PATCH")
        assert patch.content_type.startswith("application/strategic-merge-patch+json")
        assert patch.query.get("fieldManager") == "catalogctl"
        assert patch.body["metadata"]["resourceVersion"]

    def test_remove_takes_exactly_our_entries(
        self, kube: KubeCluster, api: client.ApiClient
    ) -> None:
        create_workload(api)
        original = kube.read_workload(NS, "Deployment", "myapp") or {}
        kube.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=self.entries())
        result = kube.remove_mapping(
            namespace=NS, kind="Deployment", name="myapp", address=self.ADDRESS
        )
        assert result is not None and result.changed
        live = kube.read_workload(NS, "Deployment", "myapp") or {}
        assert pod_spec(live) == pod_spec(original)
        assert "catalogctl.io/mappings" not in (live["metadata"].get("annotations") or {})

    def test_reapply_and_observe_in_sync(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer
    ) -> None:
        create_workload(api)
        kube.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=self.entries())
        patches = len([r for r in kube_apiserver.requests if r.method == "PATCH"])
        again = kube.apply_mapping(
            namespace=NS, kind="Deployment", name="myapp", entries=self.entries()
        )
        assert not again.changed
        assert len([r for r in kube_apiserver.requests if r.method == "PATCH"]) == patches
        obs = kube.observe_mapping(
            namespace=NS,
            kind="Deployment",
            name="myapp",
            address=self.ADDRESS,
            entries=self.entries(),
        )
        assert obs.in_sync and obs.recorded and len(obs.present) == 5

    def test_observe_detects_drift(self, kube: KubeCluster, api: client.ApiClient) -> None:
        create_workload(api)
        kube.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=self.entries())
        client.AppsV1Api(api).patch_namespaced_deployment(
            "myapp",
            NS,
            {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {"name": "app", "env": [{"name": "TOPIC", "$patch": "delete"}]}
                            ]
                        }
                    }
                }
            },
            _content_type="application/strategic-merge-patch+json",
        )
        obs = kube.observe_mapping(
            namespace=NS,
            kind="Deployment",
            name="myapp",
            address=self.ADDRESS,
            entries=self.entries(),
        )
        assert obs.missing == ("env TOPIC [app]",)
        assert [str(c) for c in obs.pending] == [
            f"+ env TOPIC (from Secret {SECRET} key topic) [container app]"
        ]

    @pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "CronJob"])
    def test_each_workload_kind(self, kind: str, kube: KubeCluster, api: client.ApiClient) -> None:
        create_workload(api, kind)
        original = kube.read_workload(NS, kind, "myapp") or {}
        spec = dict(QUEUE_MAPPING, target={"kind": kind, "name": "myapp", "containers": ["app"]})
        kube.apply_mapping(namespace=NS, kind=kind, name="myapp", entries=self.entries(spec))
        live = kube.read_workload(NS, kind, "myapp") or {}
        app = pod_spec(live)["containers"][0]
        assert app["env"][-1]["name"] == "PROVIDER_APPLICATION_CREDENTIALS"
        assert pod_spec(live)["volumes"][-1]["name"] == "myapp-queue"
        assert kube.observe_mapping(
            namespace=NS, kind=kind, name="myapp", address=self.ADDRESS, entries=self.entries(spec)
        ).in_sync
        kube.remove_mapping(namespace=NS, kind=kind, name="myapp", address=self.ADDRESS)
        assert pod_spec(kube.read_workload(NS, kind, "myapp") or {}) == pod_spec(original)

    def test_job_template_is_immutable(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer
    ) -> None:
        """Kubernetes rejects pod-template changes to an existing Job; say so at plan time."""
        create_workload(api, "Job")
        spec = dict(QUEUE_MAPPING, target={"kind": "Job", "name": "myapp", "containers": ["app"]})
        with pytest.raises(ImmutableWorkloadError, match="a Job's pod template cannot change"):
            kube.observe_mapping(
                namespace=NS,
                kind="Job",
                name="myapp",
                address=self.ADDRESS,
                entries=self.entries(spec),
            )
        with pytest.raises(ImmutableWorkloadError, match="catalogctl render mappings"):
            kube.apply_mapping(namespace=NS, kind="Job", name="myapp", entries=self.entries(spec))
        assert "PATCH" not in {r.method for r in kube_apiserver.requests}

    def test_missing_workload(self, kube: KubeCluster) -> None:
        with pytest.raises(WorkloadNotFound, match=f"Deployment {NS}/myapp not found in cluster"):
            kube.apply_mapping(
                namespace=NS, kind="Deployment", name="myapp", entries=self.entries()
            )
        with pytest.raises(WorkloadNotFound):
            kube.observe_mapping(
                namespace=NS,
                kind="Deployment",
                name="myapp",
                address=self.ADDRESS,
                entries=self.entries(),
            )
        assert (
            kube.remove_mapping(namespace=NS, kind="Deployment", name="myapp", address=self.ADDRESS)
            is None
        )
        gone = kube.observe_mapping(
            namespace=NS, kind="Deployment", name="myapp", address=self.ADDRESS, entries=None
        )
        assert not gone.workload_exists

    def test_patch_conflict_is_recomputed(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer
    ) -> None:
        create_workload(api)
        kube_apiserver.inject_fault("PATCH", r"/deployments/myapp$", 409, "Conflict", "modified")
        kube.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=self.entries())
        assert [r.status for r in kube_apiserver.requests if r.method == "PATCH"] == [409, 200]

    def test_concurrent_mappings_from_threads(
        self, kube: KubeCluster, api: client.ApiClient
    ) -> None:
        create_workload(api)
        errors: list[BaseException] = []

        def run(i: int) -> None:
            spec = {
                "target": QUEUE_MAPPING["target"],
                "env": [{"name": f"VAR_{i}", "key": "k"}],
                "volume": {"mountPath": f"/m/{i}"},
            }
            try:
                kube.apply_mapping(
                    namespace=NS,
                    kind="Deployment",
                    name="myapp",
                    entries=mapping_entries(pod_mapping(spec, name=f"m{i}"), SECRET),
                )
            except BaseException as e:  # pragma: no cover - reported below
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        live = kube.read_workload(NS, "Deployment", "myapp") or {}
        names = {e["name"] for e in pod_spec(live)["containers"][0]["env"]}
        assert {f"VAR_{i}" for i in range(4)} <= names
        records = json.loads(live["metadata"]["annotations"]["catalogctl.io/mappings"])
        assert len(records) == 4


class TestDirectoryEquivalence:
    def test_directory_and_api_produce_identical_objects(
        self, kube: KubeCluster, api: client.ApiClient, tmp_path: Path
    ) -> None:
        import yaml

        create_workload(api)
        dir_cluster = DirectoryCluster(tmp_path / "cluster")
        wl_path = tmp_path / "cluster" / NS / "deployment" / "myapp.yaml"
        wl_path.parent.mkdir(parents=True)
        # Start both from the same object: the API server's copy carries its defaults.
        original = kube.read_workload(NS, "Deployment", "myapp") or {}
        wl_path.write_text(yaml.safe_dump(original))
        entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
        data = {"topic": b"orders", "key.json": b"{}"}
        for target in (kube, dir_cluster):
            target.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data=data)
            target.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=entries)
        api_obj = kube.read_workload(NS, "Deployment", "myapp") or {}
        dir_obj = dir_cluster.read_workload(NS, "Deployment", "myapp") or {}
        assert pod_spec(api_obj) == pod_spec(dir_obj)
        assert api_obj["metadata"]["annotations"] == dir_obj["metadata"]["annotations"]
        assert kube.observe_binding_secret(NS, SECRET) == dir_cluster.observe_binding_secret(
            NS, SECRET
        )
        for target in (kube, dir_cluster):
            target.remove_mapping(
                namespace=NS, kind="Deployment", name="myapp", address=entries.address
            )
        assert (
            pod_spec(kube.read_workload(NS, "Deployment", "myapp") or {})
            == pod_spec(dir_cluster.read_workload(NS, "Deployment", "myapp") or {})
            == pod_spec(original)
        )


class TestConnection:
    def test_kubeconfig_flag_context_and_namespace(self, kube_apiserver: KubeApiServer) -> None:
        conn = KubeConnection(
            KubeOptions(kubeconfig=str(kube_apiserver.kubeconfig_path)), environ={}
        )
        assert conn.namespace == "default"
        assert conn.description == f"cluster {kube_apiserver.url} (context emulator)"
        cluster = KubeCluster(conn)
        assert cluster.namespace_uid("default")

    def test_kubeconfig_env_list_skips_missing_files(
        self, kube_apiserver: KubeApiServer, tmp_path: Path
    ) -> None:
        env = {"KUBECONFIG": f"{tmp_path / 'missing'}:{kube_apiserver.kubeconfig_path}"}
        conn = KubeConnection(KubeOptions(namespace="team-a"), environ=env)
        assert conn.configured
        assert conn.namespace == "team-a"
        assert KubeCluster(conn).namespace_uid("kube-system")

    def test_unknown_context(self, kube_apiserver: KubeApiServer) -> None:
        conn = KubeConnection(
            KubeOptions(kubeconfig=str(kube_apiserver.kubeconfig_path), context="prod"), environ={}
        )
        with pytest.raises(InputError, match="context 'prod' not found in kubeconfig"):
            conn.api_client()

    def test_unreachable_cluster_is_cluster_error(self, kube_apiserver: KubeApiServer) -> None:
        conn = KubeConnection(
            KubeOptions(kubeconfig=str(kube_apiserver.kubeconfig_path)), environ={}
        )
        cluster = KubeCluster(conn, timeout=2)
        kube_apiserver.stop()
        with pytest.raises(ClusterError, match="cannot reach cluster"):
            cluster.read_secret("default", "x")


class TestNoSecretLeaks:
    def test_values_never_in_logs_or_errors(
        self,
        kube: KubeCluster,
        api: client.ApiClient,
        kube_apiserver: KubeApiServer,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        client.CoreV1Api(api).create_namespaced_secret(
            NS,
            {
                "metadata": {"name": "broker-auth"},
                "stringData": {"username": "admin", "password": PASSWORD, "token": TOKEN},
            },
        )
        sources = ChainSecretSource.standard(kube, environ={})
        messages: list[str] = []
        creds: dict[str, Any] = {"password": PASSWORD, "nested": {"token": TOKEN}}
        data = build_secret_data(
            creds,
            transforms(
                "[{addKeysFrom: {secretRef: {name: broker-auth}}},"
                " {addKey: {key: t, jsonPathExpression: '{.nested.token}'}}]"
            ),
            sources.require_secret,
            namespace=NS,
        )
        create_workload(api)
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data=data)
        kube.apply_mapping(
            namespace=NS,
            kind="Deployment",
            name="myapp",
            entries=mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET),
        )
        kube_apiserver.inject_fault(
            "PUT", r"/secrets/", 422, "Invalid", "Secret is invalid", count=10
        )
        for attempt in (
            lambda: kube.write_binding_secret(
                namespace=NS, name=SECRET, owner=OWNER, data={"password": PASSWORD.encode() + b"2"}
            ),
            lambda: kube.write_binding_secret(
                namespace=NS, name="broker-auth", owner=OWNER, data={"password": PASSWORD.encode()}
            ),
            lambda: kube.delete_binding_secret(namespace=NS, name="broker-auth", owner=OWNER),
            lambda: build_secret_data(
                creds,
                transforms("[{addKey: {key: x, jsonPathExpression: '{.password.deeper}'}}]"),
                sources.require_secret,
            ),
            lambda: build_secret_data(
                creds,
                transforms("[{addKeysFrom: {secretRef: {name: nope}}}]"),
                sources.require_secret,
                namespace=NS,
            ),
            lambda: sources.require_key(NS, "broker-auth", "missing"),
        ):
            with pytest.raises(ProviderError) as exc:
                attempt()
            messages.append(str(exc.value))
            messages.append(repr(exc.value))
        assert len(messages) == 12
        everything = caplog.text + "\n".join(messages)
        for secret_value in (PASSWORD, TOKEN, base64.b64encode(PASSWORD.encode()).decode()):
            assert secret_value not in everything
        assert "created Secret cloud-apps/cloud-queue-binding" in caplog.text


def test_reads_and_observations_make_no_mutating_call(
    kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer
) -> None:
    """What plan and refresh use must only GET (architecture invariant 1)."""
    create_workload(api)
    kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    kube.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=entries)
    start = len(kube_apiserver.requests)
    kube.observe_binding_secret(NS, SECRET)
    kube.observe_binding_secret(NS, "missing")
    kube.read_secret(NS, SECRET)
    kube.read_secret_key(NS, SECRET, "a")
    kube.read_workload(NS, "Deployment", "myapp")
    changed = dict(QUEUE_MAPPING, env=[{"name": "OTHER", "key": "x"}])
    obs = kube.observe_mapping(
        namespace=NS,
        kind="Deployment",
        name="myapp",
        address=entries.address,
        entries=mapping_entries(pod_mapping(changed), SECRET),
    )
    assert not obs.in_sync
    kube.observe_mapping(
        namespace=NS, kind="Deployment", name="myapp", address=entries.address, entries=None
    )
    kube.namespace_uid(NS)
    methods = {r.method for r in kube_apiserver.requests[start:]}
    assert methods == {"GET"}


def test_many_requests_reuse_connections(
    kube: KubeCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    for _ in range(60):
        kube.observe_binding_secret(NS, SECRET)
    assert "Connection pool is full" not in caplog.text


def test_kubeconfig_list_merges_files_and_context_selects(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    import yaml

    first = tmp_path / "first"
    first.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "other",
                "clusters": [{"name": "other", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "other", "user": {"token": "x"}}],
                "contexts": [
                    {
                        "name": "other",
                        "context": {"cluster": "other", "user": "other", "namespace": "elsewhere"},
                    }
                ],
            }
        )
    )
    env = {"KUBECONFIG": f"{first}:{kube_apiserver.kubeconfig_path}"}
    default = KubeConnection(KubeOptions(), environ=env)
    assert default.namespace == "elsewhere"  # the first file's current-context wins
    chosen = KubeConnection(KubeOptions(context="emulator"), environ=env)
    assert chosen.namespace == "default"
    assert KubeCluster(chosen).namespace_uid("default")


def test_in_cluster_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kubernetes.config import incluster_config

    from catalogctl.providers.kubernetes import connection

    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_text("not checked until a request is made")
    (sa / "namespace").write_text("catalogctl-system\n")
    monkeypatch.setattr(connection, "IN_CLUSTER_TOKEN_FILE", str(sa / "token"))
    monkeypatch.setattr(connection, "IN_CLUSTER_NAMESPACE_FILE", str(sa / "namespace"))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(sa / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(sa / "ca.crt"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    conn = KubeConnection(KubeOptions())
    assert conn.configured
    assert conn.namespace == "catalogctl-system"
    assert conn.description == "cluster https://10.0.0.1:443"
    assert KubeConnection(KubeOptions(namespace="apps")).namespace == "apps"
