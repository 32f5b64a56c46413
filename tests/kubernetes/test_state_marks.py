"""Every object a cluster target writes records the state it was written for, and a write
for another state is refused at apply time too (the plan-time check's second line)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kubernetes import client

from catalogctl.errors import OwnershipError
from catalogctl.providers.kubernetes import DirectoryCluster, KubeCluster, mapping_entries
from catalogctl.providers.kubernetes.mappings import read_records
from catalogctl.providers.kubernetes.statemark import StateMark
from tests.fixtures.cluster import KubeApiServer
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"
OURS = StateMark("11111111-1111-4111-8111-111111111111", "local state at state")
THEIRS = StateMark("22222222-2222-4222-8222-222222222222", "local state at other")


@pytest.fixture
def kube(kube_apiserver: KubeApiServer, kube_namespace: str) -> KubeCluster:
    api = kube_apiserver.api_client()
    client.AppsV1Api(api).create_namespaced_deployment(
        kube_namespace, workload(namespace=kube_namespace)
    )
    return KubeCluster.from_api_client(api, kube_namespace)


@pytest.fixture
def directory(tmp_path: Path) -> DirectoryCluster:
    cluster = DirectoryCluster(tmp_path / "cluster")
    path = cluster.path_of(NS, "Deployment", "myapp")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(workload()))
    return cluster


@pytest.fixture(params=["kube", "directory"])
def target(request: pytest.FixtureRequest) -> tuple[KubeCluster | DirectoryCluster, str]:
    """A cluster target and the namespace its Deployment ``myapp`` lives in."""
    result: KubeCluster | DirectoryCluster = request.getfixturevalue(request.param)
    ns = request.getfixturevalue("kube_namespace") if request.param == "kube" else NS
    return result, ns


Target = tuple[KubeCluster | DirectoryCluster, str]


def test_a_secret_records_its_state_and_refuses_another(target: Target) -> None:
    cluster, ns = target
    cluster.write_binding_secret(
        namespace=ns, name=SECRET, owner=OWNER, data={"k": b"1"}, mark=OURS
    )
    assert cluster.observe_binding_secret(ns, SECRET).mark == OURS
    # the same state rewrites it
    cluster.write_binding_secret(
        namespace=ns, name=SECRET, owner=OWNER, data={"k": b"2"}, mark=OURS
    )
    with pytest.raises(OwnershipError) as err:
        cluster.write_binding_secret(
            namespace=ns, name=SECRET, owner=OWNER, data={"k": b"3"}, mark=THEIRS
        )
    assert str(err.value) == (
        f"Secret {ns}/{SECRET} belongs to another state, local state at state (lineage "
        f"{OURS.lineage}); refusing to overwrite it for {OWNER} of local state at other "
        f"(lineage {THEIRS.lineage})"
    )
    assert cluster.read_secret(ns, SECRET) == {"k": b"2"}


def test_a_secret_written_before_lineages_is_adopted_by_its_owner(target: Target) -> None:
    cluster, ns = target
    cluster.write_binding_secret(namespace=ns, name=SECRET, owner=OWNER, data={"k": b"1"})
    assert cluster.observe_binding_secret(ns, SECRET).mark is None
    cluster.write_binding_secret(
        namespace=ns, name=SECRET, owner=OWNER, data={"k": b"1"}, mark=OURS
    )
    assert cluster.observe_binding_secret(ns, SECRET).mark == OURS


def test_mapping_records_carry_their_state_and_refuse_another(target: Target) -> None:
    cluster, ns = target
    mapping = pod_mapping(QUEUE_MAPPING, namespace=ns)
    address = f"PodMapping/{ns}/myapp-queue"
    cluster.apply_mapping(
        namespace=ns,
        kind="Deployment",
        name="myapp",
        entries=mapping_entries(mapping, SECRET, address, OURS),
    )
    obj = cluster.read_workload(ns, "Deployment", "myapp")
    assert obj is not None
    assert read_records(obj)[address].mark == OURS
    with pytest.raises(OwnershipError, match="belong to another state, local state at state"):
        cluster.apply_mapping(
            namespace=ns,
            kind="Deployment",
            name="myapp",
            entries=mapping_entries(mapping, SECRET, address, THEIRS),
        )
