"""The behaviour every state backend must show, as one reusable test class.

Modelled on Terraform's ``statemgr.TestFull``: a new backend (Kubernetes Secret
plus Lease, PostgreSQL, ...) subclasses :class:`StateBackendConformance` in a
``Test*`` class, provides the ``factory`` fixture and, where it can, the storage
hooks (``tear_journal``, ``read_backup``, ``stored_bytes``).  A hook it cannot
provide skips the matching tests instead of failing them, so the gap is visible
in the test report.

``factory`` must return a zero-argument callable making a *new* backend object
on the *same* storage each time it is called, and must be picklable (e.g. a
``functools.partial``), because lock tests run it in a child process.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest

from catalogctl.errors import LockError, StateError
from catalogctl.state import (
    InFlightOperation,
    LockInfo,
    OperationKind,
    ResourceState,
    ResourceStatus,
    State,
    StateBackend,
    checksum,
)
from tests import processes

BackendFactory = Callable[[], StateBackend]

#: A credential value that must never reach storage.
SECRET_VALUE = "pa55-S3CRET-value-7f3a"


def instance(name: str, namespace: str = "ns", **fields: Any) -> ResourceState:
    """A ServiceInstance resource with a few fields set (overridable)."""
    values: dict[str, Any] = {
        "address": f"ServiceInstance/{namespace}/{name}",
        "kind": "ServiceInstance",
        "status": ResourceStatus.READY,
        "broker": "ClusterServiceBroker/demo",
        "service_id": "svc-1",
        "plan_id": "plan-small",
        "instance_id": f"id-{name}",
        "parameters": {"size": 1, "tags": ["a", "b"]},
        "updated_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    values.update(fields)
    return ResourceState(**values)


def binding_with_secret(credentials: dict[str, str]) -> list[ResourceState]:
    """A binding and its Secret as apply would record them: hashes and key names only."""
    binding = ResourceState(
        address="ServiceBinding/ns/db-binding",
        kind="ServiceBinding",
        broker="ClusterServiceBroker/demo",
        instance_id="id-db",
        binding_id="bind-1",
        credentials_hash=checksum(dict(credentials)),
        parameters={"role": "rw"},
        sensitive_parameter_keys=("password",),
        parameters_checksum=checksum({"role": "rw", "password": SECRET_VALUE}),
        depends_on=("ServiceInstance/ns/db",),
    )
    secret = ResourceState(
        address="Secret/ns/db-credentials",
        kind="Secret",
        attributes={"name": "db-credentials", "namespace": "ns", "keys": sorted(credentials)},
        depends_on=("ServiceBinding/ns/db-binding",),
    )
    return [binding, secret]


@contextmanager
def locked(backend: StateBackend, operation: str = "apply") -> Iterator[LockInfo]:
    info = backend.lock(operation, timeout=5)
    try:
        yield info
    finally:
        if backend.lock_info() is not None and backend.lock_info() == info:
            backend.unlock(info.id)


def run(
    backend: StateBackend,
    *,
    record: tuple[ResourceState, ...] = (),
    forget: tuple[str, ...] = (),
) -> State:
    """One complete apply-like run: lock, begin, steps, commit, unlock."""
    with locked(backend):
        journal = backend.begin(backend.read())
        for resource in record:
            journal.record(resource)
        for address in forget:
            journal.forget(address)
        return journal.commit()


# -- child processes (module level so that the fork server can import them) ---


def _hold_lock(
    factory: BackendFactory,
    operation: str,
    out: multiprocessing.Queue[str],
    release: Any,
    leave_locked: bool,
) -> None:
    backend = factory()
    info = backend.lock(operation, timeout=10)
    out.put(info.model_dump_json())
    if leave_locked:
        # Flush the queue's feeder thread, then exit as a crash would: no
        # unlock, no cleanup.
        out.close()
        out.join_thread()
        os._exit(0)
    release.wait(30)
    backend.unlock(info.id)


def _record_until_killed(factory: BackendFactory, acks: Any) -> None:
    """Lock, begin, and record steps forever, acknowledging each once it returned."""
    backend = factory()
    info = backend.lock("apply", timeout=10)
    journal = backend.begin(backend.read())
    acks.send(info.id)
    n = 0
    while True:
        journal.record(
            ResourceState(
                address=f"ServiceInstance/ns/step{n}",
                kind="ServiceInstance",
                status=ResourceStatus.CREATING,
                instance_id=f"id-{n}",
                parameters={"n": n, "pad": "x" * (n % 300)},
            )
        )
        acks.send(n)
        n += 1


class _Holder:
    """A child process holding the lock until released (or exiting without unlocking)."""

    def __init__(self, factory: BackendFactory, operation: str, *, leave_locked: bool) -> None:
        ctx = processes.context()
        self._out: multiprocessing.Queue[str] = ctx.Queue()
        self._release = ctx.Event()
        self.process = ctx.Process(
            target=_hold_lock,
            args=(factory, operation, self._out, self._release, leave_locked),
        )
        self.process.start()
        self.info = LockInfo.model_validate_json(self._out.get(timeout=60))

    def release(self) -> None:
        self._release.set()
        self.process.join(30)
        assert self.process.exitcode == 0

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(30)


class StateBackendConformance:
    """Subclass as ``Test<Backend>Conformance`` and provide ``factory``."""

    #: Whether a lock stays held when the backend object holding it is lost
    #: while its process lives on (False where the lock is a connection that
    #: closes with the object, as PostgreSQL's session advisory lock).
    lock_outlives_dropped_backend: ClassVar[bool] = True

    @pytest.fixture
    def factory(self) -> BackendFactory:
        raise NotImplementedError("subclasses provide a 'factory' fixture")

    # -- storage hooks (override where the backend can) -----------------------

    def tear_journal(self, backend: StateBackend) -> None:
        """Append a partial step to the journal, as a kill mid-write would."""
        pytest.skip("backend provides no tear_journal hook")

    def read_backup(self, backend: StateBackend) -> State | None:
        """The state kept as backup by the last commit, or None."""
        pytest.skip("backend provides no read_backup hook")

    def stored_bytes(self, backend: StateBackend) -> bytes:
        """Everything the backend has stored, concatenated."""
        pytest.skip("backend provides no stored_bytes hook")

    def let_time_pass(self, backend: StateBackend, seconds: float) -> None:
        """Advance the clock ``backend`` judges lock expiry by (no-op: no expiry)."""

    # -- reading --------------------------------------------------------------

    def test_empty_read(self, factory: BackendFactory) -> None:
        backend = factory()
        state = backend.read()
        assert state.serial == 0
        assert state.resources == {}
        assert str(uuid.UUID(state.lineage)) == state.lineage
        assert backend.lock_info() is None

    def test_round_trip(self, factory: BackendFactory) -> None:
        started = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
        creating = instance(
            "db",
            status=ResourceStatus.CREATING,
            operation=InFlightOperation(
                kind=OperationKind.PROVISION,
                operation="op-42",
                started_at=started,
                request_sent=True,
            ),
            dashboard_url="https://dash.example/db",
            maintenance_info_version="1.2.3",
            attributes={"note": {"nested": [1, 2.5, None, True]}},
            depends_on=("ClusterServiceBroker/demo",),
        )
        broker = ResourceState(address="ClusterServiceBroker/demo", kind="ClusterServiceBroker")
        written = run(factory(), record=(creating, broker, *binding_with_secret({"u": "x"})))
        reread = factory().read()
        assert reread == written
        assert reread.resources["ServiceInstance/ns/db"] == creating
        assert reread.resources["ServiceInstance/ns/db"].operation is not None
        assert reread.resources["ServiceInstance/ns/db"].operation.started_at == started

    # -- serial and lineage ----------------------------------------------------

    def test_serial_bumps_once_per_changing_run(self, factory: BackendFactory) -> None:
        backend = factory()
        first = run(backend, record=tuple(instance(f"i{n}") for n in range(5)))
        assert first.serial == 1
        assert len(first.resources) == 5

    def test_noop_runs_do_not_bump_serial(self, factory: BackendFactory) -> None:
        backend = factory()
        run(backend, record=(instance("a"), instance("b")))
        assert run(backend).serial == 1
        assert run(backend, record=(instance("a"),)).serial == 1
        assert run(backend, forget=("ServiceInstance/ns/never-tracked",)).serial == 1
        # Changed and changed back within one run: nothing to commit.
        assert run(backend, record=(instance("a", plan_id="big"), instance("a"))).serial == 1
        assert factory().read().serial == 1

    def test_commit_without_serial_bump_writes_but_keeps_serial(
        self, factory: BackendFactory
    ) -> None:
        backend = factory()
        run(backend, record=(instance("a"),))
        with locked(backend):
            journal = backend.begin(backend.read())
            journal.record(instance("a", dashboard_url="https://dash.example/a"))
            committed = journal.commit(serial_bump=False)
        assert committed.serial == 1
        reread = factory().read()
        assert reread == committed
        assert reread.resources["ServiceInstance/ns/a"].dashboard_url == "https://dash.example/a"

    def test_forget_is_a_change(self, factory: BackendFactory) -> None:
        backend = factory()
        run(backend, record=(instance("a"), instance("b")))
        state = run(backend, forget=("ServiceInstance/ns/a",))
        assert state.serial == 2
        assert list(state.resources) == ["ServiceInstance/ns/b"]
        assert factory().read() == state

    def test_lineage_is_fixed(self, factory: BackendFactory) -> None:
        backend = factory()
        with locked(backend):
            fresh = backend.read()
            first = backend.begin(fresh)
            first.record(instance("a"))
            committed = first.commit()
        assert committed.lineage == fresh.lineage
        again = run(factory(), record=(instance("b"),))
        assert again.lineage == fresh.lineage
        assert factory().read().lineage == fresh.lineage

    # -- journal ---------------------------------------------------------------

    def test_begin_needs_the_lock(self, factory: BackendFactory) -> None:
        backend = factory()
        with pytest.raises(StateError, match="lock"):
            backend.begin(backend.read())

    def test_begin_refuses_a_state_that_changed_since_read(self, factory: BackendFactory) -> None:
        run(factory(), record=(instance("a"),))
        old = factory().read()
        run(factory(), record=(instance("b"),))
        backend = factory()
        with locked(backend), pytest.raises(StateError, match="changed since it was read"):
            backend.begin(old)

    def test_begin_adopts_the_lineage_of_a_never_written_state(
        self, factory: BackendFactory
    ) -> None:
        # Nothing is stored, so any empty serial-0 state may start the history.
        fresh = State.new()
        backend = factory()
        with locked(backend):
            journal = backend.begin(fresh)
            journal.record(instance("a"))
            assert journal.commit().lineage == fresh.lineage
        with locked(backend), pytest.raises(StateError):
            backend.begin(State.new())

    def test_begin_refuses_same_serial_different_content(self, factory: BackendFactory) -> None:
        run(factory(), record=(instance("a"),))
        backend = factory()
        current = backend.read()
        tampered = current.with_resource(instance("a", plan_id="other"))
        with locked(backend), pytest.raises(StateError, match="changed since it was read"):
            backend.begin(tampered)

    def test_begin_refuses_another_lineage(self, factory: BackendFactory) -> None:
        run(factory(), record=(instance("a"),))
        backend = factory()
        foreign = State.new().with_resource(instance("a")).with_serial(1)
        with locked(backend), pytest.raises(StateError, match="lineage"):
            backend.begin(foreign)

    def test_journal_is_unusable_after_commit(self, factory: BackendFactory) -> None:
        backend = factory()
        with locked(backend):
            journal = backend.begin(backend.read())
            journal.record(instance("a"))
            journal.commit()
            with pytest.raises(StateError):
                journal.record(instance("b"))
            with pytest.raises(StateError):
                journal.commit()
        assert set(factory().read().resources) == {"ServiceInstance/ns/a"}

    def test_journal_sees_its_own_steps(self, factory: BackendFactory) -> None:
        backend = factory()
        run(backend, record=(instance("a"),))
        with locked(backend):
            journal = backend.begin(backend.read())
            assert not journal.changed
            journal.record(instance("b"))
            journal.forget("ServiceInstance/ns/a")
            assert journal.get("ServiceInstance/ns/b") == instance("b")
            assert journal.get("ServiceInstance/ns/a") is None
            assert journal.changed
            assert set(journal.snapshot().resources) == {"ServiceInstance/ns/b"}
            assert journal.snapshot().serial == journal.base.serial == 1
            journal.commit()

    def test_record_revalidates_unvalidated_copies(self, factory: BackendFactory) -> None:
        # model_copy(update=...) skips validation; record() must not.
        smuggled = instance("a").model_copy(
            update={"attributes": {"credentials": {"password": SECRET_VALUE}}}
        )
        backend = factory()
        with locked(backend):
            journal = backend.begin(backend.read())
            with pytest.raises(StateError, match="credential") as raised:
                journal.record(smuggled)
            assert SECRET_VALUE not in str(raised.value)
            assert not journal.changed
            journal.record(instance("b"))
            journal.commit()
        assert set(factory().read().resources) == {"ServiceInstance/ns/b"}

    def test_records_from_many_threads(self, factory: BackendFactory) -> None:
        backend = factory()
        with locked(backend):
            journal = backend.begin(backend.read())

            def worker(t: int) -> None:
                for n in range(25):
                    journal.record(instance(f"t{t}-{n}"))

            threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            committed = journal.commit()
        assert len(committed.resources) == 200
        assert factory().read() == committed

    def test_replay_after_crash(self, factory: BackendFactory) -> None:
        run(factory(), record=(instance("kept"), instance("gone")))
        backend = factory()
        info = backend.lock("apply", timeout=5)
        journal = backend.begin(backend.read())
        journal.record(instance("new", status=ResourceStatus.CREATING))
        journal.record(instance("kept", plan_id="plan-big"))
        journal.forget("ServiceInstance/ns/gone")
        # Crash: the process loses the objects without commit, close or unlock.
        del journal, backend
        gc.collect()

        replayed = factory().read()
        assert set(replayed.resources) == {"ServiceInstance/ns/kept", "ServiceInstance/ns/new"}
        assert replayed.resources["ServiceInstance/ns/kept"].plan_id == "plan-big"
        assert replayed.resources["ServiceInstance/ns/new"].status == ResourceStatus.CREATING
        # The steps happened, so a plan saved against serial 1 must be stale.
        assert replayed.serial == 2
        assert factory().read() == replayed  # reading is repeatable and writes nothing

        nxt = factory()
        if self.lock_outlives_dropped_backend:
            leftover = nxt.lock_info()
            assert leftover is not None and leftover.id == info.id
            with pytest.raises(LockError):
                nxt.lock("apply")
            nxt.force_unlock(info.id)
        with locked(nxt):
            journal2 = nxt.begin(nxt.read())
            assert journal2.base == replayed
            final = journal2.commit()
        assert final == replayed
        assert factory().read() == replayed

    def test_torn_journal_tail_is_dropped(self, factory: BackendFactory) -> None:
        backend = factory()
        info = backend.lock("apply", timeout=5)
        journal = backend.begin(backend.read())
        journal.record(instance("a"))
        journal.record(instance("b"))
        journal.close()
        self.tear_journal(backend)
        state = factory().read()
        assert set(state.resources) == {"ServiceInstance/ns/a", "ServiceInstance/ns/b"}
        assert state.serial == 1
        # The next run compacts it and can go on appending.
        backend.unlock(info.id)
        final = run(factory(), record=(instance("c"),))
        assert set(final.resources) == {f"ServiceInstance/ns/{n}" for n in "abc"}
        assert final.serial == 2

    def test_unlock_closes_the_open_journal(self, factory: BackendFactory) -> None:
        backend = factory()
        info = backend.lock("apply", timeout=5)
        journal = backend.begin(backend.read())
        journal.record(instance("a"))
        backend.unlock(info.id)
        with pytest.raises(StateError):
            journal.record(instance("b"))
        assert set(factory().read().resources) == {"ServiceInstance/ns/a"}

    # -- locking ---------------------------------------------------------------

    def test_lock_excludes_another_backend_object(self, factory: BackendFactory) -> None:
        first, second = factory(), factory()
        info = first.lock("apply", timeout=5)
        with pytest.raises(LockError) as raised:
            second.lock("plan", timeout=0)
        message = str(raised.value)
        assert info.id in message
        assert f"pid {os.getpid()}" in message
        assert info.who in message
        assert "'apply'" in message
        seen = second.lock_info()
        assert seen is not None and seen.id == info.id and seen.operation == "apply"
        first.unlock(info.id)
        assert second.lock_info() is None
        second.unlock(second.lock("plan", timeout=0).id)

    def test_lock_waits_for_release(self, factory: BackendFactory) -> None:
        first, second = factory(), factory()
        info = first.lock("apply", timeout=5)
        releaser = threading.Timer(0.2, first.unlock, args=(info.id,))
        releaser.start()
        try:
            got = second.lock("apply", timeout=30)
        finally:
            releaser.join()
        assert got.id != info.id
        second.unlock(got.id)

    def test_lock_is_not_reentrant(self, factory: BackendFactory) -> None:
        backend = factory()
        with locked(backend), pytest.raises(LockError):
            backend.lock("apply", timeout=0)

    def test_unlock_needs_the_held_id(self, factory: BackendFactory) -> None:
        backend = factory()
        with pytest.raises(LockError):
            backend.unlock("not-held")
        with locked(backend) as info:
            with pytest.raises(LockError):
                backend.unlock(str(uuid.uuid4()))
            assert backend.lock_info() == info

    def test_lock_excludes_another_process(self, factory: BackendFactory) -> None:
        holder = _Holder(factory, "apply", leave_locked=False)
        try:
            backend = factory()
            with pytest.raises(LockError) as raised:
                backend.lock("plan", timeout=0.2)
            message = str(raised.value)
            assert f"pid {holder.process.pid}" in message
            assert holder.info.id in message
            assert "'apply'" in message
            assert holder.info.who in message
            holder.release()
            info = backend.lock("plan", timeout=5)
            backend.unlock(info.id)
        finally:
            holder.kill()

    def test_lock_of_exited_holder_is_taken_over(self, factory: BackendFactory) -> None:
        holder = _Holder(factory, "apply", leave_locked=True)
        holder.kill()
        backend = factory()
        self.let_time_pass(backend, 3600)
        info = backend.lock("apply", timeout=5)
        try:
            gone = backend.taken_over()
            assert gone is not None
            assert gone.id == holder.info.id and gone.pid == holder.process.pid
            assert backend.lock_info() == info
        finally:
            backend.unlock(info.id)
        assert backend.lock_info() is None
        again = factory()
        assert again.taken_over() is None
        again.unlock(again.lock("apply", timeout=0).id)
        assert again.taken_over() is None

    def test_sigkill_mid_apply_loses_no_acknowledged_step(self, factory: BackendFactory) -> None:
        base = run(factory(), record=(instance("before"),))
        ctx = processes.context()
        receiver, sender = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_record_until_killed, args=(factory, sender))
        child.start()
        sender.close()
        acked: set[int] = set()
        try:
            lock_id = receiver.recv()
            while len(acked) < 150:
                acked.add(receiver.recv())
            os.kill(child.pid or 0, signal.SIGKILL)
            # Acknowledgements already in the pipe when the kill landed count too.
            with contextlib.suppress(EOFError):
                while True:
                    acked.add(receiver.recv())
        finally:
            child.kill()
            child.join(30)
        assert child.exitcode == -signal.SIGKILL

        state = factory().read()
        assert state.lineage == base.lineage
        assert state.serial == base.serial + 1
        assert "ServiceInstance/ns/before" in state.resources
        for n in acked:
            resource = state.resources[f"ServiceInstance/ns/step{n}"]
            assert resource.instance_id == f"id-{n}"
            assert resource.parameters == {"n": n, "pad": "x" * (n % 300)}
        # Nothing beyond the one step that may have been written but not acknowledged.
        assert len(state.resources) - 1 <= max(acked) + 2

        # The next run recovers the dead holder's lock by itself and compacts.
        backend = factory()
        self.let_time_pass(backend, 3600)
        info = backend.lock("apply", timeout=5)
        gone = backend.taken_over()
        assert gone is not None and gone.id == lock_id
        journal = backend.begin(backend.read())
        assert journal.base == state
        assert journal.commit() == state
        backend.unlock(info.id)
        assert factory().read() == state
        assert run(factory()) == state

    def test_force_unlock_when_not_locked(self, factory: BackendFactory) -> None:
        with pytest.raises(LockError, match="not locked"):
            factory().force_unlock(str(uuid.uuid4()))

    def test_force_unlock_own_lock(self, factory: BackendFactory) -> None:
        backend = factory()
        info = backend.lock("apply", timeout=0)
        backend.force_unlock(info.id)
        assert backend.lock_info() is None
        other = factory()
        other.unlock(other.lock("apply", timeout=0).id)

    # -- backup and secrets ----------------------------------------------------

    def test_backup_holds_the_previous_state(self, factory: BackendFactory) -> None:
        backend = factory()
        first = run(backend, record=(instance("a"),))
        assert self.read_backup(backend) is None
        second = run(backend, record=(instance("b"),))
        assert self.read_backup(backend) == first
        run(backend)  # no-op: the backup is still the state before the last change
        assert self.read_backup(backend) == first
        run(backend, forget=("ServiceInstance/ns/a",))
        assert self.read_backup(backend) == second

    def test_credentials_never_reach_storage(self, factory: BackendFactory) -> None:
        credentials = {"username": "app", "password": SECRET_VALUE}
        backend = factory()
        run(backend, record=tuple(binding_with_secret(credentials)))
        # A second run left uncommitted, so the journal is on storage too.
        with locked(backend):
            journal = backend.begin(backend.read())
            for resource in binding_with_secret({**credentials, "extra": SECRET_VALUE}):
                journal.record(resource)
            journal.close()
            stored = self.stored_bytes(backend)
        assert stored, "stored_bytes returned nothing; the check would be vacuous"
        assert checksum(credentials).encode() in stored
        assert SECRET_VALUE.encode() not in stored

    def test_a_usable_backend_reports_no_write_problem(self, factory: BackendFactory) -> None:
        backend = factory()
        with locked(backend):
            assert backend.check_writable() == []

    # -- moving between backends -----------------------------------------------

    def test_replace_stores_lineage_and_serial_as_given(self, factory: BackendFactory) -> None:
        moved = State.new().with_resource(instance("a")).with_serial(7)
        backend = factory()
        with pytest.raises(StateError, match="lock"):
            backend.replace(moved)
        with locked(backend):
            backend.replace(moved)
        assert factory().read() == moved
        # Ordinary runs go on from there, in that lineage.
        after = run(factory(), record=(instance("b"),))
        assert (after.lineage, after.serial) == (moved.lineage, 8)

    def test_replace_drops_a_leftover_journal(self, factory: BackendFactory) -> None:
        run(factory(), record=(instance("old"),))
        backend = factory()
        with locked(backend):
            journal = backend.begin(backend.read())
            journal.record(instance("uncommitted"))
            journal.close()
            moved = State.new().with_resource(instance("a")).with_serial(3)
            backend.replace(moved)
        assert factory().read() == moved
        assert run(factory()) == moved
