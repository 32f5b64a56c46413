"""Crash-safe file writes and concurrent binding Secret writes of DirectoryCluster."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from catalogctl.errors import OwnershipError
from catalogctl.providers.kubernetes.directory import DirectoryCluster
from catalogctl.providers.kubernetes.filewrites import atomic_write

OWNER = "ServiceBinding/default/b"


def test_atomic_write_sets_mode_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = str(tmp_path / "d" / "f.yaml")
    old = os.umask(0o077)
    try:
        atomic_write(path, b"one", 0o644)
        atomic_write(path, b"two", 0o644)
    finally:
        os.umask(old)
    assert Path(path).read_bytes() == b"two"
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)
    assert os.listdir(tmp_path / "d") == ["f.yaml"]
    assert oct(os.stat(tmp_path / "d").st_mode & 0o777) == oct(0o755 & ~0o077)


def test_a_temp_file_left_by_a_killed_writer_is_replaced(tmp_path: Path) -> None:
    path = str(tmp_path / "f.yaml")
    stale = tmp_path / f".f.yaml.{os.getpid()}.{threading.get_ident()}.tmp"
    stale.write_bytes(b"torn")
    atomic_write(path, b"new", 0o600)
    assert Path(path).read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f.yaml"]


def test_concurrent_secret_writes_each_land_and_a_foreign_secret_fails_alone(
    tmp_path: Path,
) -> None:
    cluster = DirectoryCluster(tmp_path)
    foreign = tmp_path / "default" / "secret" / "taken.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: taken\n")
    errors: dict[str, BaseException] = {}

    def write(name: str) -> None:
        try:
            cluster.write_binding_secret(
                namespace="default", name=name, owner=OWNER, data={"n": name.encode()}
            )
        except BaseException as exc:
            errors[name] = exc

    names = [f"s{n}" for n in range(30)] + ["taken"]
    threads = [threading.Thread(target=write, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert list(errors) == ["taken"] and isinstance(errors["taken"], OwnershipError)
    for n in range(30):
        assert cluster.read_secret("default", f"s{n}") == {"n": f"s{n}".encode()}
    assert sorted(os.listdir(foreign.parent)) == sorted(
        [f"s{n}.yaml" for n in range(30)] + ["taken.yaml"]
    )
