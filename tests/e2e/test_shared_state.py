"""Two applies at once against one shared PostgreSQL or Kubernetes state, as two pipelines
would run them: one applies, the other fails naming the holder or waits for it, and the
broker never sees a resource provisioned twice."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from catalogctl.engine.statestore import open_state
from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import broker_yaml, instance_yaml, mutating, wait_for
from tests.fixtures.cluster import KubeApiServer
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.processes import CatalogctlProcess


@dataclass(frozen=True)
class SharedState:
    """A ``--state`` value, the flags that reach it, and a count of lock attempts seen."""

    url: str
    flags: list[str]
    #: Lock attempts the store has seen: PostgreSQL sessions whose last statement tried
    #: the advisory lock; for Kubernetes, reads of the state's Lease (the audit log).
    lock_attempts: Callable[[], int]


@pytest.fixture(params=["postgresql", "kubernetes"])
def shared_state(request: pytest.FixtureRequest) -> SharedState:
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.url(f"ci-{uuid.uuid4().hex[:8]}")
        return SharedState(url, [], lambda: _trying_the_advisory_lock(url))
    kube: KubeApiServer = request.getfixturevalue("kube_apiserver")
    namespace: str = request.getfixturevalue("kube_namespace")

    def lease_reads() -> int:
        return sum(r.resource == "leases" and r.verb == "get" for r in kube.audit(namespace))

    return SharedState(
        f"kubernetes://{namespace}/ci",
        ["--kubeconfig", str(kube.kubeconfig(namespace))],
        lease_reads,
    )


def _trying_the_advisory_lock(url: str) -> int:
    import psycopg

    with psycopg.connect(url.partition("#")[0], autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE application_name = 'catalogctl' AND pid <> pg_backend_pid() "
            "AND query LIKE '%pg_try_advisory_lock%'"
        ).fetchone()
    return int(row[0]) if row else 0


def _apply(
    services: Path, cluster: Path, state: str, flags: list[str], *extra: str
) -> CatalogctlProcess:
    return CatalogctlProcess(
        [
            "--no-color",
            "apply",
            "--auto-approve",
            "-f",
            str(services),
            "--state",
            state,
            "--cluster-dir",
            str(cluster),
            *flags,
            *extra,
        ]
    )


def _services(
    tmp_path: Path, broker: ProgrammableBroker, *, first_poll: threading.Event
) -> tuple[Path, Path]:
    """One async instance at ``broker``, whose first status poll is answered only once
    ``first_poll`` is set."""
    services, cluster = tmp_path / "services", tmp_path / "cluster"
    services.mkdir()
    (services / "broker.yaml").write_text(broker_yaml(broker.url, name="prog", auth=False))
    (services / "db.yaml").write_text(instance_yaml("db", plan="async"))
    broker.script("GET", r"/last_operation$", body={"state": "in progress"}, hold=first_poll)
    return services, cluster


def test_two_concurrent_applies_against_one_shared_state(
    tmp_path: Path,
    programmable_broker: ProgrammableBroker,
    shared_state: SharedState,
) -> None:
    state, flags = shared_state.url, shared_state.flags
    # The first status poll is held, so the first run is still applying (holding the
    # lock) while the others start.
    first_poll = threading.Event()
    services, cluster = _services(tmp_path, programmable_broker, first_poll=first_poll)

    first = _apply(services, cluster, state, flags)
    try:
        wait_for(lambda: programmable_broker.requests_to("GET", "/last_operation$"), 60,
                 "the first run's first poll")
        failing = _apply(services, cluster, state, flags)
        out, err = failing.communicate(timeout=60)
        assert first.poll() is None, "the first run ended before the second tried the lock"
        attempts = shared_state.lock_attempts()
        waiting = _apply(services, cluster, state, flags, "--lock-timeout", "2m")
        wait_for(lambda: shared_state.lock_attempts() > attempts, 60,
                 "the waiting run to meet the held lock")
    finally:
        first_poll.set()

    first_out, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, (first_out, first_err)
    assert "Apply complete! Resources: 1 added" in first_out

    # Without --lock-timeout: fails at once, naming the holder; nothing sent.
    assert failing.returncode == 1, (out, err)
    assert f"pid {first.pid}" in err and "operation 'apply'" in err
    assert "is locked by" in err
    assert PASSWORD not in out + err + first_out + first_err

    # With --lock-timeout: waits, then finds nothing left to do.
    wait_out, wait_err = waiting.communicate(timeout=120)
    assert waiting.returncode == 0, (wait_out, wait_err)
    assert "No changes" in wait_out

    puts = [p for m, p in mutating(programmable_broker.requests) if m == "PUT"]
    assert len(puts) == 1, puts
    stored = open_state(state, kubeconfig=flags[1] if flags else None).read()
    assert stored.serial == 1
    assert list(stored.resources) == ["ServiceInstance/apps/db"]
    assert stored.resources["ServiceInstance/apps/db"].status == "ready"


def test_lost_database_connection_stops_the_apply_and_the_next_run_resumes(
    tmp_path: Path, programmable_broker: ProgrammableBroker, postgres_server: PostgresServer
) -> None:
    import psycopg

    state = postgres_server.url(f"lost-{uuid.uuid4().hex[:8]}")
    first_poll = threading.Event()
    services, cluster = _services(tmp_path, programmable_broker, first_poll=first_poll)

    run = _apply(services, cluster, state, [])
    try:
        wait_for(lambda: programmable_broker.requests_to("GET", "/last_operation$"), 60,
                 "the run's first poll")
        # The database drops the run's session (a failover, a network cut).
        admin = psycopg.connect(state.partition("#")[0], autocommit=True)
        with admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'catalogctl' AND pid <> pg_backend_pid()"
            ).fetchone()
    finally:
        first_poll.set()
    assert killed is not None and killed[0] >= 1
    out, err = run.communicate(timeout=120)
    assert run.returncode == 1, (out, err)
    assert "could not persist a journal step" in err or "could not commit" in err, err
    assert PASSWORD not in out + err
    assert "Traceback" not in err

    # The next run takes the lock over, resumes the recorded operation, and
    # provisions nothing twice.
    again = _apply(services, cluster, state, [])
    out2, err2 = again.communicate(timeout=120)
    assert again.returncode == 0, (out2, err2)
    assert "which is gone; took the lock over." in err2
    puts = [p for m, p in mutating(programmable_broker.requests) if m == "PUT"]
    assert len(puts) == 1, puts
    stored = open_state(state).read()
    assert stored.resources["ServiceInstance/apps/db"].status == "ready"
    assert len(programmable_broker.instances) == 1
