"""The default state backend: a directory on local disk.

Layout of the directory (default ``./state``)::

    catalogctl.state.json         the last committed state (canonical JSON)
    catalogctl.state.json.backup  the state before that commit
    catalogctl.journal.jsonl      steps of a run not yet committed
    catalogctl.lock               flock(2) target; never deleted
    catalogctl.lock.info          JSON LockInfo of the current holder

Crash safety comes from three rules: a full state is only ever written to a
temporary file that is fsync'd and renamed over the old one (then the
directory is fsync'd, so the rename itself survives power loss); each journal
step is a single ``write`` of one line followed by ``fsync``; and the journal is
removed only after the compacted state is in place.

Locking uses ``flock`` on an open descriptor, so the kernel drops it when a
holder dies, plus an info file written while holding it.  The info file is
the lock that users see: taking the flock and finding an info file means the
previous holder died without unlocking.  If that holder ran on this host and its
process no longer exists, nobody else can be using the state: the lock is
taken over and :meth:`LocalBackend.taken_over` names the dead holder so the
caller can warn (its journal is replayed and resumed).  Otherwise (another
host, or the pid is alive again) it is reported, not stolen, and
``force_unlock`` clears it.  Like Terraform's local backend, this is safe on
one host; network filesystems with unreliable ``flock`` are not supported.

All files are created mode 0600 and the directory 0700: state is not secret
by design, but it names every service and binding.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import os
import shutil
import socket
import time
import uuid
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pydantic import ValidationError

from catalogctl.errors import LockError, StateError
from catalogctl.state.backend import (
    Journal,
    LockInfo,
    StateBackend,
    begin_base,
    check_force_unlock,
    check_unlock,
)
from catalogctl.state.journal import BaseJournal, encode_header, replay
from catalogctl.state.models import State

STATE_FILE = "catalogctl.state.json"
BACKUP_FILE = "catalogctl.state.json.backup"
JOURNAL_FILE = "catalogctl.journal.jsonl"
LOCK_FILE = "catalogctl.lock"
LOCK_INFO_FILE = "catalogctl.lock.info"

_FILE_MODE = 0o600
_DIR_MODE = 0o700


#: (device, inode, size, modification time in ns) of a file as read.
_FileIdentity = tuple[int, int, int, int]


def _read_optional(path: Path) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read {path}: {exc.strerror}") from exc


def _fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _atomic_write(path: Path, data: bytes, *, backup: Path | None = None) -> None:
    """Replace ``path`` with ``data`` so a crash leaves either old or new, never half.

    With ``backup``, the old file is kept under that name first (by hard link,
    so no copy of a large state is needed; by copy where links are refused).
    """
    directory = path.parent
    tmp = directory / f".{path.name}.{uuid.uuid4().hex}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    try:
        try:
            os.fchmod(fd, _FILE_MODE)
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        if backup is not None and path.exists():
            _keep_backup(path, backup)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def _keep_backup(path: Path, backup: Path) -> None:
    tmp = backup.parent / f".{backup.name}.{uuid.uuid4().hex}.tmp"
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copy2(path, tmp)
        os.chmod(tmp, _FILE_MODE)
    os.replace(tmp, backup)


def _gone_from_this_host(holder: LockInfo) -> bool:
    """Whether ``holder`` ran on this host and its process no longer exists.

    Only then is the lock safe to take: on another host the pid means
    nothing here, and a live pid may be the holder itself (or a reuse of its
    number, which is rare and fails safe).
    """
    return holder.host == socket.gethostname() and not _pid_alive(holder.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LocalBackend(StateBackend):
    """State in a local directory, with a journal and an flock-based lock."""

    def __init__(self, directory: str | os.PathLike[str] = "state") -> None:
        self.directory = Path(directory)
        self.state_path = self.directory / STATE_FILE
        self.backup_path = self.directory / BACKUP_FILE
        self.journal_path = self.directory / JOURNAL_FILE
        self.lock_path = self.directory / LOCK_FILE
        self.lock_info_path = self.directory / LOCK_INFO_FILE
        self._lock_file: IO[bytes] | None = None
        self._lock: LockInfo | None = None
        self._journal: LocalJournal | None = None
        self._taken_over: LockInfo | None = None
        #: The state file last parsed, with the identity of the file it came from.
        self._parsed: tuple[_FileIdentity, State] | None = None

    def describe(self) -> str:
        return f"local state at {self.directory}"

    # -- reading -------------------------------------------------------------

    def read(self) -> State:
        self._check_directory()
        # Journal first, then state: if a commit lands in between, we see the
        # new state and a journal whose base serial is behind it (ignored),
        # never the old state without the journal's steps.
        journal = _read_optional(self.journal_path)
        return replay(self._read_state(), journal, source=str(self.journal_path)).state

    def _read_state(self) -> State | None:
        """The state file's content; an unchanged file is not parsed again.

        ``plan`` reads state once to learn whether it exists and again under
        the lock, and a large state takes longer to parse than anything else a
        no-op plan does.  The file is only ever replaced by rename, so the same
        inode, size and modification time mean the same content; a State is
        frozen, so handing out the same value twice is safe.
        """
        try:
            with open(self.state_path, "rb") as f:
                st = os.fstat(f.fileno())
                identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                if self._parsed is not None and self._parsed[0] == identity:
                    return self._parsed[1]
                data = f.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError(f"cannot read {self.state_path}: {exc.strerror}") from exc
        state = State.from_json(data, source=str(self.state_path))
        self._parsed = (identity, state)
        return state

    # -- locking -------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the lock; see :meth:`StateLocker.lock`.

        A lock left by a process of this host that no longer exists is taken
        over (see :meth:`taken_over`).  One left by a holder that cannot be
        checked fails at once instead of after ``timeout``: it will not clear
        itself, and waiting would only delay the message telling the user how
        to clear it.
        """
        if self._lock is not None:
            raise LockError(
                f"{self.describe()} is already locked by this run ({self._lock.describe()})"
            )
        self._ensure_directory()
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.02
        while True:
            lock_file = self._open_lock_file()
            if _try_flock(lock_file):
                leftover = self._read_lock_info()
                if leftover is not None and not _gone_from_this_host(leftover):
                    _unflock(lock_file)
                    raise LockError(self._stale_message(leftover))
                info = LockInfo(operation=operation, path=str(self.directory))
                try:
                    _atomic_write(
                        self.lock_info_path, info.model_dump_json(indent=2).encode() + b"\n"
                    )
                except OSError as exc:
                    _unflock(lock_file)
                    raise LockError(f"cannot write {self.lock_info_path}: {exc}") from exc
                self._lock_file = lock_file
                self._lock = info
                self._taken_over = leftover
                return info
            lock_file.close()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LockError(self._held_message(self._read_lock_info(), timeout))
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)

    def unlock(self, lock_id: str) -> None:
        check_unlock(self._lock, lock_id)
        assert self._lock_file is not None
        if self._journal is not None:
            # Another run may begin as soon as the lock is free; it must not
            # find us still appending to the journal it is about to compact.
            self._journal.close()
        # Info file first, then the flock: whoever gets the flock next must not
        # find our info and mistake us for a crashed holder.
        self._remove_lock_info()
        _unflock(self._lock_file)
        self._lock_file = None
        self._lock = None

    def force_unlock(self, lock_id: str) -> None:
        if self._lock is not None and self._lock.id == lock_id:
            self.unlock(lock_id)
            return
        current = self._read_lock_info()
        current = check_force_unlock(self.describe(), current, lock_id)
        lock_file = self._open_lock_file()
        if not _try_flock(lock_file):
            lock_file.close()
            raise LockError(
                f"cannot force-unlock {lock_id}: the run that holds it is still running "
                f"({current.describe()}); stop that run instead"
            )
        try:
            self._remove_lock_info()
        finally:
            _unflock(lock_file)

    def lock_info(self) -> LockInfo | None:
        return self._read_lock_info()

    def taken_over(self) -> LockInfo | None:
        return self._taken_over

    def _open_lock_file(self) -> IO[bytes]:
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, _FILE_MODE)
        except OSError as exc:
            raise LockError(f"cannot open {self.lock_path}: {exc.strerror}") from exc
        return io.FileIO(fd, "r+", closefd=True)

    def _read_lock_info(self) -> LockInfo | None:
        data = _read_optional(self.lock_info_path)
        if data is None:
            return None
        try:
            return LockInfo.model_validate_json(data)
        except ValidationError:
            raise LockError(
                f"{self.lock_info_path} is unreadable; if no catalogctl run is using "
                f"{self.directory}, delete it"
            ) from None

    def _remove_lock_info(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.lock_info_path.unlink()
        _fsync_dir(self.directory)

    def _held_message(self, holder: LockInfo | None, timeout: float) -> str:
        who = holder.describe() if holder is not None else "another process (no lock info yet)"
        return f"{self.describe()} is locked by {who}; gave up after {timeout:g}s"

    def _stale_message(self, holder: LockInfo) -> str:
        if holder.host != socket.gethostname():
            why = f"it was taken on host {holder.host}, where this run cannot check it"
        else:
            why = "the run that took it ended without releasing it"
        return (
            f"{self.describe()} is locked by {holder.describe()}; {why}. "
            "Its unfinished steps are kept and will be resumed. If no catalogctl run is "
            f"using this state, release the lock with: catalogctl force-unlock {holder.id}"
        )

    def _check_directory(self) -> None:
        """A file where the state directory should be is a mistake worth naming."""
        for path in (self.directory, *self.directory.parents):
            if not path.exists():
                continue
            if path.is_dir():
                return
            hint = f"; the state directory is {path.parent}" if path.name == STATE_FILE else ""
            raise StateError(
                f"{path} is a file, but {self.describe()} needs a directory there "
                f"(it holds {STATE_FILE} and its lock){hint}"
            )

    def _ensure_directory(self) -> None:
        self._check_directory()
        try:
            self.directory.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create {self.directory}: {exc.strerror}") from exc

    # -- writing -------------------------------------------------------------

    def check_writable(self) -> list[str]:
        """The directory takes a new file, and the files a commit replaces are files.

        A probe file is created and removed: permission bits say nothing for
        root or on a read-only mount.
        """
        where = self.describe()
        if not self.directory.is_dir():
            return [f"{where}: {self.directory} is not a directory"]
        problems = [
            f"{where}: {path} is not a regular file"
            for path in (self.state_path, self.backup_path, self.journal_path)
            if path.exists() and not path.is_file()
        ]
        probe = self.directory / f".catalogctl-probe.{os.getpid()}"
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            probe.unlink()
        except OSError as exc:
            problems.append(f"{where}: cannot write in {self.directory}: {exc.strerror}")
        return problems

    def begin(self, state: State) -> LocalJournal:
        if self._lock is None:
            raise StateError(f"{self.describe()}: begin() needs the state lock; lock() first")
        if self._journal is not None and not self._journal.closed:
            raise StateError(f"{self.describe()}: a journal is already open in this run")
        base = begin_base(self.describe(), self._recover(), state)
        journal = LocalJournal(self, base, lock_id=self._lock.id)
        self._journal = journal
        return journal

    def replace(self, state: State) -> None:
        if self._lock is None:
            raise StateError(f"{self.describe()}: replace() needs the state lock; lock() first")
        try:
            _atomic_write(
                self.state_path, state.to_json().encode("utf-8"), backup=self.backup_path
            )
            with contextlib.suppress(FileNotFoundError):
                self.journal_path.unlink()
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StateError(f"cannot write {self.state_path}: {exc}") from exc

    def _recover(self) -> State | None:
        """Compact a crashed run's journal into the state file, then drop it."""
        data = _read_optional(self.journal_path)
        current = self._read_state()
        if data is None:
            return current
        replayed = replay(current, data, source=str(self.journal_path))
        try:
            if replayed.changed:
                _atomic_write(
                    self.state_path,
                    replayed.state.to_json().encode("utf-8"),
                    backup=self.backup_path,
                )
            self.journal_path.unlink()
            _fsync_dir(self.directory)
        except OSError as exc:
            raise StateError(f"cannot recover {self.journal_path}: {exc}") from exc
        # A first run that crashed before changing anything leaves nothing
        # stored, so the next run may still start a lineage of its own.
        return replayed.state if (replayed.changed or current is not None) else None


def _try_flock(lock_file: IO[bytes]) -> bool:
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise LockError(f"cannot lock: {exc.strerror}") from exc
    return True


def _unflock(lock_file: IO[bytes]) -> None:
    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
    finally:
        lock_file.close()


class LocalJournal(BaseJournal):
    """``catalogctl.journal.jsonl``: one fsync'd line per step."""

    def __init__(self, backend: LocalBackend, base: State, *, lock_id: str | None) -> None:
        super().__init__(base, lock_id=lock_id)
        self._backend = backend
        path = backend.journal_path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, _FILE_MODE)
        except FileExistsError:
            raise StateError(f"{path} exists; another run is writing it") from None
        except OSError as exc:
            raise StateError(f"cannot create {path}: {exc.strerror}") from exc
        self._fd: int | None = fd
        try:
            os.fchmod(fd, _FILE_MODE)
            _write_all(fd, encode_header(self.header))
            os.fsync(fd)
            _fsync_dir(path.parent)
        except OSError as exc:
            self._release()
            raise StateError(f"cannot write {path}: {exc.strerror}") from exc

    def _append(self, line: bytes) -> None:
        assert self._fd is not None
        _write_all(self._fd, line)
        os.fsync(self._fd)

    def _write_state(self, state: State) -> None:
        backend = self._backend
        try:
            _atomic_write(
                backend.state_path, state.to_json().encode("utf-8"), backup=backend.backup_path
            )
        except OSError as exc:
            raise StateError(f"cannot write {backend.state_path}: {exc.strerror}") from exc
        self._drop()

    def _drop(self) -> None:
        path = self._backend.journal_path
        try:
            # Already gone (removed by hand during the run): the state written
            # just before holds every step, so that is the goal, not an error.
            path.unlink(missing_ok=True)
            _fsync_dir(path.parent)
        except OSError as exc:
            # The state is already complete; a leftover journal is recognised
            # as compacted by its base serial on the next read.
            raise StateError(f"cannot remove {path}: {exc.strerror}") from exc

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        # A dropped journal must not leak its descriptor; its lines stay on disk.
        with contextlib.suppress(Exception):
            self._release()


if TYPE_CHECKING:
    # Static proof that the local classes satisfy the Protocols the engine uses.
    _backend_conforms: type[StateBackend] = LocalBackend
    _journal_conforms: type[Journal] = LocalJournal
