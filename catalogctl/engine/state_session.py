"""``StateSession``: the state alone, for commands that read it or change it by hand.

:class:`~catalogctl.engine.session.Session` adds the cluster and brokers of a plan or apply.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from catalogctl.engine.statestore import migrate_state, take_lock
from catalogctl.state.backend import LockInfo, StateBackend, check_force_unlock
from catalogctl.state.models import ResourceState, State


@dataclass(kw_only=True)
class StateSession:
    backend: StateBackend
    lock_timeout: float = 0.0
    emit: Callable[[str], None] = print
    #: where warnings go (e.g. a dead run's lock taken over); default: ``emit``
    warn: Callable[[str], None] | None = None

    def read(self) -> State:
        return self.backend.read()

    def describe(self) -> str:
        """Where the state is kept, for messages."""
        return self.backend.describe()

    @contextlib.contextmanager
    def locked(self, operation: str) -> Iterator[None]:
        info = take_lock(self.backend, operation, self.lock_timeout, self.warn or self.emit)
        try:
            yield
        finally:
            self.backend.unlock(info.id)

    @contextlib.contextmanager
    def editing(self, operation: str) -> Iterator[StateEdit]:
        """Lock the state and read it, for a change made by hand (``state rm``, ``mv``)."""
        with self.locked(operation):
            yield StateEdit(self.read(), self.backend)

    def lock_to_clear(self, lock_id: str) -> LockInfo:
        """The lock ``force-unlock LOCK_ID`` clears; UsageError unless it is the current one."""
        return check_force_unlock(self.describe(), self.backend.lock_info(), lock_id)

    def force_unlock(self, lock_id: str) -> None:
        self.backend.force_unlock(lock_id)

    def migrate_to(self, target: StateSession, *, force: bool) -> State:
        """Copy this state to ``target``: :func:`~catalogctl.engine.statestore.migrate_state`."""
        warn, timeout = self.warn or self.emit, self.lock_timeout
        return migrate_state(self.backend, target.backend, force=force, timeout=timeout, warn=warn)


@dataclass(frozen=True)
class StateEdit:
    """State as read under the lock, and the one journaled write of a hand-made change.

    The journal is opened only by :meth:`commit`, once the command has checked
    its arguments, so a refused command leaves no journal behind.
    """

    state: State
    backend: StateBackend

    def commit(self, *, record: Sequence[ResourceState] = (), forget: Sequence[str] = ()) -> None:
        """Record ``record``, then forget ``forget``; one commit (bumps the serial)."""
        with self.backend.begin(self.state) as journal:
            for res in record:
                journal.record(res)
            for address in forget:
                journal.forget(address)
            journal.commit()


def moved_to(res: ResourceState, src: str, dst: str) -> ResourceState:
    """``res`` (at ``src``) renamed to ``dst``, with its own references to ``src`` moved."""
    return _validated(references_moved(res, src, dst) or res, address=dst)


def references_moved(res: ResourceState, src: str, dst: str) -> ResourceState | None:
    """``res`` with references to ``src`` pointing at ``dst``, or None if it has none.

    References are ``depends_on`` (the apply order), the ``broker`` of
    instances and bindings (with the stored connection record) and the
    instance a binding shows in plans.  A Secret's ``binding`` attribute is
    left alone: it records the owner written on the object in the cluster,
    which a state-only move does not change.
    """
    update: dict[str, Any] = {}
    if src in res.depends_on:
        update["depends_on"] = [dst if d == src else d for d in res.depends_on]
    attributes = json.loads(json.dumps(res.attributes))
    if res.broker == src:
        update["broker"] = dst
        record = attributes.get("broker_record")
        if isinstance(record, dict) and record.get("address") == src:
            record["address"] = dst
    display = attributes.get("display")
    if (
        res.kind == "ServiceBinding"
        and isinstance(display, dict)
        and display.get("instance") == src
    ):
        display["instance"] = dst
    if attributes != res.attributes:
        update["attributes"] = attributes
    return _validated(res, **update) if update else None


def _validated(res: ResourceState, **update: Any) -> ResourceState:
    """A validated copy (``model_copy`` would skip the model's checks)."""
    data = json.loads(res.model_dump_json())
    data.update(update)
    return ResourceState.model_validate(data)
