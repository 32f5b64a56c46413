"""State in a Kubernetes namespace: Secrets for the data, a Lease for the lock.

For ``kubernetes://NAMESPACE/NAME`` every object is named ``catalogctl-state-NAME…``
(a dot, which names cannot hold, separates the parts, so no state's objects
can be mistaken for another's) and labelled ``catalogctl.io/state=NAME`` plus
its role::

    Secret catalogctl-state-NAME              role=index: which generation is current
                                              (and which one is the backup)
    Secret catalogctl-state-NAME.gG.cI        role=chunk: part I of generation G, the
                                              gzip'ed state JSON cut into pieces well
                                              under the 1 MiB object limit
    Secret catalogctl-state-NAME.jSEQ         role=journal: one step (or group of steps)
                                              of the run that has not committed yet
    Lease  catalogctl-state-NAME              the lock

A commit writes the chunks of the new generation first, then swings the index
to it with the resourceVersion it last saw (a conflicting writer gets 409),
then deletes the journal (its steps in one request, its header last, so that
whatever a reader lists of it still parses) and the generation before the
backup.  A reader lists the journal, then reads the index and the chunks it
names: it sees the old state with the journal or the new state, never half
of one.  The previous generation stays as the backup, so a reader that raced
one commit still finds its chunks; one that raced two reads again.

The Lease carries ``holderIdentity`` (the lock id), ``leaseDurationSeconds``
(default 60) and ``renewTime``, which a background thread renews every third
of the duration while the run lives; the holder's LockInfo is an annotation.
A Lease whose ``renewTime`` is older than its duration belongs to a run that
died: it is taken over (:meth:`taken_over`), by an update carrying the
resourceVersion read, so of two runs racing for it exactly one wins.  If
renewal finds the Lease taken by someone else, journal appends fail from
then on, so no step goes on without the lock.

The kubernetes client is synchronous; apply calls the journal from worker
threads, never from the event loop.
"""

from __future__ import annotations

import base64
import gzip
import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from catalogctl.errors import LockError, StateError
from catalogctl.state.backend import (
    LockInfo,
    StateBackend,
    begin_base,
    check_force_unlock,
    check_unlock,
)
from catalogctl.state.journal import BaseJournal, encode_header, replay
from catalogctl.state.models import State
from catalogctl.state.naming import KubernetesStateName

#: Raw (gzip'ed) bytes per chunk: base64 makes it 4/3 larger, still far
#: below the API server's 1 MiB object limit with metadata.
CHUNK_BYTES = 512 * 1024
DEFAULT_LEASE_SECONDS = 60

LABEL_STATE = "catalogctl.io/state"
LABEL_ROLE = "catalogctl.io/role"
#: On journal objects after the header, so that they can be deleted in one request.
LABEL_STEP = "catalogctl.io/journal-step"
MANAGED_BY = {"app.kubernetes.io/managed-by": "catalogctl"}
LOCK_INFO_ANNOTATION = "catalogctl.io/lock-info"
SECRET_TYPE = "catalogctl.io/state"

Clock = Callable[[], datetime]

#: What a run does in the namespace (docs/state.md lists it as a Role).
_NEEDED_ACCESS = (
    ("", "secrets", ("get", "list", "create", "update", "delete", "deletecollection")),
    ("coordination.k8s.io", "leases", ("get", "create", "update", "delete")),
)


def utc_clock() -> datetime:
    return datetime.now(UTC)


def _micro_time(moment: datetime) -> str:
    """RFC 3339 with exactly six fractional digits, as ``MicroTime`` wants."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _api_error(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if status is not None:
        try:
            message = json.loads(getattr(exc, "body", "") or "{}").get("message")
        except ValueError:
            message = None
        return f"HTTP {status}: {message or getattr(exc, 'reason', '')}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@dataclass(frozen=True)
class _Index:
    generation: int
    chunks: int
    backup_generation: int | None
    backup_chunks: int
    resource_version: str | None


class _Api:
    """The two typed API groups, made once from the client factory."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        # Typed as Any: bodies are plain dicts (exact MicroTime strings), which
        # the client accepts but its annotations do not describe.
        self.core: Any = client.CoreV1Api(api_client)
        self.coordination: Any = client.CoordinationV1Api(api_client)


def _api_errors() -> tuple[type[BaseException], ...]:
    """What the client raises for an API error or an unreachable server."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    return (ApiException, urllib3.exceptions.HTTPError)


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


class KubernetesBackend(StateBackend):
    """A state in Secrets of one namespace, locked by a Lease."""

    def __init__(
        self,
        name: KubernetesStateName,
        api_client: Callable[[], Any],
        *,
        lease_seconds: int = DEFAULT_LEASE_SECONDS,
        clock: Clock = utc_clock,
    ) -> None:
        self.target = name
        self._api_client_factory = api_client
        self._api_obj: _Api | None = None
        self.lease_seconds = lease_seconds
        self._clock = clock
        self.base_name = f"catalogctl-state-{name.name}"
        self._lock: LockInfo | None = None
        self._renewer: _Renewer | None = None
        self._taken_over: LockInfo | None = None
        self._journal: KubernetesJournal | None = None
        self._guard = threading.Lock()

    def describe(self) -> str:
        return f"Kubernetes state {self.target.display()}"

    @property
    def namespace(self) -> str:
        return self.target.namespace

    @property
    def api(self) -> _Api:
        if self._api_obj is None:
            self._api_obj = _Api(self._api_client_factory())
        return self._api_obj

    def _labels(self, role: str) -> dict[str, str]:
        return {**MANAGED_BY, LABEL_STATE: self.target.name, LABEL_ROLE: role}

    def _fail(self, what: str, exc: BaseException) -> StateError:
        return StateError(f"{self.describe()}: {what}: {_api_error(exc)}")

    # -- reading -------------------------------------------------------------

    def read(self) -> State:
        for _ in range(5):
            journal = self._read_journal()
            index = self._read_index()
            if index is None:
                stored = None
            else:
                data = self._read_generation(index.generation, index.chunks)
                if data is None:
                    continue  # two commits raced this read; read again
                stored = State.from_json(data, source=self.describe())
            return replay(stored, journal, source=self._journal_source()).state
        raise StateError(f"{self.describe()}: the state kept changing while being read")

    def read_backup(self) -> State | None:
        """The state before the last commit, or None."""
        index = self._read_index()
        if index is None or index.backup_generation is None:
            return None
        data = self._read_generation(index.backup_generation, index.backup_chunks)
        return None if data is None else State.from_json(data, source=f"{self.describe()} backup")

    def _journal_source(self) -> str:
        return f"{self.describe()} (journal)"

    def _read_index(self) -> _Index | None:
        try:
            secret = self.api.core.read_namespaced_secret(self.base_name, self.namespace)
        except _api_errors() as exc:
            if _status(exc) == 404:
                return None
            raise self._fail(f"cannot read Secret {self.base_name}", exc) from None
        try:
            raw = json.loads(base64.b64decode((secret.data or {})["index.json"]))
            backup = raw.get("backup_generation")
            return _Index(
                generation=int(raw["generation"]),
                chunks=int(raw["chunks"]),
                backup_generation=int(backup) if backup is not None else None,
                backup_chunks=int(raw.get("backup_chunks", 0)),
                resource_version=secret.metadata.resource_version,
            )
        except (KeyError, ValueError, TypeError):
            raise StateError(
                f"{self.describe()}: Secret {self.base_name} is not a catalogctl state index"
            ) from None

    def _chunk_name(self, generation: int, part: int) -> str:
        return f"{self.base_name}.g{generation}.c{part}"

    def _read_generation(self, generation: int, chunks: int) -> bytes | None:
        """The state JSON of ``generation``; None if a chunk is already gone."""
        parts: list[bytes] = []
        for part in range(chunks):
            name = self._chunk_name(generation, part)
            try:
                secret = self.api.core.read_namespaced_secret(name, self.namespace)
            except _api_errors() as exc:
                if _status(exc) == 404:
                    return None
                raise self._fail(f"cannot read Secret {name}", exc) from None
            parts.append(base64.b64decode((secret.data or {}).get("chunk", "")))
        try:
            return gzip.decompress(b"".join(parts))
        except (OSError, EOFError):
            raise StateError(f"{self.describe()}: generation {generation} is damaged") from None

    def _list_journal(self) -> list[Any]:
        selector = f"{LABEL_STATE}={self.target.name},{LABEL_ROLE}=journal"
        try:
            items = self.api.core.list_namespaced_secret(
                self.namespace, label_selector=selector
            ).items
        except _api_errors() as exc:
            raise self._fail("cannot list journal Secrets", exc) from None
        return sorted(items, key=lambda s: int(s.metadata.name.rsplit(".j", 1)[1]))

    def _read_journal(self) -> bytes | None:
        items = self._list_journal()
        if not items:
            return None
        return b"".join(base64.b64decode((s.data or {}).get("line", "")) for s in items)

    # -- locking -------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        with self._guard:
            if self._lock is not None:
                raise LockError(
                    f"{self.describe()} is already locked by this run ({self._lock.describe()})"
                )
            info = LockInfo(operation=operation, path=self.target.display())
            deadline = time.monotonic() + max(timeout, 0.0)
            delay = 0.05
            while True:
                outcome = self._try_lease(info)
                if isinstance(outcome, str):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    who = outcome.describe() if outcome else "another run (no lock info)"
                    raise LockError(
                        f"{self.describe()} is locked by {who}; gave up after {timeout:g}s"
                    )
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.5)
            self._lock = info
            self._renewer = _Renewer(self, info, outcome)
            weakref.finalize(self, self._renewer.stop)
            self._renewer.start()
            return info

    def _lease_body(self, info: LockInfo, resource_version: str | None) -> dict[str, Any]:
        now = _micro_time(self._clock())
        metadata: dict[str, Any] = {
            "name": self.base_name,
            "namespace": self.namespace,
            "labels": self._labels("lock"),
            "annotations": {LOCK_INFO_ANNOTATION: info.model_dump_json()},
        }
        if resource_version is not None:
            metadata["resourceVersion"] = resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": {
                "holderIdentity": info.id,
                "leaseDurationSeconds": self.lease_seconds,
                "acquireTime": now,
                "renewTime": now,
            },
        }

    def _try_lease(self, info: LockInfo) -> str | LockInfo | None:
        """Take the Lease: its new resourceVersion, or the holder still holding it."""
        leases = self.api.coordination
        lease = self._read_lease()
        if lease is None:
            try:
                created = leases.create_namespaced_lease(
                    self.namespace, self._lease_body(info, None)
                )
            except _api_errors() as exc:
                if _status(exc) == 409:
                    return self._holder_of(self._read_lease())
                raise LockError(
                    f"{self.describe()}: cannot create Lease: {_api_error(exc)}"
                ) from None
            self._taken_over = None
            return str(created.metadata.resource_version)
        holder = self._holder_of(lease)
        if lease.spec.holder_identity and not self._expired(lease):
            return holder
        try:
            updated = leases.replace_namespaced_lease(
                self.base_name,
                self.namespace,
                self._lease_body(info, lease.metadata.resource_version),
            )
        except _api_errors() as exc:
            if _status(exc) == 409:
                # Another run took it between our read and our write.
                return self._holder_of(self._read_lease())
            raise LockError(f"{self.describe()}: cannot update Lease: {_api_error(exc)}") from None
        self._taken_over = holder if lease.spec.holder_identity else None
        return str(updated.metadata.resource_version)

    def _expired(self, lease: Any) -> bool:
        spec = lease.spec
        renewed = spec.renew_time or spec.acquire_time
        if renewed is None:
            return True
        if renewed.tzinfo is None:
            renewed = renewed.replace(tzinfo=UTC)
        duration = spec.lease_duration_seconds or DEFAULT_LEASE_SECONDS
        return bool(self._clock() > renewed + timedelta(seconds=duration))

    def _read_lease(self) -> Any | None:
        """The Lease, or None if there is none."""
        try:
            return self.api.coordination.read_namespaced_lease(self.base_name, self.namespace)
        except _api_errors() as exc:
            if _status(exc) == 404:
                return None
            raise LockError(f"{self.describe()}: cannot read Lease: {_api_error(exc)}") from None

    def _holder_of(self, lease: Any | None) -> LockInfo | None:
        """Who holds ``lease`` (None: nobody, or there is no Lease)."""
        if lease is None or not lease.spec.holder_identity:
            return None
        raw = (lease.metadata.annotations or {}).get(LOCK_INFO_ANNOTATION)
        if raw is None:
            return LockInfo(
                id=lease.spec.holder_identity,
                operation="unknown",
                user="unknown",
                host="unknown",
                pid=0,
                path=self.target.display(),
            )
        try:
            return LockInfo.model_validate_json(raw)
        except ValidationError:
            raise LockError(
                f"{self.describe()}: Lease {self.base_name} has unreadable lock info; if no "
                f"catalogctl run is using this state, delete the Lease"
            ) from None

    def unlock(self, lock_id: str) -> None:
        with self._guard:
            check_unlock(self._lock, lock_id)
            assert self._renewer is not None
            if self._journal is not None:
                self._journal.close()
            renewer, self._renewer, self._lock = self._renewer, None, None
            renewer.stop()
            renewer.release()

    def force_unlock(self, lock_id: str) -> None:
        if self._lock is not None and self._lock.id == lock_id:
            self.unlock(lock_id)
            return
        lease = self._read_lease()
        check_force_unlock(self.describe(), self._holder_of(lease), lock_id)
        assert lease is not None  # it has a holder
        _delete_lease(self, lease.metadata.resource_version)

    def lock_info(self) -> LockInfo | None:
        return self._holder_of(self._read_lease())

    def taken_over(self) -> LockInfo | None:
        return self._taken_over

    def lease_lost(self) -> str | None:
        """Why this run no longer holds its Lease (None: it does, or holds none)."""
        return self._renewer.lost if self._renewer is not None else None

    # -- writing -------------------------------------------------------------

    def begin(self, state: State) -> KubernetesJournal:
        if self._lock is None:
            raise StateError(f"{self.describe()}: begin() needs the state lock; lock() first")
        if self._journal is not None and not self._journal.closed:
            raise StateError(f"{self.describe()}: a journal is already open in this run")
        current, index = self._recover()
        base = begin_base(self.describe(), current, state)
        journal = KubernetesJournal(self, base, index, lock_id=self._lock.id)
        self._journal = journal
        return journal

    def check_writable(self) -> list[str]:
        """Ask the API server (``SelfSubjectAccessReview``) for every verb a run uses."""
        from kubernetes import client

        authorization: Any = client.AuthorizationV1Api(self.api.core.api_client)
        problems: list[str] = []
        for group, resource, verbs in _NEEDED_ACCESS:
            for verb in verbs:
                body = {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {
                        "resourceAttributes": {
                            "namespace": self.namespace,
                            "group": group,
                            "resource": resource,
                            "verb": verb,
                        }
                    },
                }
                try:
                    review = authorization.create_self_subject_access_review(body)
                except _api_errors() as exc:
                    return [f"{self.describe()}: cannot check access: {_api_error(exc)}"]
                if not (review.status and review.status.allowed):
                    problems.append(
                        f"{self.describe()}: not allowed to {verb} {resource} in namespace "
                        f"{self.namespace}"
                    )
        return problems

    def replace(self, state: State) -> None:
        if self._lock is None:
            raise StateError(f"{self.describe()}: replace() needs the state lock; lock() first")
        items = self._list_journal()
        self._store(state, self._read_index())
        self._delete_journal(items)

    def _recover(self) -> tuple[State | None, _Index | None]:
        """Compact a crashed run's journal into a new generation, then drop it."""
        items = self._list_journal()
        index = self._read_index()
        stored: State | None = None
        if index is not None:
            data = self._read_generation(index.generation, index.chunks)
            if data is None:
                raise StateError(f"{self.describe()}: generation {index.generation} is missing")
            stored = State.from_json(data, source=self.describe())
        if not items:
            return stored, index
        journal = b"".join(base64.b64decode((s.data or {}).get("line", "")) for s in items)
        replayed = replay(stored, journal, source=self._journal_source())
        if replayed.changed:
            index = self._store(replayed.state, index)
        self._delete_journal(items)
        return (replayed.state if (replayed.changed or stored is not None) else None), index

    def _store(self, state: State, index: _Index | None) -> _Index:
        """Write ``state`` as a new generation and point the index at it."""
        generation = index.generation + 1 if index is not None else 1
        packed = gzip.compress(state.to_json().encode("utf-8"), compresslevel=6, mtime=0)
        pieces = [packed[i : i + CHUNK_BYTES] for i in range(0, len(packed), CHUNK_BYTES)]
        for part, piece in enumerate(pieces):
            self._put_secret(
                self._chunk_name(generation, part),
                "chunk",
                {"chunk": base64.b64encode(piece).decode("ascii")},
            )
        body = self._secret_body(
            self.base_name,
            "index",
            {
                "index.json": base64.b64encode(
                    json.dumps(
                        {
                            "generation": generation,
                            "chunks": len(pieces),
                            "lineage": state.lineage,
                            "serial": state.serial,
                            "backup_generation": index.generation if index else None,
                            "backup_chunks": index.chunks if index else 0,
                        }
                    ).encode()
                ).decode("ascii")
            },
        )
        core = self.api.core
        try:
            if index is None:
                written = core.create_namespaced_secret(self.namespace, body)
            else:
                body["metadata"]["resourceVersion"] = index.resource_version
                written = core.replace_namespaced_secret(self.base_name, self.namespace, body)
        except _api_errors() as exc:
            if _status(exc) == 409:
                raise StateError(
                    f"{self.describe()}: the state index was changed by someone else during "
                    "this run; nothing was overwritten"
                ) from None
            raise self._fail(f"cannot write Secret {self.base_name}", exc) from None
        if index is not None and index.backup_generation is not None:
            for part in range(index.backup_chunks):
                self._delete_secret(self._chunk_name(index.backup_generation, part))
        return _Index(
            generation=generation,
            chunks=len(pieces),
            backup_generation=index.generation if index else None,
            backup_chunks=index.chunks if index else 0,
            resource_version=written.metadata.resource_version,
        )

    def _secret_body(self, name: str, role: str, data: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": SECRET_TYPE,
            "metadata": {"name": name, "namespace": self.namespace, "labels": self._labels(role)},
            "data": data,
        }

    def _put_secret(self, name: str, role: str, data: dict[str, str]) -> None:
        """Create (or, left over from a crashed commit, replace) one Secret."""
        body = self._secret_body(name, role, data)
        core = self.api.core
        try:
            core.create_namespaced_secret(self.namespace, body)
        except _api_errors() as exc:
            if _status(exc) != 409:
                raise self._fail(f"cannot write Secret {name}", exc) from None
            try:
                core.replace_namespaced_secret(name, self.namespace, body)
            except _api_errors() as exc:
                raise self._fail(f"cannot write Secret {name}", exc) from None

    def _delete_secret(self, name: str) -> None:
        try:
            self.api.core.delete_namespaced_secret(name, self.namespace)
        except _api_errors() as exc:
            if _status(exc) != 404:
                raise self._fail(f"cannot delete Secret {name}", exc) from None

    def _delete_journal(self, items: list[Any]) -> None:
        """Delete the steps in one request, then the header.

        Called once the index points past this journal, so a reader listing
        it meanwhile ignores what it finds (its base serial is behind); the
        header goes last so that what it finds still parses.
        """
        steps = [s for s in items if LABEL_STEP in (s.metadata.labels or {})]
        if steps:
            selector = f"{LABEL_STATE}={self.target.name},{LABEL_ROLE}=journal,{LABEL_STEP}"
            try:
                self.api.core.delete_collection_namespaced_secret(
                    self.namespace, label_selector=selector
                )
            except _api_errors() as exc:
                raise self._fail("cannot delete journal Secrets", exc) from None
        for secret in items:
            if LABEL_STEP not in (secret.metadata.labels or {}):
                self._delete_secret(secret.metadata.name)


def _delete_lease(backend: KubernetesBackend, resource_version: str | None) -> None:
    from kubernetes import client

    options = client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=resource_version)
    )
    try:
        backend.api.coordination.delete_namespaced_lease(
            backend.base_name, backend.namespace, body=options
        )
    except _api_errors() as exc:
        if _status(exc) in (404, 409):
            return  # already gone, or already taken by the next run
        raise LockError(f"{backend.describe()}: cannot release Lease: {_api_error(exc)}") from None


class _Renewer:
    """Renews the Lease every third of its duration until stopped.

    Holds the backend weakly: a backend object dropped without unlocking
    stops renewing, and its Lease then expires as a dead run's would.
    """

    def __init__(self, backend: KubernetesBackend, info: LockInfo, resource_version: str) -> None:
        self._backend = weakref.ref(backend)
        self._info = info
        self._interval = max(backend.lease_seconds / 3, 0.5)
        self.resource_version: str | None = resource_version
        self._acquired = _micro_time(backend._clock())
        self.lost: str | None = None
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{backend.base_name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            backend = self._backend()
            if backend is None:
                return
            self.renew(backend)
            del backend

    def renew(self, backend: KubernetesBackend) -> None:
        with self._mutex:
            if self.lost is not None:
                return
            body = backend._lease_body(self._info, self.resource_version)
            body["spec"]["acquireTime"] = self._acquired
            try:
                updated = backend.api.coordination.replace_namespaced_lease(
                    backend.base_name, backend.namespace, body
                )
                self.resource_version = str(updated.metadata.resource_version)
            except _api_errors() as exc:
                if _status(exc) in (404, 409):
                    self.lost = "the Lease was released or taken by another run"
                # Other errors (the API server briefly unreachable) are retried
                # at the next interval; the Lease lasts three of them.

    def release(self) -> None:
        backend = self._backend()
        if backend is None:
            return
        with self._mutex:
            if self.lost is None:
                _delete_lease(backend, self.resource_version)


class KubernetesJournal(BaseJournal):
    """One Secret per append, named by sequence number."""

    def __init__(
        self,
        backend: KubernetesBackend,
        base: State,
        index: _Index | None,
        *,
        lock_id: str | None,
    ) -> None:
        super().__init__(base, lock_id=lock_id)
        self._backend = backend
        self._index = index
        self._seq = 0
        try:
            self._append(encode_header(self.header))
        except OSError as exc:
            raise StateError(f"{backend.describe()}: cannot start the journal: {exc}") from None

    def _append(self, line: bytes) -> None:
        backend = self._backend
        lost = backend.lease_lost()
        if lost is not None:
            raise OSError(f"the state lock is no longer held: {lost}")
        name = f"{backend.base_name}.j{self._seq}"
        body = backend._secret_body(
            name, "journal", {"line": base64.b64encode(line).decode("ascii")}
        )
        if self._seq > 0:
            body["metadata"]["labels"][LABEL_STEP] = "true"
        try:
            backend.api.core.create_namespaced_secret(backend.namespace, body)
        except _api_errors() as exc:
            raise OSError(f"cannot create Secret {name}: {_api_error(exc)}") from None
        self._seq += 1

    def _write_state(self, state: State) -> None:
        backend = self._backend
        items = backend._list_journal()
        self._index = backend._store(state, self._index)
        backend._delete_journal(items)

    def _drop(self) -> None:
        backend = self._backend
        backend._delete_journal(backend._list_journal())

    def _release(self) -> None:
        """Nothing to release: the Lease belongs to the lock."""
