"""What the engine needs from a state backend, split the way Terraform's statemgr is.

The engine depends on these Protocols, never on a concrete backend, so the
local directory, a Kubernetes Secret plus Lease and a PostgreSQL table can be
swapped by configuration.  Each small role (read, lock, journal) can be faked
on its own in engine tests; :class:`StateBackend` is all of them together, and
``tests/state/conformance.py`` is the behaviour every implementation must show.

Contract shared by all backends:

* ``read()`` never writes and never needs the lock; it returns the last
  committed state with any leftover journal of a crashed run replayed on top
  (serial bumped if that replay changed anything).
* ``begin()`` needs the lock held by this backend object, first compacts any
  leftover journal, and refuses a ``state`` that is not what is stored now
  (another run committed since it was read).
* ``Journal.record``/``forget`` are O(1) and durable when they return;
  ``commit`` bumps the serial once, and only if something changed.
* A lock whose holder is known to be gone (local: the flock is free and the
  recorded process no longer exists on this host; PostgreSQL: the holder's
  session ended; Kubernetes: the Lease expired) is taken over by ``lock``,
  which says so through ``taken_over``.  A lock whose holder cannot be known
  to be gone is reported, not stolen; ``force_unlock`` with the matching id
  clears it.
"""

from __future__ import annotations

import getpass
import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import AwareDatetime, Field

import catalogctl
from catalogctl.errors import LockError, StateError
from catalogctl.state.models import ResourceState, State, _Frozen, utcnow

if TYPE_CHECKING:
    from catalogctl.state.journal import EncodedStep


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No passwd entry and no $USER (e.g. a container with an arbitrary uid).
        return str(os.getuid())


class LockInfo(_Frozen):
    """Who holds the state lock, recorded next to it so others can be told.

    Mirrors Terraform's LockInfo: a blocked user needs to know who to ask, and
    ``id`` is what ``force_unlock`` must be given, so nobody clears a lock they
    have not looked at.
    """

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    operation: str
    user: str = Field(default_factory=_current_user)
    host: str = Field(default_factory=socket.gethostname)
    pid: int = Field(default_factory=os.getpid)
    created: AwareDatetime = Field(default_factory=utcnow)
    version: str = catalogctl.__version__
    #: Where the state lives (a directory, a Secret name, a table), for messages.
    path: str = ""

    @property
    def who(self) -> str:
        """``user@host``."""
        return f"{self.user}@{self.host}"

    def describe(self) -> str:
        """One line naming the holder, for lock errors and ``lock_info`` output."""
        created = self.created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            f"{self.who} (pid {self.pid}) for operation {self.operation!r} "
            f"since {created}, lock id {self.id}"
        )


def begin_base(where: str, stored: State | None, given: State) -> State:
    """The state a journal opened on ``given`` extends, or StateError if it may not.

    ``stored`` is what the backend holds now (None: nothing was ever stored,
    so any empty serial-0 state may start the history); ``where`` is the
    backend's description, for messages.
    """
    if stored is None:
        if given.serial != 0 or given.resources:
            raise StateError(
                f"{where}: no state is stored, but the given state has "
                f"serial {given.serial} and {len(given.resources)} resources"
            )
        return given
    if given.lineage != stored.lineage:
        raise StateError(
            f"{where}: lineage {stored.lineage} is stored, "
            f"not {given.lineage}; this state belongs elsewhere"
        )
    if given.serial != stored.serial or not given.same_content(stored):
        raise StateError(
            f"{where}: the state changed since it was read "
            f"(serial {given.serial}, now {stored.serial}); read it again"
        )
    return stored


def check_unlock(held: LockInfo | None, lock_id: str) -> LockInfo:
    """The lock this run holds, if ``lock_id`` names it; LockError otherwise."""
    if held is None:
        raise LockError(f"cannot unlock {lock_id}: this run does not hold the lock")
    if lock_id != held.id:
        raise LockError(f"cannot unlock {lock_id}: this run holds lock {held.id}")
    return held


def check_force_unlock(where: str, current: LockInfo | None, lock_id: str) -> LockInfo:
    """The current lock, if ``lock_id`` names it; LockError (naming the holder) otherwise."""
    if current is None:
        raise LockError(f"cannot force-unlock {lock_id}: {where} is not locked")
    if current.id != lock_id:
        raise LockError(
            f"cannot force-unlock {lock_id}: it does not match the current lock, "
            f"held by {current.describe()}"
        )
    return current


@runtime_checkable
class Journal(Protocol):
    """An open apply transaction (see :class:`catalogctl.state.journal.BaseJournal`)."""

    @property
    def base(self) -> State: ...

    def record(self, resource: ResourceState) -> None: ...

    def forget(self, address: str) -> None: ...

    def record_batch(self, steps: Sequence[ResourceState | str]) -> None:
        """Several records/forgets (str = address) made durable together."""
        ...

    def record_encoded(self, steps: Sequence[EncodedStep]) -> None:
        """Steps already checked by ``encode_step``, made durable together."""
        ...

    def get(self, address: str) -> ResourceState | None: ...

    def snapshot(self) -> State: ...

    @property
    def changed(self) -> bool: ...

    def commit(self, *, serial_bump: bool = True) -> State: ...

    def close(self) -> None: ...

    @property
    def closed(self) -> bool: ...

    def __enter__(self) -> Journal: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class StateReader(Protocol):
    def read(self) -> State:
        """The current state: last commit plus a replayed leftover journal.

        A new empty State (serial 0) if nothing was ever stored.  Raises
        StateError if the stored data cannot be read or is corrupt.
        """
        ...


@runtime_checkable
class StateLocker(Protocol):
    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        """Take the exclusive lock, retrying for up to ``timeout`` seconds.

        Raises LockError naming the holder (``LockInfo.describe()``) if it is
        still held when the time is up.
        """
        ...

    def unlock(self, lock_id: str) -> None:
        """Release a lock this backend object holds; LockError if ``lock_id`` is not it."""
        ...

    def force_unlock(self, lock_id: str) -> None:
        """Clear a lock left behind by a run that went away.

        Only if ``lock_id`` matches the current lock, so that a stale id from
        an old error message cannot clear a newer run's lock.
        """
        ...

    def lock_info(self) -> LockInfo | None:
        """The current holder, or None if the state is not locked."""
        ...

    def taken_over(self) -> LockInfo | None:
        """The gone holder whose lock the last ``lock()`` took over, if any.

        None when the lock was free.  The caller warns with it: that run's
        unfinished steps are in the state it reads next and will be resumed.
        """
        ...


@runtime_checkable
class StateWriter(Protocol):
    def begin(self, state: State) -> Journal:
        """Open a journal extending ``state``, which must be what is stored now."""
        ...

    def check_writable(self) -> list[str]:
        """Why a run could not record its steps and commit (empty: it can), changing nothing.

        Called before a run's first broker request, so a broken backend is found
        before anything exists that state would have to remember.
        """
        ...

    def replace(self, state: State) -> None:
        """Store ``state`` as it is (lineage and serial too), dropping any journal.

        Needs the lock.  For moving a state between backends: whatever was
        stored before is kept as the backup.
        """
        ...


@runtime_checkable
class StateBackend(StateReader, StateLocker, StateWriter, Protocol):
    """Everything the engine needs from state storage."""

    def describe(self) -> str:
        """Where the state lives, for messages (``local state at ./state``)."""
        ...
