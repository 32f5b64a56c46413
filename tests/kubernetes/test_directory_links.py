"""DirectoryCluster never follows a symbolic link: a link committed into a cluster directory
must not send a Secret (or a workload patch) anywhere else on the machine."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from catalogctl.errors import ClusterError
from catalogctl.providers.kubernetes import DirectoryCluster, mapping_entries
from catalogctl.providers.kubernetes.access import Access
from tests.kubernetes.helpers import pod_mapping, workload

NS = "apps"
OWNER = "ServiceBinding/apps/db-b"
DATA = {"password": b"s3cret"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    DirectoryCluster._warned.clear()
    return tmp_path / "cluster"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    place = tmp_path / "outside"
    place.mkdir()
    return place


def _refuses(root: Path, link: Path, call: object) -> None:
    with pytest.raises(ClusterError) as caught:
        call()  # type: ignore[operator]
    assert str(caught.value) == (
        f"{link} is a symbolic link; catalogctl does not follow links in cluster directory {root}"
    )


def _write_secret(cluster: DirectoryCluster) -> object:
    return cluster.write_binding_secret(namespace=NS, name="db-b", owner=OWNER, data=DATA)


def test_a_linked_kind_directory_is_refused_for_writes_and_reads(root: Path, outside: Path) -> None:
    (root / NS).mkdir(parents=True)
    link = root / NS / "secret"
    link.symlink_to(outside)
    cluster = DirectoryCluster(root)
    _refuses(root, link, lambda: _write_secret(cluster))
    _refuses(root, link, lambda: cluster.read_secret(NS, "db-b"))
    assert list(outside.iterdir()) == []


def test_a_linked_namespace_directory_is_refused(root: Path, outside: Path) -> None:
    root.mkdir()
    link = root / NS
    link.symlink_to(outside)
    cluster = DirectoryCluster(root)
    _refuses(root, link, lambda: _write_secret(cluster))
    assert list(outside.iterdir()) == []


def test_a_linked_secret_file_is_neither_read_nor_replaced(root: Path, outside: Path) -> None:
    target = outside / "victim.yaml"
    target.write_text("kind: Secret\nmetadata: {name: victim}\n")
    (root / NS / "secret").mkdir(parents=True)
    link = root / NS / "secret" / "db-b.yaml"
    link.symlink_to(target)
    cluster = DirectoryCluster(root)
    _refuses(root, link, lambda: _write_secret(cluster))
    _refuses(root, link, lambda: cluster.read_secret(NS, "db-b"))
    assert link.is_symlink()
    assert target.read_text() == "kind: Secret\nmetadata: {name: victim}\n"


def test_a_linked_workload_file_is_not_patched(root: Path, outside: Path) -> None:
    target = outside / "web.yaml"
    target.write_text(yaml.safe_dump(workload("Deployment", "web", NS)))
    before = target.read_text()
    (root / NS / "deployment").mkdir(parents=True)
    link = root / NS / "deployment" / "web.yaml"
    link.symlink_to(target)
    cluster = DirectoryCluster(root)
    mapping = pod_mapping(
        {"target": {"kind": "Deployment", "name": "web"}, "envFrom": {}}, "web-db", NS
    )
    entries = mapping_entries(mapping, "db-b", "PodMapping/apps/web-db")
    _refuses(
        root,
        link,
        lambda: cluster.apply_mapping(namespace=NS, kind="Deployment", name="web", entries=entries),
    )
    assert target.read_text() == before


def test_a_linked_root_is_refused(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "cluster"
    root.symlink_to(outside)
    cluster = DirectoryCluster(root)
    _refuses(root, root, lambda: _write_secret(cluster))
    assert list(outside.iterdir()) == []


def test_check_access_reports_links_and_files_and_accepts_a_fresh_directory(
    root: Path, outside: Path
) -> None:
    cluster = DirectoryCluster(root)
    accesses = Access.secrets("apps") + Access.secrets("web")
    assert cluster.check_access(accesses) == []  # nothing exists yet: created when written
    assert not root.exists()
    (root / "web").mkdir(parents=True)
    (root / "web" / "secret").symlink_to(outside)
    (root / "apps").write_text("")
    assert cluster.check_access(accesses) == [
        f"{root / 'apps'} is not a directory (cluster directory {root})",
        f"{root / 'web' / 'secret'} is a symbolic link; catalogctl does not follow links in "
        f"cluster directory {root}",
    ]
