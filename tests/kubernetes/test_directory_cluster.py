"""DirectoryCluster: Secrets and workloads as YAML files, read back on refresh."""

from __future__ import annotations

import base64
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalogctl.errors import ClusterError, OwnershipError
from catalogctl.providers.kubernetes import (
    ClusterTarget,
    DirectoryCluster,
    WorkloadNotFound,
    mapping_entries,
)
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"


@pytest.fixture
def cluster(tmp_path: Path) -> DirectoryCluster:
    DirectoryCluster._warned.clear()
    return DirectoryCluster(tmp_path / "cluster")


def put(cluster: DirectoryCluster, obj: dict[str, Any]) -> Path:
    meta = obj["metadata"]
    path = cluster.path_of(meta["namespace"], obj["kind"], meta["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(obj))
    return path


def test_is_a_cluster_target(cluster: DirectoryCluster) -> None:
    assert isinstance(cluster, ClusterTarget)
    assert cluster.namespace_uid(NS) is None
    assert cluster.description.startswith("cluster directory ")


def test_secret_round_trip_layout_and_mode(cluster: DirectoryCluster) -> None:
    obs = cluster.write_binding_secret(
        namespace=NS, name=SECRET, owner=OWNER, data={"topic": b"orders", "bin": b"\x00\x01"}
    )
    path = cluster.root / NS / "secret" / f"{SECRET}.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    obj = yaml.safe_load(path.read_text())
    assert obj["kind"] == "Secret" and obj["type"] == "Opaque"
    assert obj["data"]["topic"] == base64.b64encode(b"orders").decode()
    assert cluster.read_secret(NS, SECRET) == {"topic": b"orders", "bin": b"\x00\x01"}
    assert cluster.observe_binding_secret(NS, SECRET) == obs
    assert [p.name for p in path.parent.iterdir()] == [f"{SECRET}.yaml"]  # no temp files left


def test_a_temp_file_left_by_a_killed_writer_does_not_block_the_next_write(
    cluster: DirectoryCluster,
) -> None:
    cluster.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
    directory = cluster.root / NS / "secret"
    # What a process killed between creating its temp file and the rename
    # leaves behind, under the name this process and thread would use.
    stale = directory / f".{SECRET}.yaml.{os.getpid()}.{threading.get_ident()}.tmp"
    stale.write_text("torn")
    cluster.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})
    assert cluster.read_secret(NS, SECRET) == {"a": b"2"}
    assert [p.name for p in directory.iterdir()] == [f"{SECRET}.yaml"]


def test_a_workload_file_keeps_its_mode_whatever_the_umask(cluster: DirectoryCluster) -> None:
    old = os.umask(0o077)
    try:
        cluster.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        path = str(cluster.path_of(NS, "Deployment", "app"))
        cluster._write(path, "Deployment", workload("Deployment", "app", NS))
    finally:
        os.umask(old)
    assert stat.S_IMODE(cluster.path_of(NS, "Deployment", "app").stat().st_mode) == 0o644
    assert stat.S_IMODE(cluster.path_of(NS, "Secret", SECRET).stat().st_mode) == 0o600


def test_plaintext_warning_logged_once(
    cluster: DirectoryCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    for value in (b"1", b"2", b"3"):
        cluster.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": value})
    warnings = [r for r in caplog.records if "plaintext" in r.getMessage()]
    assert len(warnings) == 1


def test_ownership_rules(cluster: DirectoryCluster) -> None:
    put(
        cluster,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "manual", "namespace": NS},
            "stringData": {"k": "v"},
        },
    )
    with pytest.raises(OwnershipError, match="not managed by catalogctl"):
        cluster.write_binding_secret(namespace=NS, name="manual", owner=OWNER, data={})
    with pytest.raises(OwnershipError):
        cluster.delete_binding_secret(namespace=NS, name="manual", owner=OWNER)
    assert cluster.read_secret(NS, "manual") == {"k": b"v"}  # stringData is read too
    cluster.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
    assert cluster.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER)
    assert not cluster.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER)


def test_mapping_apply_remove_on_files(cluster: DirectoryCluster) -> None:
    path = put(cluster, workload())
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    result = cluster.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=entries)
    assert result.changed
    on_disk = yaml.safe_load(path.read_text())
    env = on_disk["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env[-2]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "topic"}
    obs = cluster.observe_mapping(
        namespace=NS, kind="Deployment", name="myapp", address=entries.address, entries=entries
    )
    assert obs.in_sync
    cluster.remove_mapping(namespace=NS, kind="Deployment", name="myapp", address=entries.address)
    assert yaml.safe_load(path.read_text()) == workload()


def test_missing_workload(cluster: DirectoryCluster) -> None:
    entries = mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET)
    with pytest.raises(
        WorkloadNotFound,
        match=r"Deployment cloud-apps/myapp not found in cluster directory .*myapp\.yaml",
    ):
        cluster.apply_mapping(namespace=NS, kind="Deployment", name="myapp", entries=entries)
    assert (
        cluster.remove_mapping(
            namespace=NS, kind="Deployment", name="myapp", address=entries.address
        )
        is None
    )


def test_bad_yaml_error_does_not_quote_content(cluster: DirectoryCluster) -> None:
    path = cluster.path_of(NS, "Secret", "broken")
    path.parent.mkdir(parents=True)
    path.write_text("data: {password: hunter2-secret\n  : [")
    with pytest.raises(ClusterError) as exc:
        cluster.read_secret(NS, "broken")
    assert "hunter2" not in str(exc.value)


@pytest.mark.parametrize("name", ["..", "a/b", ""])
def test_names_cannot_escape_the_root(cluster: DirectoryCluster, name: str) -> None:
    with pytest.raises(ClusterError, match="invalid name"):
        cluster.read_secret(NS, name)
