"""Open the state a ``--state`` value names, and take its lock with recovery notes.

The one place a state name becomes a backend: a directory, a PostgreSQL URL
or a Kubernetes location (see :mod:`catalogctl.state.naming`).  The
Kubernetes backend reaches its cluster through the same ``--kubeconfig`` /
``--context`` resolution as the cluster target; the client is made only when
the backend first talks to the API server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from catalogctl.state.backend import LockInfo, StateBackend
from catalogctl.state.models import ResourceStatus, State
from catalogctl.state.naming import (
    KubernetesStateName,
    LocalStateName,
    PostgresStateName,
    StateName,
    parse_state_name,
)

DEFAULT_STATE = "state"


def open_state(
    value: str | None, *, kubeconfig: str | None = None, context: str | None = None
) -> StateBackend:
    """The backend for ``value`` (default ``./state``); UsageError if malformed."""
    name = parse_state_name(value or DEFAULT_STATE)
    return backend_for(name, kubeconfig=kubeconfig, context=context)


def backend_for(
    name: StateName, *, kubeconfig: str | None = None, context: str | None = None
) -> StateBackend:
    if isinstance(name, LocalStateName):
        from catalogctl.state.local import LocalBackend

        return LocalBackend(name.directory)
    if isinstance(name, PostgresStateName):
        from catalogctl.state.postgres import PostgresBackend

        return PostgresBackend(name)
    assert isinstance(name, KubernetesStateName)
    from catalogctl.providers.kubernetes.connection import KubeConnection, KubeOptions
    from catalogctl.state.kubernetes import KubernetesBackend

    connection = KubeConnection(KubeOptions(kubeconfig=kubeconfig, context=context))
    return KubernetesBackend(name, connection.api_client)


def catalog_cache_dir(value: str | None, *, create_state_dir: bool = False) -> Path | None:
    """Where broker catalogs are cached: inside a local state's directory.

    Unless ``create_state_dir``, only when that directory exists already
    (planning must not create a state location).  Nowhere for remote states,
    which serve runners that start empty, where a disk cache would never be
    read again.
    """
    name = parse_state_name(value or DEFAULT_STATE)
    if not isinstance(name, LocalStateName):
        return None
    directory = Path(name.directory)
    return directory / "catalog-cache" if create_state_dir or directory.is_dir() else None


def take_lock(
    backend: StateBackend, operation: str, timeout: float, warn: Callable[[str], None]
) -> LockInfo:
    """Lock ``backend``; if that took over a gone holder's lock, say so and what resumes."""
    info = backend.lock(operation, timeout=timeout)
    gone = backend.taken_over()
    if gone is not None:
        try:
            steps = interrupted_steps(backend.read())
        except BaseException:
            backend.unlock(info.id)
            raise
        warn(
            f"Warning: {backend.describe()} was locked by {gone.describe()}, which is gone; "
            "took the lock over."
        )
        if steps:
            warn("Interrupted steps of that run, resumed by this one:")
            for step in steps:
                warn(f"  {step}")
    return info


def interrupted_steps(state: State) -> list[str]:
    """Resources a run left mid-operation, one line each (address and what was under way)."""
    lines: list[str] = []
    for address, res in sorted(state.resources.items()):
        if res.operation is not None:
            sent = "sent" if res.operation.request_sent else "not yet sent"
            extra = f", operation {res.operation.operation}" if res.operation.operation else ""
            lines.append(f"{address}: {res.operation.kind} (request {sent}{extra})")
        elif res.orphan_mitigation_pending:
            lines.append(f"{address}: orphan mitigation pending")
        elif res.status in (
            ResourceStatus.CREATING,
            ResourceStatus.UPDATING,
            ResourceStatus.DELETING,
        ):
            lines.append(f"{address}: {res.status}")
    return lines


def migrate_state(
    source: StateBackend,
    target: StateBackend,
    *,
    force: bool,
    timeout: float,
    warn: Callable[[str], None],
) -> State:
    """Copy the state of ``source`` (lineage, serial, resources) to ``target``.

    Both are locked for the whole copy, so no run changes either meanwhile.
    A target that already holds a state is refused unless ``force`` (then it
    becomes the target's backup).  The source is left as it was.
    """
    from catalogctl.errors import UsageError

    if source.describe() == target.describe():
        raise UsageError(f"--to names the state being migrated ({source.describe()})")
    source_lock = take_lock(source, "state migrate", timeout, warn)
    try:
        target_lock = take_lock(target, "state migrate", timeout, warn)
        try:
            state = source.read()
            if state.serial == 0 and not state.resources:
                raise UsageError(f"{source.describe()} holds no state; there is nothing to migrate")
            existing = target.read()
            if (existing.serial != 0 or existing.resources) and not force:
                raise UsageError(
                    f"{target.describe()} already holds a state (lineage {existing.lineage}, "
                    f"serial {existing.serial}, {len(existing.resources)} resources); "
                    "pass --force to replace it (it is kept as that state's backup)"
                )
            target.replace(state)
            return state
        finally:
            target.unlock(target_lock.id)
    finally:
        source.unlock(source_lock.id)
