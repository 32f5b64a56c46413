"""One behaviour suite for every ClusterTarget: the API target and the directory target.

The engine must not be able to tell the targets apart, so each test runs
against both: KubeCluster on a real kube-apiserver (a namespace per test), and DirectoryCluster on
a temporary directory seeded with the same workload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from catalogctl.errors import OwnershipError
from catalogctl.providers.kubernetes import (
    ClusterTarget,
    DirectoryCluster,
    KubeCluster,
    WorkloadNotFound,
    mapping_entries,
    secret_data_digest,
)
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"


@dataclass
class Target:
    cluster: ClusterTarget
    add_workload: Callable[[dict[str, Any]], None]
    add_foreign_secret: Callable[[str, dict[str, str]], None]
    ns: str


@pytest.fixture(params=["kube", "directory"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    if request.param == "kube":
        server = request.getfixturevalue("kube_apiserver")
        ns = request.getfixturevalue("kube_namespace")
        api = server.api_client()

        def add_workload(obj: dict[str, Any]) -> None:
            client.AppsV1Api(api).create_namespaced_deployment(ns, obj)

        def add_secret(name: str, data: dict[str, str]) -> None:
            client.CoreV1Api(api).create_namespaced_secret(
                ns, {"metadata": {"name": name}, "stringData": data}
            )

        yield Target(KubeCluster.from_api_client(api, ns), add_workload, add_secret, ns)
    else:
        root = tmp_path / "cluster"
        directory = DirectoryCluster(root, NS)

        def write(kind: str, obj: dict[str, Any]) -> None:
            path = directory.path_of(NS, kind, obj["metadata"]["name"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(obj))

        def add_secret_file(name: str, data: dict[str, str]) -> None:
            write(
                "Secret",
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": name, "namespace": NS},
                    "stringData": data,
                },
            )

        yield Target(directory, lambda obj: write("Deployment", obj), add_secret_file, NS)


def test_binding_secret_lifecycle(target: Target) -> None:
    ns = target.ns
    cluster = target.cluster
    assert not cluster.observe_binding_secret(ns, SECRET).exists
    first = cluster.write_binding_secret(
        namespace=ns, name=SECRET, owner=OWNER, data={"topic": b"orders"}
    )
    assert (first.exists, first.managed, first.owner, first.keys) == (True, True, OWNER, ("topic",))
    second = cluster.write_binding_secret(
        namespace=ns, name=SECRET, owner=OWNER, data={"url": b"amqp://q"}
    )
    assert second.keys == ("url",)
    assert second.data_sha256 == secret_data_digest({"url": b"amqp://q"})
    assert cluster.observe_binding_secret(ns, SECRET) == second
    assert cluster.read_secret(ns, SECRET) == {"url": b"amqp://q"}
    assert cluster.read_secret_key(ns, SECRET, "url") == b"amqp://q"
    assert cluster.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER)
    assert not cluster.delete_binding_secret(namespace=ns, name=SECRET, owner=OWNER)
    assert cluster.read_secret(ns, SECRET) is None


def test_foreign_secrets_are_readable_but_never_overwritten(target: Target) -> None:
    ns = target.ns
    target.add_foreign_secret("auth", {"username": "u", "password": "p"})
    cluster = target.cluster
    assert cluster.read_secret(ns, "auth") == {"username": b"u", "password": b"p"}
    obs = cluster.observe_binding_secret(ns, "auth")
    assert obs.exists and not obs.managed and obs.owner is None
    with pytest.raises(OwnershipError, match=f"Secret {ns}/auth exists but is not managed"):
        cluster.write_binding_secret(namespace=ns, name="auth", owner=OWNER, data={})
    with pytest.raises(OwnershipError):
        cluster.delete_binding_secret(namespace=ns, name="auth", owner=OWNER)


def test_mapping_lifecycle(target: Target) -> None:
    ns = target.ns
    cluster = target.cluster
    target.add_workload(workload(namespace=ns))
    original = cluster.read_workload(ns, "Deployment", "myapp")
    assert original is not None
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    before = cluster.observe_mapping(
        namespace=ns, kind="Deployment", name="myapp", address=entries.address, entries=entries
    )
    assert not before.recorded and len(before.missing) == 5 and not before.in_sync
    applied = cluster.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=entries)
    assert [c.action for c in applied.changes] == ["+"] * 5
    after = cluster.observe_mapping(
        namespace=ns, kind="Deployment", name="myapp", address=entries.address, entries=entries
    )
    assert after.in_sync and after.recorded and len(after.present) == 5
    removed = cluster.remove_mapping(
        namespace=ns, kind="Deployment", name="myapp", address=entries.address
    )
    assert removed is not None and [c.action for c in removed.changes] == ["-"] * 5
    final = cluster.read_workload(ns, "Deployment", "myapp") or {}
    assert final["spec"]["template"] == original["spec"]["template"]
    assert final["metadata"].get("annotations") == original["metadata"].get("annotations")


def test_missing_workload_is_reported(target: Target) -> None:
    ns = target.ns
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    with pytest.raises(WorkloadNotFound, match=f"Deployment {ns}/myapp not found"):
        target.cluster.apply_mapping(namespace=ns, kind="Deployment", name="myapp", entries=entries)
    assert target.cluster.read_workload(ns, "Deployment", "myapp") is None
    assert (
        target.cluster.remove_mapping(
            namespace=ns, kind="Deployment", name="myapp", address=entries.address
        )
        is None
    )


def test_protocol_conformance(target: Target) -> None:
    ns = target.ns
    assert isinstance(target.cluster, ClusterTarget)
    assert target.cluster.default_namespace == ns
    uid = target.cluster.namespace_uid(ns)
    assert uid is None or len(uid) == 36
