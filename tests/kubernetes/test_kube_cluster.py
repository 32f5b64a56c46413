"""KubeCluster against a real kube-apiserver (v1.20.2, built by ``tests/cluster``).

Each test has a namespace of its own on the session's server. Which requests catalogctl made is
read from the server's audit log (verbs, codes, user agents); faults a real server will not
produce on demand (500s, 409 storms, dropped connections) are in ``test_kube_faults.py``, on
the emulator.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from catalogctl.errors import ClusterError, InputError, OwnershipError
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
from tests.cluster.server import free_port
from tests.fixtures.cluster import AuditRecord, KubeApiServer
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, transforms, workload

OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"
PASSWORD = "pw-Zq8!unique-credential"
SMP = "application/strategic-merge-patch+json"
# The user agent of the "someone else" who edits objects behind catalogctl's back.
OTHER_WRITER = "someone-else/1.0"


@pytest.fixture
def ns(kube_namespace: str) -> str:
    return kube_namespace


@pytest.fixture
def api(kube_apiserver: KubeApiServer) -> client.ApiClient:
    return kube_apiserver.api_client()


@pytest.fixture
def other(kube_apiserver: KubeApiServer) -> client.ApiClient:
    """A second client, told apart from catalogctl's in the audit log by its user agent."""
    api_client = kube_apiserver.api_client()
    api_client.user_agent = OTHER_WRITER
    return api_client


@pytest.fixture
def kube(api: client.ApiClient, ns: str) -> KubeCluster:
    return KubeCluster.from_api_client(api, ns)


def catalogctl_calls(server: KubeApiServer, ns: str) -> list[AuditRecord]:
    return [r for r in server.audit(ns) if r.user_agent != OTHER_WRITER]


def create_workload(api: client.ApiClient, ns: str, kind: str = "Deployment") -> dict[str, Any]:
    """Create the helpers' two-container workload of ``kind``; returns the stored object."""
    body = workload(kind, namespace=ns)
    if kind == "CronJob":
        version = KubeCluster.from_api_client(api, ns).cron_job_version()
        body["apiVersion"] = f"batch/{version}"
        created = client.CustomObjectsApi(api).create_namespaced_custom_object(
            "batch", version, ns, "cronjobs", body)
        return dict(created)
    create: Callable[..., Any] = {
        "Deployment": client.AppsV1Api(api).create_namespaced_deployment,
        "StatefulSet": client.AppsV1Api(api).create_namespaced_stateful_set,
        "DaemonSet": client.AppsV1Api(api).create_namespaced_daemon_set,
        "Job": client.BatchV1Api(api).create_namespaced_job,
    }[kind]
    result: dict[str, Any] = json.loads(create(ns, body, _preload_content=False).data)
    return result


def raw_secret(api: client.ApiClient, ns: str, name: str = SECRET) -> dict[str, Any]:
    resp = client.CoreV1Api(api).read_namespaced_secret(name, ns, _preload_content=False)
    result: dict[str, Any] = json.loads(resp.data)
    return result


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    result: dict[str, Any] = spec["template"]["spec"]
    return result


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def interleave_once(monkeypatch: pytest.MonkeyPatch, kube: KubeCluster, method: str,
                    write: Callable[[], None]) -> None:
    """Run ``write`` (another client's change) right after catalogctl's first read through
    ``method``, so catalogctl's next write carries a resourceVersion that is already stale."""
    original = getattr(kube, method)
    done: list[bool] = []

    def read_then_race(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not done:
            done.append(True)
            write()
        return result

    monkeypatch.setattr(kube, method, read_then_race)


class TestSecrets:
    def test_create_then_update_replaces_data_wholesale(
        self, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        obs = kube.write_binding_secret(
            namespace=ns, name=SECRET, owner=OWNER, data={"topic": b"orders", "old": b"x"}
        )
        assert obs.exists and obs.owner == OWNER and obs.keys == ("old", "topic")
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"topic": b"new"})
        obj = raw_secret(api, ns)
        assert obj["type"] == "Opaque"
        assert obj["data"] == {"topic": b64(b"new")}
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "catalogctl"
        assert obj["metadata"]["annotations"]["catalogctl.io/owner"] == OWNER
        managers = {(f["manager"], f["operation"]) for f in obj["metadata"]["managedFields"]}
        assert managers == {("catalogctl", "Update")}

    def test_unchanged_data_makes_no_write(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, api: client.ApiClient, ns: str
    ) -> None:
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})
        version = raw_secret(api, ns)["metadata"]["resourceVersion"]
        obs = kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert obs.data_sha256 == secret_data_digest({"a": b"1"})
        assert raw_secret(api, ns)["metadata"]["resourceVersion"] == version
        writes = [r.verb for r in catalogctl_calls(kube_apiserver, ns) if r.mutating]
        assert writes == ["create"]

    def test_concurrent_edit_is_a_real_conflict_then_retried(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, api: client.ApiClient,
        other: client.ApiClient, ns: str, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The update carries the resourceVersion it read: a write in between makes the server
        answer 409, and catalogctl reads again and writes on top of the other change."""
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})

        def label_it() -> None:
            client.CoreV1Api(other).patch_namespaced_secret(
                SECRET, ns, {"metadata": {"labels": {"team": "payments"}}})

        interleave_once(monkeypatch, kube, "_read_secret_object", label_it)
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"2"})
        updates = [r.code for r in catalogctl_calls(kube_apiserver, ns) if r.verb == "update"]
        assert updates == [409, 200]
        obj = raw_secret(api, ns)
        assert obj["data"] == {"a": b64(b"2")}
        assert obj["metadata"]["labels"]["team"] == "payments"

    def test_refuses_unowned_secret(
        self, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        client.CoreV1Api(api).create_namespaced_secret(
            ns, {"metadata": {"name": SECRET}, "stringData": {"mine": "keep"}}
        )
        with pytest.raises(OwnershipError, match=f"Secret {ns}/{SECRET} exists but is not managed"):
            kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})
        with pytest.raises(OwnershipError):
            kube.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER)
        assert raw_secret(api, ns)["data"] == {"mine": b64(b"keep")}

    def test_refuses_secret_of_another_binding(self, kube: KubeCluster, ns: str) -> None:
        kube.write_binding_secret(
            namespace=ns, name=SECRET, owner="ServiceBinding/cloud-apps/x", data={"a": b"1"}
        )
        with pytest.raises(OwnershipError, match="owned by ServiceBinding/cloud-apps/x"):
            kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"2"})

    def test_delete_on_unbind_and_delete_again(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, ns: str
    ) -> None:
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert kube.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER) is True
        assert not kube.observe_binding_secret(ns, SECRET).exists
        assert kube.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER) is False
        deletes = [r.code for r in catalogctl_calls(kube_apiserver, ns) if r.verb == "delete"]
        assert deletes == [200]

    def test_delete_preconditions_protect_a_recreated_secret(
        self, kube: KubeCluster, api: client.ApiClient, other: client.ApiClient, ns: str,
        kube_apiserver: KubeApiServer, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Between catalogctl's read and its DELETE someone replaces the Secret with their own:
        the uid precondition makes the server refuse, and the re-read finds it unowned."""
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})

        def replace_it() -> None:
            core = client.CoreV1Api(other)
            core.delete_namespaced_secret(SECRET, ns)
            core.create_namespaced_secret(
                ns, {"metadata": {"name": SECRET}, "stringData": {"theirs": "keep"}})

        interleave_once(monkeypatch, kube, "_read_secret_object", replace_it)
        with pytest.raises(OwnershipError, match="not managed"):
            kube.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER)
        assert raw_secret(api, ns)["data"] == {"theirs": b64(b"keep")}
        deletes = [r.code for r in catalogctl_calls(kube_apiserver, ns) if r.verb == "delete"]
        assert deletes == [409]

    def test_missing_namespace_is_cluster_error(self, kube: KubeCluster) -> None:
        with pytest.raises(KubeApiError, match='404 NotFound: namespaces "nope" not found'):
            kube.write_binding_secret(namespace="nope", name=SECRET, owner=OWNER, data={})

    def test_invalid_key_is_the_servers_422(self, kube: KubeCluster, ns: str) -> None:
        with pytest.raises(KubeApiError, match="422 Invalid") as exc:
            kube.write_binding_secret(
                namespace=ns, name=SECRET, owner=OWNER, data={"not a key": PASSWORD.encode()})
        assert exc.value.reason == "Invalid"
        assert PASSWORD not in str(exc.value) and b64(PASSWORD.encode()) not in str(exc.value)

    def test_read_secret_and_key(self, kube: KubeCluster, api: client.ApiClient, ns: str) -> None:
        client.CoreV1Api(api).create_namespaced_secret(
            ns, {"metadata": {"name": "auth"}, "stringData": {"username": "u", "password": "p"}}
        )
        assert kube.read_secret(ns, "auth") == {"username": b"u", "password": b"p"}
        assert kube.read_secret_key(ns, "auth", "password") == b"p"
        assert kube.read_secret_key(ns, "auth", "nope") is None
        assert kube.read_secret(ns, "nope") is None

    def test_namespace_uid(self, kube: KubeCluster, api: client.ApiClient, ns: str) -> None:
        uid = kube.namespace_uid(ns)
        assert uid == client.CoreV1Api(api).read_namespace(ns).metadata.uid
        assert kube.namespace_uid("missing") is None

    def test_kubectl_reads_what_catalogctl_wrote(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, ns: str
    ) -> None:
        creds = {"topic": "orders", "port": 5432, "password": PASSWORD}
        data = build_secret_data(
            creds, transforms("[{renameKey: {from: topic, to: queue}}]"), lambda ns, n: {}
        )
        kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data=data)
        out = kube_apiserver.kubectl("get", "secrets", "-o", "json", namespace=ns).stdout
        [secret] = [i for i in json.loads(out)["items"] if i["metadata"]["name"] == SECRET]
        decoded = {k: base64.b64decode(v) for k, v in secret["data"].items()}
        assert decoded == {"queue": b"orders", "port": b"5432", "password": PASSWORD.encode()}
        assert secret["metadata"]["annotations"]["catalogctl.io/owner"] == OWNER
        listed = kube_apiserver.kubectl(
            "get", "secrets", "-l", "app.kubernetes.io/managed-by=catalogctl", "-o", "name",
            namespace=ns).stdout.split()
        assert listed == [f"secret/{SECRET}"]


class TestMappings:
    ADDRESS = "PodMapping/cloud-apps/myapp-queue"

    def entries(self, spec: dict[str, Any] | None = None) -> Any:
        return mapping_entries(pod_mapping(spec or QUEUE_MAPPING), SECRET)

    def observe(self, kube: KubeCluster, ns: str) -> Any:
        """The queue mapping's observation on Deployment ``myapp``."""
        return kube.observe_mapping(namespace=ns, kind="Deployment", name="myapp",
                                    address=self.ADDRESS, entries=self.entries())

    def test_apply_leaves_sidecar_and_other_entries_untouched(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer, ns: str
    ) -> None:
        create_workload(api, ns)
        original = pod_spec(kube.read_workload(ns, "Deployment", "myapp") or {})
        start = len(kube_apiserver.audit(ns))
        result = kube.apply_mapping(
            namespace=ns, kind="Deployment", name="myapp", entries=self.entries()
        )
        assert result.changed
        obj = kube.read_workload(ns, "Deployment", "myapp") or {}
        live = pod_spec(obj)
        app, sidecar = live["containers"]
        assert sidecar == original["containers"][1]
        assert app["env"][:2] == original["containers"][0]["env"]
        assert [e["name"] for e in app["env"][2:]] == ["TOPIC", "PROVIDER_APPLICATION_CREDENTIALS"]
        assert app["envFrom"][0] == {"configMapRef": {"name": "app-config"}}
        assert app["volumeMounts"][0] == original["containers"][0]["volumeMounts"][0]
        assert live["volumes"][:2] == original["volumes"]
        assert live["volumes"][2]["secret"]["secretName"] == SECRET
        calls = catalogctl_calls(kube_apiserver, ns)[start:]
        assert [(r.verb, r.code) for r in calls if r.mutating] == [("patch", 200)]
        managers = {(f["manager"], f["operation"]) for f in obj["metadata"]["managedFields"]}
        assert ("catalogctl", "Update") in managers

    def test_remove_takes_exactly_our_entries(
        self, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        create_workload(api, ns)
        original = kube.read_workload(ns, "Deployment", "myapp") or {}
        kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=self.entries())
        result = kube.remove_mapping(
            namespace=ns, kind="Deployment", name="myapp", address=self.ADDRESS
        )
        assert result is not None and result.changed
        live = kube.read_workload(ns, "Deployment", "myapp") or {}
        assert pod_spec(live) == pod_spec(original)
        assert "catalogctl.io/mappings" not in (live["metadata"].get("annotations") or {})

    def test_reapply_and_observe_in_sync(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer, ns: str
    ) -> None:
        create_workload(api, ns)
        kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=self.entries())
        again = kube.apply_mapping(
            namespace=ns, kind="Deployment", name="myapp", entries=self.entries()
        )
        assert not again.changed
        patches = [r for r in catalogctl_calls(kube_apiserver, ns) if r.verb == "patch"]
        assert len(patches) == 1
        obs = self.observe(kube, ns)
        assert obs.in_sync and obs.recorded and len(obs.present) == 5

    def test_mapping_removed_by_hand_is_drift_and_apply_restores_it(
        self, kube: KubeCluster, api: client.ApiClient, other: client.ApiClient, ns: str
    ) -> None:
        create_workload(api, ns)
        kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=self.entries())
        client.AppsV1Api(other).patch_namespaced_deployment(
            "myapp", ns,
            {"spec": {"template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "TOPIC", "$patch": "delete"}]}]}}}},
            _content_type=SMP,
        )
        obs = self.observe(kube, ns)
        assert obs.missing == ("env TOPIC [app]",)
        assert [str(c) for c in obs.pending] == [
            f"+ env TOPIC (from Secret {SECRET} key topic) [container app]"
        ]
        assert kube.apply_mapping(
            namespace=ns, kind="Deployment", name="myapp", entries=self.entries()).changed
        env = pod_spec(kube.read_workload(ns, "Deployment", "myapp") or {})["containers"][0]["env"]
        # Restored after the owner's entries (where a new entry goes), never before them.
        assert [e["name"] for e in env] == [
            "LOG_LEVEL", "DB_PASSWORD", "PROVIDER_APPLICATION_CREDENTIALS", "TOPIC"]
        assert self.observe(kube, ns).in_sync

    def test_mapping_the_second_container_keeps_container_order(
        self, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        """A patch naming only the sidecar must not move it ahead of the app container (the
        server's merge puts a patch's items first unless told the order)."""
        create_workload(api, ns)
        spec = dict(QUEUE_MAPPING, target={"kind": "Deployment", "name": "myapp",
                                           "containers": ["sidecar"]})
        kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp",
                           entries=self.entries(spec))
        live = pod_spec(kube.read_workload(ns, "Deployment", "myapp") or {})
        assert [c["name"] for c in live["containers"]] == ["app", "sidecar"]
        assert [e["name"] for e in live["containers"][1]["env"]] == [
            "PROXY_PORT", "TOPIC", "PROVIDER_APPLICATION_CREDENTIALS"]
        assert [v["name"] for v in live["volumes"]] == ["data", "proxy-certs", "myapp-queue"]

    @pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "CronJob"])
    def test_each_workload_kind(
        self, kind: str, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        create_workload(api, ns, kind)
        original = kube.read_workload(ns, kind, "myapp") or {}
        spec = dict(QUEUE_MAPPING, target={"kind": kind, "name": "myapp", "containers": ["app"]})
        kube.apply_mapping(namespace=ns, kind=kind, name="myapp", entries=self.entries(spec))
        live = kube.read_workload(ns, kind, "myapp") or {}
        app = pod_spec(live)["containers"][0]
        assert app["env"][-1]["name"] == "PROVIDER_APPLICATION_CREDENTIALS"
        assert pod_spec(live)["volumes"][-1]["name"] == "myapp-queue"
        assert kube.observe_mapping(
            namespace=ns, kind=kind, name="myapp", address=self.ADDRESS, entries=self.entries(spec)
        ).in_sync
        kube.remove_mapping(namespace=ns, kind=kind, name="myapp", address=self.ADDRESS)
        assert pod_spec(kube.read_workload(ns, kind, "myapp") or {}) == pod_spec(original)

    def test_cron_job_version_is_discovered(
        self, kube: KubeCluster, kube_apiserver: KubeApiServer, api: client.ApiClient, ns: str
    ) -> None:
        """v1.20 serves CronJob only as batch/v1beta1 (batch/v1 from 1.21): found, not assumed."""
        groups = client.BatchV1Api(api).get_api_resources()
        has_v1 = any(r.name == "cronjobs" for r in groups.resources)
        assert kube.cron_job_version() == ("v1" if has_v1 else "v1beta1")
        assert kube_apiserver.version == "v1.20.2" and not has_v1
        created = create_workload(api, ns, "CronJob")
        assert created["apiVersion"] == "batch/v1beta1"

    def test_job_template_is_immutable(
        self, kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer, ns: str
    ) -> None:
        """The server rejects pod-template changes to an existing Job, so catalogctl says so
        at plan time and sends nothing."""
        create_workload(api, ns, "Job")
        with pytest.raises(client.ApiException) as server_says:
            client.BatchV1Api(api).patch_namespaced_job(
                "myapp", ns,
                {"spec": {"template": {"spec": {"containers": [
                    {"name": "app", "env": [{"name": "X", "value": "1"}]}]}}}},
                _content_type=SMP,
            )
        assert server_says.value.status == 422 and "field is immutable" in str(
            server_says.value.body)
        spec = dict(QUEUE_MAPPING, target={"kind": "Job", "name": "myapp", "containers": ["app"]})
        with pytest.raises(ImmutableWorkloadError, match="a Job's pod template cannot change"):
            kube.observe_mapping(
                namespace=ns, kind="Job", name="myapp", address=self.ADDRESS,
                entries=self.entries(spec),
            )
        before = len(catalogctl_calls(kube_apiserver, ns))
        with pytest.raises(ImmutableWorkloadError, match="catalogctl render mappings"):
            kube.apply_mapping(namespace=ns, kind="Job", name="myapp", entries=self.entries(spec))
        assert not [r for r in catalogctl_calls(kube_apiserver, ns)[before:] if r.mutating]

    def test_missing_workload(self, kube: KubeCluster, ns: str) -> None:
        with pytest.raises(WorkloadNotFound, match=f"Deployment {ns}/myapp not found in cluster"):
            kube.apply_mapping(
                namespace=ns, kind="Deployment", name="myapp", entries=self.entries()
            )
        with pytest.raises(WorkloadNotFound):
            self.observe(kube, ns)
        assert kube.remove_mapping(
            namespace=ns, kind="Deployment", name="myapp", address=self.ADDRESS) is None
        gone = kube.observe_mapping(
            namespace=ns, kind="Deployment", name="myapp", address=self.ADDRESS, entries=None
        )
        assert not gone.workload_exists

    def test_concurrent_edit_is_a_real_conflict_and_the_patch_is_recomputed(
        self, kube: KubeCluster, api: client.ApiClient, other: client.ApiClient, ns: str,
        kube_apiserver: KubeApiServer, monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        create_workload(api, ns)

        def scale_it() -> None:
            client.AppsV1Api(other).patch_namespaced_deployment(
                "myapp", ns, {"spec": {"replicas": 3}})

        interleave_once(monkeypatch, kube, "read_workload", scale_it)
        kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=self.entries())
        patches = [r.code for r in catalogctl_calls(kube_apiserver, ns) if r.verb == "patch"]
        assert patches == [409, 200]
        live = kube.read_workload(ns, "Deployment", "myapp") or {}
        assert live["spec"]["replicas"] == 3
        assert self.observe(kube, ns).in_sync

    def test_concurrent_mappings_from_threads(
        self, kube: KubeCluster, api: client.ApiClient, ns: str
    ) -> None:
        create_workload(api, ns)
        errors: list[BaseException] = []

        def run(i: int) -> None:
            spec = {
                "target": QUEUE_MAPPING["target"],
                "env": [{"name": f"VAR_{i}", "key": "k"}],
                "volume": {"mountPath": f"/m/{i}"},
            }
            try:
                kube.apply_mapping(
                    namespace=ns, kind="Deployment", name="myapp",
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
        live = kube.read_workload(ns, "Deployment", "myapp") or {}
        names = {e["name"] for e in pod_spec(live)["containers"][0]["env"]}
        assert {f"VAR_{i}" for i in range(4)} <= names
        records = json.loads(live["metadata"]["annotations"]["catalogctl.io/mappings"])
        assert len(records) == 4


class TestDirectoryEquivalence:
    def test_directory_and_api_produce_identical_objects(
        self, kube: KubeCluster, api: client.ApiClient, tmp_path: Path, ns: str
    ) -> None:
        create_workload(api, ns)
        dir_cluster = DirectoryCluster(tmp_path / "cluster")
        wl_path = tmp_path / "cluster" / ns / "deployment" / "myapp.yaml"
        wl_path.parent.mkdir(parents=True)
        # Start both from the same object: the API server's copy carries its defaults.
        original = kube.read_workload(ns, "Deployment", "myapp") or {}
        wl_path.write_text(yaml.safe_dump(original))
        entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
        data = {"topic": b"orders", "key.json": b"{}"}
        for target in (kube, dir_cluster):
            target.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data=data)
            target.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=entries)
        api_obj = kube.read_workload(ns, "Deployment", "myapp") or {}
        dir_obj = dir_cluster.read_workload(ns, "Deployment", "myapp") or {}
        assert pod_spec(api_obj) == pod_spec(dir_obj)
        assert api_obj["metadata"]["annotations"] == dir_obj["metadata"]["annotations"]
        assert kube.observe_binding_secret(ns, SECRET) == dir_cluster.observe_binding_secret(
            ns, SECRET
        )
        for target in (kube, dir_cluster):
            target.remove_mapping(
                namespace=ns, kind="Deployment", name="myapp", address=entries.address
            )
        assert (
            pod_spec(kube.read_workload(ns, "Deployment", "myapp") or {})
            == pod_spec(dir_cluster.read_workload(ns, "Deployment", "myapp") or {})
            == pod_spec(original)
        )


class TestConnection:
    def test_kubeconfig_flag_context_and_namespace(self, kube_apiserver: KubeApiServer) -> None:
        conn = KubeConnection(
            KubeOptions(kubeconfig=str(kube_apiserver.kubeconfig_path)), environ={}
        )
        assert conn.namespace == "default"
        assert conn.description == f"cluster {kube_apiserver.url} (context catalogctl-test)"
        assert KubeCluster(conn).namespace_uid("default")

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

    def test_unreachable_cluster_is_cluster_error(
        self, kube_apiserver: KubeApiServer, tmp_path: Path
    ) -> None:
        config = yaml.safe_load(kube_apiserver.kubeconfig_path.read_text())
        config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        cluster = KubeCluster(KubeConnection(KubeOptions(kubeconfig=str(path)), environ={}),
                              timeout=2)
        with pytest.raises(ClusterError, match="cannot reach cluster"):
            cluster.read_secret("default", "x")

    def test_untrusted_server_certificate_is_cluster_error(
        self, kube_apiserver: KubeApiServer, tmp_path: Path
    ) -> None:
        config = yaml.safe_load(kube_apiserver.kubeconfig_path.read_text())
        del config["clusters"][0]["cluster"]["certificate-authority"]
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        cluster = KubeCluster(KubeConnection(KubeOptions(kubeconfig=str(path)), environ={}))
        with pytest.raises(ClusterError, match="cannot reach cluster"):
            cluster.read_secret("default", "x")

    def test_wrong_token_is_the_servers_401(
        self, kube_apiserver: KubeApiServer, tmp_path: Path
    ) -> None:
        config = yaml.safe_load(kube_apiserver.kubeconfig_path.read_text())
        config["users"][0]["user"]["token"] = "not-the-token"
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(config))
        cluster = KubeCluster(KubeConnection(KubeOptions(kubeconfig=str(path)), environ={}))
        with pytest.raises(KubeApiError, match="401 Unauthorized") as exc:
            cluster.read_secret("default", "x")
        assert "not-the-token" not in str(exc.value)


def test_reads_and_observations_make_no_mutating_call(
    kube: KubeCluster, api: client.ApiClient, kube_apiserver: KubeApiServer, ns: str
) -> None:
    """What plan and refresh use must only read (architecture invariant 1)."""
    create_workload(api, ns)
    kube.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"a": b"1"})
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    kube.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=entries)
    start = len(catalogctl_calls(kube_apiserver, ns))
    kube.observe_binding_secret(ns, SECRET)
    kube.observe_binding_secret(ns, "missing")
    kube.read_secret(ns, SECRET)
    kube.read_secret_key(ns, SECRET, "a")
    kube.read_workload(ns, "Deployment", "myapp")
    changed = dict(QUEUE_MAPPING, env=[{"name": "OTHER", "key": "x"}])
    obs = kube.observe_mapping(
        namespace=ns, kind="Deployment", name="myapp", address=entries.address,
        entries=mapping_entries(pod_mapping(changed), SECRET),
    )
    assert not obs.in_sync
    kube.observe_mapping(
        namespace=ns, kind="Deployment", name="myapp", address=entries.address, entries=None
    )
    kube.namespace_uid(ns)
    verbs = {r.verb for r in catalogctl_calls(kube_apiserver, ns)[start:]}
    assert verbs == {"get"}


def test_many_requests_reuse_connections(
    kube: KubeCluster, caplog: pytest.LogCaptureFixture, ns: str
) -> None:
    caplog.set_level(logging.WARNING, logger="urllib3")
    for _ in range(60):
        kube.observe_binding_secret(ns, SECRET)
    assert "Connection pool is full" not in caplog.text


def test_kubeconfig_list_merges_files_and_context_selects(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
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
    chosen = KubeConnection(KubeOptions(context="catalogctl-test"), environ=env)
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
