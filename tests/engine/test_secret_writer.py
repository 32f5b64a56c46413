"""SecretWriter: Secrets due together go to a grouping target a batch per thread trip."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from catalogctl.engine.executor import SecretWriter
from catalogctl.errors import ClusterError, OwnershipError
from catalogctl.providers.kubernetes.directory import DirectoryCluster
from catalogctl.providers.kubernetes.facade import Cluster
from catalogctl.providers.kubernetes.secrets import BindingSecretWrite, secret_data_digest

OWNER = "ServiceBinding/apps/b"


class RecordingTarget:
    """A grouping cluster port whose first batch is held until released."""

    groups_secret_writes = True

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = threading.Event()
        self.first = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def write_binding_secrets(self, writes: Sequence[BindingSecretWrite]) -> list[Any]:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            first = not self.batches
            self.batches.append([w.name for w in writes])
        if first:
            self.first.set()
            assert self.release.wait(10)
        with self._lock:
            self.in_flight -= 1
        return [
            ClusterError(f"{w.name} refused") if w.name.startswith("bad") else f"digest-{w.name}"
            for w in writes
        ]


def write(name: str) -> BindingSecretWrite:
    return BindingSecretWrite("apps", name, {"k": name.encode()}, OWNER)


@pytest.mark.asyncio
async def test_secrets_due_together_share_trips_and_keep_their_own_outcome() -> None:
    target = RecordingTarget()
    writer = SecretWriter(target)  # type: ignore[arg-type]
    first = asyncio.ensure_future(writer(write("s0")))
    await asyncio.to_thread(target.first.wait, 10)
    # While the first trip is held, a second trip takes what is pending; the
    # rest waits for a free trip and goes out together.
    names = ["s1", "bad-2", "s3", "s4", "s5"]
    later = [asyncio.ensure_future(writer(write(n))) for n in names]
    await asyncio.sleep(0.05)
    target.release.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)
    assert results[0] == "digest-s0"
    assert results[1] == "digest-s1"
    assert isinstance(results[2], ClusterError) and "bad-2 refused" in str(results[2])
    assert results[3:] == ["digest-s3", "digest-s4", "digest-s5"]
    assert target.batches[0] == ["s0"]
    assert sorted(n for batch in target.batches[1:] for n in batch) == sorted(names)
    assert len(target.batches) <= 3  # not one trip per Secret
    assert target.max_in_flight <= SecretWriter.trips


@pytest.mark.asyncio
async def test_a_failed_trip_fails_each_of_its_secrets() -> None:
    class Broken:
        groups_secret_writes = True

        def write_binding_secrets(self, writes: Sequence[BindingSecretWrite]) -> list[Any]:
            raise ClusterError("disk full")

    writer = SecretWriter(Broken())  # type: ignore[arg-type]
    results = await asyncio.gather(writer(write("a")), writer(write("b")), return_exceptions=True)
    assert all(isinstance(r, ClusterError) and "disk full" in str(r) for r in results)


@pytest.mark.asyncio
async def test_a_short_answer_fails_the_batch_instead_of_hanging_it() -> None:
    class Short:
        groups_secret_writes = True

        def write_binding_secrets(self, writes: Sequence[BindingSecretWrite]) -> list[Any]:
            return ["only-one"]

    writer = SecretWriter(Short())  # type: ignore[arg-type]
    results = await asyncio.wait_for(
        asyncio.gather(writer(write("a")), writer(write("b")), return_exceptions=True), 5
    )
    assert all(isinstance(r, ClusterError) and "1 of 2" in str(r) for r in results)


def test_directory_batch_reports_each_write_on_its_own(tmp_path: Path) -> None:
    cluster = Cluster(DirectoryCluster(tmp_path))
    assert cluster.groups_secret_writes
    foreign = tmp_path / "apps" / "secret" / "taken.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: taken\n")
    results = cluster.write_binding_secrets(
        [write("ok"), write("taken"), BindingSecretWrite("apps", "../escape", {}, OWNER)]
    )
    assert results[0] == secret_data_digest({"k": b"ok"})
    assert isinstance(results[1], OwnershipError)
    assert isinstance(results[2], ClusterError) and "invalid name" in str(results[2])
    assert cluster.target.read_secret("apps", "ok") == {"k": b"ok"}  # type: ignore[attr-defined]


def test_a_target_without_grouping_is_written_one_by_one(tmp_path: Path) -> None:
    class OneByOne:
        """A target with only the single-Secret call (as the API server has)."""

        def __init__(self, inner: DirectoryCluster) -> None:
            self.inner = inner
            self.calls: list[str] = []

        def __getattr__(self, name: str) -> Any:
            if name == "write_binding_secrets":
                raise AttributeError(name)
            return getattr(self.inner, name)

        def write_binding_secret(self, **kwargs: Any) -> Any:
            self.calls.append(kwargs["name"])
            return self.inner.write_binding_secret(**kwargs)

    target = OneByOne(DirectoryCluster(tmp_path))
    cluster = Cluster(target)  # type: ignore[arg-type]
    assert not cluster.groups_secret_writes
    results = cluster.write_binding_secrets([write("a"), write("b")])
    assert results == [secret_data_digest({"k": b"a"}), secret_data_digest({"k": b"b"})]
    assert target.calls == ["a", "b"]
    # The answer is kept per target: handing the facade another target asks again.
    cluster.target = DirectoryCluster(tmp_path)
    assert cluster.groups_secret_writes
