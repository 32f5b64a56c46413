"""GroupCommit and the grouped Secret writes of DirectoryCluster."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from catalogctl.errors import OwnershipError
from catalogctl.providers.kubernetes.directory import DirectoryCluster
from catalogctl.providers.kubernetes.filewrites import GroupCommit, TempFile, atomic_write

OWNER = "ServiceBinding/default/b"


class Job:
    def __init__(self, key: str, n: int) -> None:
        self.key = key
        self.n = n
        self.written_by: int | None = None


class Recorder:
    """A write_batch that records batches; the first one waits for ``release``."""

    def __init__(self, fail: Callable[[Sequence[Job]], bool] = lambda batch: False) -> None:
        self.batches: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, batch: Sequence[Job]) -> None:
        if not self.batches:
            self.first_started.set()
            assert self.release.wait(10)
        self.batches.append([job.n for job in batch])
        for job in batch:
            job.written_by = threading.get_ident()
        if self.fail(batch):
            raise RuntimeError(f"batch {len(self.batches)} failed")


def submit_all(
    group: GroupCommit[Job], recorder: Recorder, jobs: list[Job]
) -> dict[int, BaseException | None]:
    """Run jobs[0] first; queue the rest while its batch is held; return each outcome."""
    outcome: dict[int, BaseException | None] = {}

    def submit(job: Job) -> None:
        try:
            group.run(job)
            outcome[job.n] = None
        except BaseException as exc:
            outcome[job.n] = exc

    threads = [threading.Thread(target=submit, args=(jobs[0],))]
    threads[0].start()
    assert recorder.first_started.wait(10)
    for job in jobs[1:]:
        threads.append(threading.Thread(target=submit, args=(job,)))
        threads[-1].start()
    deadline = time.monotonic() + 10
    while len(group._queue) < len(jobs) - 1 and time.monotonic() < deadline:
        time.sleep(0.001)  # every later job is queued behind the held batch
    recorder.release.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    return outcome


def test_jobs_queued_during_a_write_go_out_together() -> None:
    recorder = Recorder()
    group: GroupCommit[Job] = GroupCommit(recorder, key=lambda j: j.key, writers=1)
    jobs = [Job(f"k{n}", n) for n in range(21)]
    outcome = submit_all(group, recorder, jobs)
    assert outcome == {n: None for n in range(21)}
    assert recorder.batches == [[0], list(range(1, 21))]
    # Each job was written exactly once, by one of the submitting threads.
    assert all(job.written_by is not None for job in jobs)
    assert group._active == 0 and not group._queue and not group._writing


def test_a_batch_holds_at_most_max_batch_jobs_and_one_per_key() -> None:
    recorder = Recorder()
    group: GroupCommit[Job] = GroupCommit(recorder, key=lambda j: j.key, writers=1, max_batch=4)
    keys = ["a", "b", "a", "c", "d", "e", "a"]
    jobs = [Job("first", 0)] + [Job(k, n + 1) for n, k in enumerate(keys)]
    submit_all(group, recorder, jobs)
    assert recorder.batches[0] == [0]
    later = recorder.batches[1:]
    assert sorted(n for batch in later for n in batch) == list(range(1, 8))
    for batch in later:
        assert len(batch) <= 4
        batch_keys = [jobs[n].key for n in batch]
        assert len(set(batch_keys)) == len(batch_keys)
    # Jobs for one key keep their order across batches.
    a_jobs = [n for batch in later for n in batch if jobs[n].key == "a"]
    assert a_jobs == [1, 3, 7]


def test_a_failing_batch_fails_its_own_jobs_only() -> None:
    recorder = Recorder(fail=lambda batch: any(job.n == 0 for job in batch))
    group: GroupCommit[Job] = GroupCommit(recorder, key=lambda j: j.key, writers=1)
    outcome = submit_all(group, recorder, [Job(f"k{n}", n) for n in range(5)])
    assert isinstance(outcome[0], RuntimeError)
    assert [outcome[n] for n in range(1, 5)] == [None] * 4
    assert group._active == 0


def test_one_submitter_alone_writes_its_own_batch_on_its_own_thread() -> None:
    written: list[tuple[int, list[str]]] = []
    group: GroupCommit[Job] = GroupCommit(
        lambda batch: written.append((threading.get_ident(), [j.key for j in batch])),
        key=lambda j: j.key,
    )
    group.run(Job("x", 0))
    group.run(Job("x", 1))
    assert written == [(threading.get_ident(), ["x"])] * 2


# --- files ---------------------------------------------------------------------------------


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


def test_a_discarded_temp_file_changes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "f.yaml")
    atomic_write(path, b"old", 0o600)
    temp = TempFile.write(path, b"new", 0o600)
    temp.discard()
    assert Path(path).read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.yaml"]


def test_two_batches_are_written_at_once_and_never_for_one_key() -> None:
    """With two writers, a second batch starts while the first is held; keys stay apart."""
    started = threading.Semaphore(0)
    release = threading.Event()
    in_progress: list[set[str]] = []
    overlap: list[set[str]] = []
    lock = threading.Lock()

    def write_batch(batch: Sequence[Job]) -> None:
        keys = {job.key for job in batch}
        with lock:
            for other in in_progress:
                if other & keys:
                    overlap.append(other & keys)
            in_progress.append(keys)
        started.release()
        assert release.wait(10)
        with lock:
            in_progress.remove(keys)

    group: GroupCommit[Job] = GroupCommit(write_batch, key=lambda j: j.key, writers=2)
    threads = [
        threading.Thread(target=group.run, args=(Job(key, n),))
        for n, key in enumerate(["a", "a", "b", "a", "c"])
    ]
    threads[0].start()
    assert started.acquire(timeout=10)
    threads[1].start()  # same key as the batch in progress: must wait
    time.sleep(0.05)
    assert group._active == 1
    threads[2].start()  # another key: a second writer takes it at once
    assert started.acquire(timeout=10)
    assert group._active == 2
    for t in threads[3:]:
        t.start()
    release.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert overlap == []
    assert group._active == 0 and not group._queue and not group._writing


def test_the_number_of_writers_and_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GroupCommit(lambda batch: None, key=str, writers=0)
    with pytest.raises(ValueError):
        GroupCommit(lambda batch: None, key=str, max_batch=0)


def test_concurrent_secret_writes_are_grouped_and_each_lands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes queued behind slow fsyncs share a batch; a foreign Secret fails alone."""
    cluster = DirectoryCluster(tmp_path)
    foreign = tmp_path / "default" / "secret" / "taken.yaml"
    foreign.parent.mkdir(parents=True)
    foreign.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: taken\n")
    real_fsync = os.fsync
    holding = threading.Semaphore(0)
    held = 0
    held_lock = threading.Lock()
    release = threading.Event()
    dir_syncs: list[int] = []

    def fsync(fd: int) -> None:
        nonlocal held
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            dir_syncs.append(fd)
        else:
            with held_lock:
                hold = held < 2  # the first file fsync of each of the two writers
                held += hold
            if hold:
                holding.release()
                assert release.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    errors: dict[str, BaseException] = {}

    def write(name: str) -> None:
        try:
            cluster.write_binding_secret(
                namespace="default", name=name, owner=OWNER, data={"n": name.encode()}
            )
        except BaseException as exc:
            errors[name] = exc

    first = [threading.Thread(target=write, args=(f"s{n}",)) for n in range(2)]
    for t in first:
        t.start()
        assert holding.acquire(timeout=10)  # both writers are now in an fsync
    names = [f"s{n}" for n in range(2, 30)] + ["taken"]
    threads = [threading.Thread(target=write, args=(name,)) for name in names]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(cluster._secret_writes._queue) < len(names) and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for t in [*first, *threads]:
        t.join(10)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list(errors) == ["taken"] and isinstance(errors["taken"], OwnershipError)
    for n in range(30):
        assert cluster.read_secret("default", f"s{n}") == {"n": f"s{n}".encode()}
    # Three batches: the two held, then the 29 queued behind them (one directory fsync each).
    assert len(dir_syncs) == 3
    assert sorted(os.listdir(foreign.parent)) == sorted(
        [f"s{n}.yaml" for n in range(30)] + ["taken.yaml"]
    )
