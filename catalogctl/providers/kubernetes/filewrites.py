"""Crash-safe file writes for :class:`DirectoryCluster`, one at a time or grouped.

Every object is written to a temporary file in its directory, fsync'd, and
renamed into place, so a crash leaves the old file or the new one, never a
torn one.  These run on worker threads during an apply: plain ``os`` calls
(no ``tempfile``, no text wrappers) keep their Python — GIL time the event
loop waits for — small.

:class:`GroupCommit` lets many threads' writes share the expensive part.  An
apply of a thousand bindings asks for a thousand Secret files within a few
seconds; written by a dozen threads side by side, their file creations and
fsyncs contended in the kernel and their GIL hand-offs delayed the event loop
reading broker answers.  Grouped, one thread at a time writes a batch: all
temp files, then their fsyncs (the first commits the filesystem journal for
the rest), then the renames and one fsync per directory.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["GroupCommit", "TempFile", "atomic_write", "fsync_directory"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _ensure_parent(parent: str, mode: int, made_dirs: set[str] | None) -> None:
    """Create ``parent`` (0700 for private files); ``made_dirs`` caches the ones made."""
    if made_dirs is None or parent not in made_dirs:
        os.makedirs(parent, mode=0o700 if mode == 0o600 else 0o755, exist_ok=True)
        if made_dirs is not None:
            made_dirs.add(parent)


@dataclass
class TempFile:
    """A written, not yet durable, temporary file that will become ``path``."""

    path: str
    tmp: str
    fd: int | None

    @classmethod
    def write(
        cls, path: str, data: bytes, mode: int, made_dirs: set[str] | None = None
    ) -> TempFile:
        """Create the temp file next to ``path`` with ``mode`` and write ``data`` to it.

        The temp name is unique per process and thread, and callers hold the
        object's lock, so a file already there was left by a killed process
        that had this pid and thread id: no live writer owns it.
        """
        parent, base = os.path.split(path)
        _ensure_parent(parent, mode, made_dirs)
        tmp = f"{parent}/.{base}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            fd = os.open(tmp, _FLAGS, 0o600)
        except FileExistsError:
            os.unlink(tmp)
            fd = os.open(tmp, _FLAGS, 0o600)
        temp = cls(path, tmp, fd)
        try:
            os.fchmod(fd, mode)  # exact mode whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            temp.discard()
            raise
        return temp

    def sync(self) -> None:
        """Make the content durable and close the file."""
        assert self.fd is not None
        fd, self.fd = self.fd, None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def install(self) -> None:
        """Rename the (synced) temp file over ``path``."""
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Close and remove the temp file; never raises."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


def atomic_write(path: str, data: bytes, mode: int, made_dirs: set[str] | None = None) -> None:
    """Write ``data`` to ``path`` via temp file, fsync and rename, with ``mode`` permissions."""
    temp = TempFile.write(path, data, mode, made_dirs)
    try:
        temp.sync()
        temp.install()
    except BaseException:
        temp.discard()
        raise


def fsync_directory(path: str) -> None:
    """Make renames into directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


J = TypeVar("J")


@dataclass(eq=False)
class _Ticket(Generic[J]):
    job: J
    key: str
    #: set whenever this ticket is handed a batch or finishes (shared by one submission)
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    failure: BaseException | None = None
    #: set when this ticket's thread is to write a batch (this ticket first)
    batch: list[_Ticket[J]] | None = None


class GroupCommit(Generic[J]):
    """Jobs submitted from many threads, written a batch at a time by a few of them.

    No thread of its own: a submitter finding fewer than ``writers`` batches
    in progress writes one (the jobs queued so far, its own first, up to
    ``max_batch``, at most one per key and none whose key another batch is
    writing), and when it is done the oldest job still waiting is handed the
    next batch; every other submitter sleeps until its jobs are done or a
    batch is handed to it.  So a thread writes only batches led by its own
    jobs, and nothing is left running when the last job is done.  A few writers rather than one:
    a writer spends most of a batch waiting (for fsyncs, and for the GIL
    between its system calls), and one alone fell behind a thousand bindings.

    ``write_batch`` must record each job's own outcome in the job; an
    exception escaping it is raised to every submitter of that batch.
    """

    def __init__(
        self,
        write_batch: Callable[[Sequence[J]], None],
        key: Callable[[J], str],
        *,
        writers: int = 2,
        max_batch: int = 64,
    ) -> None:
        if writers < 1 or max_batch < 1:
            raise ValueError("writers and max_batch must be positive")
        self._write_batch = write_batch
        self._key = key
        self._writers = writers
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ticket[J]] = []
        self._writing: set[str] = set()
        self._active = 0

    def run(self, job: J) -> None:
        """Submit ``job`` and return once a batch holding it has been written."""
        failure = self.run_many([job])[0]
        if failure is not None:
            raise failure

    def run_many(self, jobs: Sequence[J]) -> list[BaseException | None]:
        """Submit ``jobs`` together; return, per job, what escaped its batch's write (or None).

        One caller with many jobs (an event loop handing over the Secrets
        that became due together) waits once for all of them instead of
        tying up a thread per job.
        """
        wake = threading.Event()
        mine = [_Ticket(job, self._key(job), wake) for job in jobs]
        with self._lock:
            self._queue.extend(mine)
            self._dispatch()
        while True:
            for ticket in mine:
                batch = ticket.batch
                if batch is not None:
                    self._write(batch)
            if all(ticket.finished for ticket in mine):
                return [ticket.failure for ticket in mine]
            wake.wait()
            wake.clear()

    def _dispatch(self) -> None:
        """Hand batches to waiting submitters while fewer than ``writers`` are written.

        Called with the lock held.  A batch is led by the oldest job whose key
        no batch in progress holds; a second job for one key waits, since it
        must read what the first one wrote.
        """
        while self._active < self._writers:
            batch: list[_Ticket[J]] = []
            keys: set[str] = set()
            rest: list[_Ticket[J]] = []
            for ticket in self._queue:
                key = ticket.key
                if len(batch) < self._max_batch and key not in keys and key not in self._writing:
                    batch.append(ticket)
                    keys.add(key)
                else:
                    rest.append(ticket)
            if not batch:
                return
            self._queue = rest
            self._writing |= keys
            self._active += 1
            leader = batch[0]
            leader.batch = batch
            leader.wake.set()

    def _write(self, batch: list[_Ticket[J]]) -> None:
        failure: BaseException | None = None
        try:
            self._write_batch([t.job for t in batch])
        except BaseException as exc:  # every waiter of the batch learns why
            failure = exc
        with self._lock:
            for ticket in batch:
                ticket.batch = None
                ticket.finished = True
                ticket.failure = failure
                ticket.wake.set()
            self._writing.difference_update(t.key for t in batch)
            self._active -= 1
            self._dispatch()
