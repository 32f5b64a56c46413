"""The engine-facing ``Cluster`` facade, on the directory target (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalogctl.providers.kubernetes import (
    Cluster,
    DirectoryCluster,
    MissingSecretError,
    secret_data_digest,
)
from catalogctl.providers.kubernetes.sources import env_var_name
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, transforms, workload

NS = "cloud-apps"
ADDRESS = "PodMapping/cloud-apps/myapp-queue"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"


@pytest.fixture
def cluster(tmp_path: Path) -> Cluster:
    secrets = tmp_path / "secrets" / "shared" / "ca"
    secrets.mkdir(parents=True)
    (secrets / "ca.crt").write_text("PEM")
    env = {env_var_name(NS, "params", "json"): '{"size": 3}'}
    return Cluster.open(
        cluster_dir=str(tmp_path / "cluster"),
        secrets_dir=str(tmp_path / "secrets"),
        namespace=NS,
        environ=env,
    )


def test_open_with_cluster_dir(cluster: Cluster) -> None:
    assert isinstance(cluster.target, DirectoryCluster)
    assert cluster.target.default_namespace == NS
    assert cluster.description.startswith("cluster directory")


def test_inputs_go_through_the_chain(cluster: Cluster) -> None:
    assert cluster.read_secret_key(NS, "params", "json") == b'{"size": 3}'
    with pytest.raises(MissingSecretError, match="Secret cloud-apps/params key 'other'"):
        cluster.read_secret_key(NS, "params", "other")
    data = cluster.build_secret_data(
        NS,
        {"port": 5432},
        transforms("[{addKeysFrom: {secretRef: {namespace: shared, name: ca}}}]"),
    )
    assert data == {"port": b"5432", "ca.crt": b"PEM"}


def test_secret_and_mapping_round_trip(cluster: Cluster) -> None:
    digest = cluster.write_binding_secret(NS, "cloud-queue-binding", {"topic": b"t"}, OWNER)
    assert digest == secret_data_digest({"topic": b"t"})
    seen = cluster.observe_binding_secret(NS, "cloud-queue-binding")
    assert seen.exists and seen.owner == OWNER and seen.data_hash == digest

    mapping = pod_mapping(QUEUE_MAPPING)
    absent = cluster.observe_mapping(NS, mapping, "cloud-queue-binding", ADDRESS)
    assert not absent.workload_exists
    assert not cluster.workload_exists(NS, "Deployment", "myapp")

    assert isinstance(cluster.target, DirectoryCluster)
    path = cluster.target.path_of(NS, "Deployment", "myapp")
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(workload()))
    assert cluster.workload_exists(NS, "Deployment", "myapp")
    assert len(cluster.observe_mapping(NS, mapping, "cloud-queue-binding", ADDRESS).missing) == 5
    cluster.apply_mapping(NS, mapping, "cloud-queue-binding", ADDRESS)
    observed = cluster.observe_mapping(NS, mapping, "cloud-queue-binding", ADDRESS)
    assert observed.in_sync and observed.missing == ()
    cluster.remove_mapping(NS, "Deployment", "myapp", ADDRESS)
    assert yaml.safe_load(path.read_text()) == workload()
    cluster.delete_binding_secret(NS, "cloud-queue-binding", OWNER)
    assert not cluster.observe_binding_secret(NS, "cloud-queue-binding").exists
    assert cluster.namespace_uid(NS) is None
