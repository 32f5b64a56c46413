"""The local directory backend: the conformance suite plus what only files can show."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import catalogctl
from catalogctl.errors import LockError, StateError
from catalogctl.state import LocalBackend, LockInfo, State, StateBackend
from catalogctl.state.local import (
    BACKUP_FILE,
    JOURNAL_FILE,
    LOCK_FILE,
    LOCK_INFO_FILE,
    STATE_FILE,
    LocalJournal,
)
from tests.state.conformance import (
    BackendFactory,
    StateBackendConformance,
    _Holder,
    instance,
    locked,
    run,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


class TestLocalBackendConformance(StateBackendConformance):
    @pytest.fixture
    def factory(self, tmp_path: Path) -> BackendFactory:
        return functools.partial(LocalBackend, tmp_path / "state")

    def tear_journal(self, backend: StateBackend) -> None:
        assert isinstance(backend, LocalBackend)
        with open(backend.journal_path, "ab") as f:
            f.write(b'{"op":"record","resource":{"address":"ServiceInst')

    def read_backup(self, backend: StateBackend) -> State | None:
        assert isinstance(backend, LocalBackend)
        if not backend.backup_path.exists():
            return None
        return State.from_json(backend.backup_path.read_bytes())

    def stored_bytes(self, backend: StateBackend) -> bytes:
        assert isinstance(backend, LocalBackend)
        return b"".join(p.read_bytes() for p in sorted(backend.directory.iterdir()))


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


def test_read_creates_nothing(directory: Path) -> None:
    LocalBackend(directory).read()
    assert not directory.exists()


def test_default_directory_is_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    backend = LocalBackend()
    run(backend, record=(instance("a"),))
    assert (tmp_path / "state" / STATE_FILE).is_file()


def test_file_layout_and_modes(directory: Path) -> None:
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"),))
    run(backend, record=(instance("b"),))
    with locked(backend):
        journal = backend.begin(backend.read())
        journal.record(instance("c"))
        names = {p.name for p in directory.iterdir()}
        assert names == {STATE_FILE, BACKUP_FILE, JOURNAL_FILE, LOCK_FILE, LOCK_INFO_FILE}
        for path in directory.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
        journal.commit()
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {p.name for p in directory.iterdir()} == {STATE_FILE, BACKUP_FILE, LOCK_FILE}


def test_state_file_is_canonical(directory: Path) -> None:
    backend = LocalBackend(directory)
    state = run(backend, record=(instance("z"), instance("a"), instance("m")))
    text = (directory / STATE_FILE).read_text()
    assert text == state.to_json()
    assert list(json.loads(text)["resources"]) == [
        "ServiceInstance/ns/a",
        "ServiceInstance/ns/m",
        "ServiceInstance/ns/z",
    ]


def test_record_appends_one_line_and_leaves_state_file_alone(directory: Path) -> None:
    backend = LocalBackend(directory)
    run(backend, record=tuple(instance(f"i{n}") for n in range(50)))
    state_file = directory / STATE_FILE
    before = state_file.stat()
    with locked(backend):
        journal = backend.begin(backend.read())
        for n in range(10):
            journal.record(instance(f"i{n}", plan_id="big"))
            lines = (directory / JOURNAL_FILE).read_bytes().splitlines()
            assert len(lines) == n + 2  # header + one line per step
            assert json.loads(lines[-1])["resource"]["address"] == f"ServiceInstance/ns/i{n}"
        journal.forget("ServiceInstance/ns/i49")
        assert json.loads((directory / JOURNAL_FILE).read_bytes().splitlines()[-1]) == {
            "op": "forget",
            "address": "ServiceInstance/ns/i49",
        }
        after = state_file.stat()
        assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
            before.st_ino,
            before.st_mtime_ns,
            before.st_size,
        )
        journal.commit()


def test_identical_record_writes_nothing(directory: Path) -> None:
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"),))
    with locked(backend):
        journal = backend.begin(backend.read())
        size = (directory / JOURNAL_FILE).stat().st_size
        journal.record(instance("a"))
        journal.forget("ServiceInstance/ns/untracked")
        assert (directory / JOURNAL_FILE).stat().st_size == size
        journal.commit()


def test_noop_commit_does_not_rewrite_state(directory: Path) -> None:
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"),))
    before = (directory / STATE_FILE).stat()
    run(backend, record=(instance("a"),))
    after = (directory / STATE_FILE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not (directory / BACKUP_FILE).exists()


def test_corrupt_line_inside_journal_is_an_error(directory: Path) -> None:
    backend = LocalBackend(directory)
    info = backend.lock("apply")
    journal = backend.begin(backend.read())
    journal.record(instance("a"))
    journal.close()
    with open(directory / JOURNAL_FILE, "ab") as f:
        f.write(b"not json\n")
        f.write(b'{"op":"forget","address":"ServiceInstance/ns/a"}\n')
    with pytest.raises(StateError, match=r"catalogctl\.journal\.jsonl:3: corrupt journal line"):
        LocalBackend(directory).read()
    backend.unlock(info.id)


def test_journal_of_an_already_compacted_run_is_ignored(directory: Path) -> None:
    # A commit that wrote the state and died before removing its journal.
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"),))
    with locked(backend):
        journal = backend.begin(backend.read())
        journal.record(instance("b"))
        leftover = (directory / JOURNAL_FILE).read_bytes()
        committed = journal.commit()
    with locked(backend):
        journal = backend.begin(backend.read())
        journal.forget("ServiceInstance/ns/b")
        committed = journal.commit()
    (directory / JOURNAL_FILE).write_bytes(leftover)
    assert LocalBackend(directory).read() == committed
    assert run(LocalBackend(directory)) == committed
    assert not (directory / JOURNAL_FILE).exists()


def test_journal_without_its_state_file_is_an_error(directory: Path) -> None:
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"),))
    with locked(backend):
        journal = backend.begin(backend.read())
        journal.record(instance("b"))
        journal.close()
    (directory / STATE_FILE).unlink()
    with pytest.raises(StateError, match="state file is missing"):
        LocalBackend(directory).read()


def test_first_run_crash_is_replayed_with_its_lineage(directory: Path) -> None:
    backend = LocalBackend(directory)
    fresh = backend.read()
    with locked(backend):
        journal = backend.begin(fresh)
        journal.record(instance("a"))
        journal.close()
    replayed = LocalBackend(directory).read()
    assert replayed.lineage == fresh.lineage
    assert replayed.serial == 1
    assert set(replayed.resources) == {"ServiceInstance/ns/a"}


def test_unreadable_state_names_the_file(directory: Path) -> None:
    directory.mkdir()
    (directory / STATE_FILE).write_text("{ nope")
    with pytest.raises(StateError, match=r"catalogctl\.state\.json: not valid JSON"):
        LocalBackend(directory).read()


def test_state_from_a_newer_catalogctl_is_refused(directory: Path) -> None:
    directory.mkdir()
    state = json.loads(State.new().to_json())
    state["version"] = 2
    state["catalogctl_version"] = "9.0.0"
    (directory / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(StateError) as caught:
        LocalBackend(directory).read()
    assert str(caught.value) == (
        f"{directory / STATE_FILE}: state format version 2 is newer than this catalogctl "
        f"({catalogctl.__version__}) reads (format version 1); it was written by catalogctl "
        "9.0.0: upgrade to at least that"
    )


def test_a_newer_format_from_this_very_release_is_not_blamed_on_a_newer_release(
    directory: Path,
) -> None:
    directory.mkdir()
    state = json.loads(State.new().to_json())
    state["version"] = 2
    assert state["catalogctl_version"] == catalogctl.__version__
    (directory / STATE_FILE).write_text(json.dumps(state))
    with pytest.raises(StateError) as caught:
        LocalBackend(directory).read()
    message = str(caught.value)
    assert "newer catalogctl" not in message
    assert message.endswith(
        f"state format version 2 is newer than this catalogctl ({catalogctl.__version__}) "
        f"reads (format version 1); the file says catalogctl {catalogctl.__version__} wrote it, "
        "which writes format version 1 or older: it was changed by something else"
    )


def test_force_unlock_refuses_a_running_holder(directory: Path) -> None:
    holder = _Holder(functools.partial(LocalBackend, directory), "apply", leave_locked=False)
    try:
        with pytest.raises(LockError, match="still running"):
            LocalBackend(directory).force_unlock(holder.info.id)
        assert LocalBackend(directory).lock_info() == holder.info
        holder.release()
    finally:
        holder.kill()


def test_unreadable_lock_info_is_reported(directory: Path) -> None:
    directory.mkdir()
    (directory / LOCK_INFO_FILE).write_text("garbage")
    with pytest.raises(LockError, match=r"catalogctl\.lock\.info is unreadable"):
        LocalBackend(directory).lock("apply")


def test_lock_left_on_another_host_is_reported_not_stolen(directory: Path) -> None:
    # A pid recorded by another host cannot be checked from here.
    directory.mkdir()
    foreign = LockInfo(operation="apply", host="other-runner", pid=1, path=str(directory))
    (directory / LOCK_INFO_FILE).write_text(foreign.model_dump_json())
    backend = LocalBackend(directory)
    with pytest.raises(LockError) as raised:
        backend.lock("apply", timeout=5)
    message = str(raised.value)
    assert "taken on host other-runner" in message
    assert f"force-unlock {foreign.id}" in message
    backend.force_unlock(foreign.id)
    info = backend.lock("apply", timeout=0)
    assert backend.taken_over() is None
    backend.unlock(info.id)


def test_lock_of_a_dead_local_process_is_taken_over(directory: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    directory.mkdir()
    gone = LockInfo(operation="apply", pid=int(dead.stdout), path=str(directory))
    (directory / LOCK_INFO_FILE).write_text(gone.model_dump_json())
    backend = LocalBackend(directory)
    info = backend.lock("apply", timeout=0)
    assert backend.taken_over() == gone
    assert backend.lock_info() == info
    backend.unlock(info.id)
    assert not (directory / LOCK_INFO_FILE).exists()


def test_each_step_is_fsynced_before_record_returns(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = LocalBackend(directory)
    with locked(backend):
        journal = backend.begin(backend.read())
        journal_fd = journal._fd
        real_fsync = os.fsync
        synced_sizes: list[int] = []

        def spy(fd: int) -> None:
            if fd == journal_fd:
                synced_sizes.append((directory / JOURNAL_FILE).stat().st_size)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", spy)
        for n in range(3):
            journal.record(instance(f"i{n}"))
            # The fsync covered everything written so far, this step included.
            assert synced_sizes[-1] == (directory / JOURNAL_FILE).stat().st_size
        assert len(synced_sizes) == 3
        monkeypatch.setattr(os, "fsync", real_fsync)  # the fd number is reused later
        journal.commit()


@contextlib.contextmanager
def journal_holding(directory: Path, *names: str) -> Iterator[LocalJournal]:
    """A locked backend's open journal that has recorded instances ``names``."""
    backend = LocalBackend(directory)
    with locked(backend):
        journal = backend.begin(backend.read())
        for name in names:
            journal.record(instance(name))
        yield journal


def test_reads_do_not_wait_for_an_fsync_in_progress(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop reads the journal's view while a worker thread appends."""
    with journal_holding(directory, "a") as journal:
        journal_fd = journal._fd
        real_fsync = os.fsync
        in_fsync = threading.Event()
        release = threading.Event()

        def slow_fsync(fd: int) -> None:
            if fd == journal_fd:
                in_fsync.set()
                assert release.wait(10)
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", slow_fsync)
        writer = threading.Thread(target=journal.record_batch, args=([instance("b")],))
        writer.start()
        try:
            assert in_fsync.wait(10)
            done = threading.Event()
            seen: list[object] = []

            def read() -> None:
                seen.append(journal.get("ServiceInstance/ns/a"))
                seen.append(journal.get("ServiceInstance/ns/b"))
                done.set()

            threading.Thread(target=read).start()
            # With the fsync still blocked, the read has already returned...
            assert done.wait(5), "journal.get() waited for an fsync in progress"
            # ...and does not see the step that is not yet durable.
            assert seen == [instance("a"), None]
        finally:
            release.set()
            writer.join(10)
        assert journal.get("ServiceInstance/ns/b") == instance("b")
        monkeypatch.setattr(os, "fsync", real_fsync)
        journal.commit()


def test_failed_append_stops_the_journal_but_keeps_earlier_steps(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with journal_holding(directory, "a") as journal:
        real_write = os.write

        def full_disk(fd: int, data: bytes) -> int:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "write", full_disk)
        with pytest.raises(StateError, match="could not persist a journal step"):
            journal.record(instance("b"))
        monkeypatch.setattr(os, "write", real_write)
        with pytest.raises(StateError, match="stopped accepting steps"):
            journal.record(instance("c"))
        committed = journal.commit()
    assert set(committed.resources) == {"ServiceInstance/ns/a"}
    assert LocalBackend(directory).read() == committed


def test_first_run_that_recorded_nothing_leaves_nothing_stored(directory: Path) -> None:
    backend = LocalBackend(directory)
    with locked(backend):
        backend.begin(backend.read()).close()  # crashed before its first step
        fresh = State.new()
        journal = backend.begin(fresh)  # a new lineage may still start
        journal.record(instance("a"))
        assert journal.commit().lineage == fresh.lineage


def test_lock_info_file_records_the_holder(directory: Path) -> None:
    backend = LocalBackend(directory)
    with locked(backend, "destroy") as info:
        recorded = json.loads((directory / LOCK_INFO_FILE).read_text())
        assert recorded["id"] == info.id
        assert recorded["operation"] == "destroy"
        assert recorded["pid"] == os.getpid()
        assert recorded["host"] == info.host and recorded["user"] == info.user
        assert recorded["created"].endswith("Z")
        assert recorded["path"] == str(directory)
    assert not (directory / LOCK_INFO_FILE).exists()
    assert (directory / LOCK_FILE).exists()  # never deleted: flock needs a stable inode
