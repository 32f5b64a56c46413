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
from tests.fixtures.kube import KubeApiServer
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"
OURS = StateMark("11111111-1111-4111-8111-111111111111", "local state at state")
THEIRS = StateMark("22222222-2222-4222-8222-222222222222", "local state at other")


@pytest.fixture
def kube(kube_apiserver: KubeApiServer) -> KubeCluster:
    api = kube_apiserver.api_client()
    client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
    client.AppsV1Api(api).create_namespaced_deployment(NS, workload())
    return KubeCluster.from_api_client(api, NS)


@pytest.fixture
def directory(tmp_path: Path) -> DirectoryCluster:
    cluster = DirectoryCluster(tmp_path / "cluster")
    path = cluster.path_of(NS, "Deployment", "myapp")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(workload()))
    return cluster


@pytest.fixture(params=["kube", "directory"])
def target(request: pytest.FixtureRequest) -> KubeCluster | DirectoryCluster:
    result: KubeCluster | DirectoryCluster = request.getfixturevalue(request.param)
    return result


def test_a_secret_records_its_state_and_refuses_another(
    target: KubeCluster | DirectoryCluster,
) -> None:
    target.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"k": b"1"}, mark=OURS)
    seen = target.observe_binding_secret(NS, SECRET)
    assert seen.mark == OURS
    # the same state rewrites it
    target.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"k": b"2"}, mark=OURS)
    with pytest.raises(OwnershipError) as err:
        target.write_binding_secret(
            namespace=NS, name=SECRET, owner=OWNER, data={"k": b"3"}, mark=THEIRS
        )
    assert str(err.value) == (
        f"Secret {NS}/{SECRET} belongs to another state, local state at state (lineage "
        f"{OURS.lineage}); refusing to overwrite it for {OWNER} of local state at other "
        f"(lineage {THEIRS.lineage})"
    )
    assert target.read_secret(NS, SECRET) == {"k": b"2"}


def test_a_secret_written_before_lineages_is_adopted_by_its_owner(
    target: KubeCluster | DirectoryCluster,
) -> None:
    target.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"k": b"1"})
    assert target.observe_binding_secret(NS, SECRET).mark is None
    target.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"k": b"1"}, mark=OURS)
    assert target.observe_binding_secret(NS, SECRET).mark == OURS


def test_mapping_records_carry_their_state_and_refuse_another(
    target: KubeCluster | DirectoryCluster,
) -> None:
    mapping = pod_mapping(QUEUE_MAPPING)
    address = "PodMapping/cloud-apps/myapp-queue"
    target.apply_mapping(
        namespace=NS,
        kind="Deployment",
        name="myapp",
        entries=mapping_entries(mapping, SECRET, address, OURS),
    )
    obj = target.read_workload(NS, "Deployment", "myapp")
    assert obj is not None
    assert read_records(obj)[address].mark == OURS
    with pytest.raises(OwnershipError, match="belong to another state, local state at state"):
        target.apply_mapping(
            namespace=NS,
            kind="Deployment",
            name="myapp",
            entries=mapping_entries(mapping, SECRET, address, THEIRS),
        )
