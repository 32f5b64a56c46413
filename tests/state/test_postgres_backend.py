"""The PostgreSQL backend against a real server: the conformance suite plus what only SQL shows."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pytest

from catalogctl.errors import LockError, StateError
from catalogctl.state import State, StateBackend
from catalogctl.state.naming import PostgresStateName, parse_state_name
from catalogctl.state.postgres import PostgresBackend
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.state.conformance import (
    BackendFactory,
    StateBackendConformance,
    instance,
    locked,
    run,
)


def _backend(url: str) -> PostgresBackend:
    name = parse_state_name(url)
    assert isinstance(name, PostgresStateName)
    return PostgresBackend(name)


def unique_url(server: PostgresServer) -> str:
    return server.url(f"t-{uuid.uuid4().hex[:12]}")


class TestPostgresBackendConformance(StateBackendConformance):
    lock_outlives_dropped_backend = False

    @pytest.fixture
    def factory(self, postgres_server: PostgresServer) -> BackendFactory:
        return functools.partial(_backend, unique_url(postgres_server))

    def tear_journal(self, backend: StateBackend) -> None:
        assert isinstance(backend, PostgresBackend)
        with backend._short() as conn:
            conn.execute(
                "INSERT INTO catalogctl.journal (name, line) VALUES (%s, %s)",
                (backend.target.name, b'{"op":"record","resource":{"address":"ServiceInst'),
            )

    def read_backup(self, backend: StateBackend) -> State | None:
        assert isinstance(backend, PostgresBackend)
        return backend.read_backup()

    def stored_bytes(self, backend: StateBackend) -> bytes:
        assert isinstance(backend, PostgresBackend)
        with backend._short() as conn:
            rows = conn.execute(
                """SELECT convert_to(coalesce(data, '') || coalesce(backup, ''), 'UTF8')
                   FROM catalogctl.states WHERE name = %(n)s
                   UNION ALL SELECT line FROM catalogctl.journal WHERE name = %(n)s
                   UNION ALL SELECT convert_to(info, 'UTF8') FROM catalogctl.locks
                   WHERE name = %(n)s""",
                {"n": backend.target.name},
            ).fetchall()
        return b"".join(bytes(r[0]) for r in rows)


def test_schema_is_created_once_and_versioned(postgres_server: PostgresServer) -> None:
    backend = _backend(unique_url(postgres_server))
    backend.read()
    with backend._short() as conn:
        versions = conn.execute("SELECT version FROM catalogctl.schema_version").fetchall()
    assert versions == [(1,)]
    _backend(unique_url(postgres_server)).read()  # a second first use adds nothing
    with backend._short() as conn:
        assert conn.execute("SELECT count(*) FROM catalogctl.schema_version").fetchone() == (1,)


def test_a_newer_schema_is_refused(postgres_server: PostgresServer) -> None:
    backend = _backend(unique_url(postgres_server))
    backend.read()
    with backend._short() as conn:
        conn.execute("INSERT INTO catalogctl.schema_version (version) VALUES (99)")
    try:
        with pytest.raises(StateError, match="version 99, newer than this catalogctl"):
            _backend(unique_url(postgres_server)).read()
    finally:
        with backend._short() as conn:
            conn.execute("DELETE FROM catalogctl.schema_version WHERE version = 99")


def test_each_step_is_one_committed_row(postgres_server: PostgresServer) -> None:
    url = unique_url(postgres_server)
    backend = _backend(url)
    run(backend, record=tuple(instance(f"i{n}") for n in range(50)))
    with locked(backend):
        journal = backend.begin(backend.read())
        journal.record(instance("new"))
        # Visible to another session at once: committed before record returned.
        other = _backend(url)
        with other._short() as conn:
            rows = conn.execute(
                "SELECT line FROM catalogctl.journal WHERE name = %s ORDER BY seq",
                (backend.target.name,),
            ).fetchall()
        assert len(rows) == 2  # the header and the one step
        assert b'"ServiceInstance/ns/new"' in bytes(rows[1][0])
        assert "ServiceInstance/ns/new" in other.read().resources
        journal.commit()
    with backend._short() as conn:
        left = conn.execute(
            "SELECT count(*) FROM catalogctl.journal WHERE name = %s", (backend.target.name,)
        ).fetchone()
    assert left == (0,)


def test_password_never_reaches_lock_info_or_errors(postgres_server: PostgresServer) -> None:
    url = unique_url(postgres_server)
    backend = _backend(url)
    with locked(backend) as info:
        with backend._short() as conn:
            row = conn.execute(
                "SELECT info FROM catalogctl.locks WHERE name = %s", (backend.target.name,)
            ).fetchone()
        assert row is not None and PASSWORD not in row[0]
        assert info.path == backend.target.display()
        with pytest.raises(LockError) as raised:
            _backend(url).lock("apply", timeout=0)
        assert PASSWORD not in str(raised.value)
        assert backend.target.display() in str(raised.value)
    wrong = url.replace(PASSWORD, "not-" + PASSWORD)
    with pytest.raises(StateError) as failed:
        _backend(wrong).read()
    assert "password authentication failed" in str(failed.value)
    assert PASSWORD not in str(failed.value)


@pytest.mark.parametrize("source", ["PGPASSWORD", "pgpass file"])
def test_password_from_the_environment_or_a_pgpass_file(
    postgres_server: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    source: str,
) -> None:
    if source == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
    else:
        monkeypatch.delenv("PGPASSWORD", raising=False)
        pgpass = tmp_path / "pgpass"
        pgpass.write_text(
            f"{postgres_server.host}:{postgres_server.port}:*:catalogctl:{PASSWORD}\n"
        )
        pgpass.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(pgpass))
    url = postgres_server.url(f"t-{uuid.uuid4().hex[:12]}", password=False)
    assert PASSWORD not in url
    state = run(_backend(url), record=(instance("a"),))
    assert _backend(url).read() == state


def test_states_in_one_database_are_independent(postgres_server: PostgresServer) -> None:
    first, second = unique_url(postgres_server), unique_url(postgres_server)
    run(_backend(first), record=(instance("a"),))
    holder = _backend(first)
    with locked(holder):
        # Another state in the same database is neither locked nor changed.
        assert _backend(second).read().resources == {}
        run(_backend(second), record=(instance("b"),))
    assert set(_backend(first).read().resources) == {"ServiceInstance/ns/a"}
    assert set(_backend(second).read().resources) == {"ServiceInstance/ns/b"}


def test_a_lost_session_stops_the_journal(postgres_server: PostgresServer) -> None:
    url = unique_url(postgres_server)
    backend = _backend(url)
    info = backend.lock("apply", timeout=5)
    journal = backend.begin(backend.read())
    journal.record(instance("a"))
    assert backend._conn is not None
    pid = backend._conn.info.backend_pid
    with _backend(url)._short() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StateError, match="could not persist a journal step") as raised:
        journal.record(instance("b"))
    assert PASSWORD not in str(raised.value)
    with pytest.raises(StateError, match="stopped accepting steps"):
        journal.record(instance("c"))
    # The lock died with the session: the next run takes it over and keeps "a".
    nxt = _backend(url)
    with locked(nxt):
        assert nxt.taken_over() is not None and nxt.taken_over().id == info.id  # type: ignore[union-attr]
        assert set(nxt.read().resources) == {"ServiceInstance/ns/a"}


def test_write_problems_name_each_table_the_role_may_not_write(
    postgres_server: PostgresServer,
) -> None:
    name = f"t-{uuid.uuid4().hex[:12]}"
    owner = _backend(postgres_server.url(name))
    owner.read()  # the schema exists
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with owner._short() as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"GRANT USAGE ON SCHEMA catalogctl TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA catalogctl TO {role}")
        conn.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON catalogctl.locks TO {role}")
    reader = _backend(postgres_server.url(name).replace("catalogctl:", f"{role}:", 1))
    assert reader.check_writable() == [
        *(
            f"{reader.describe()}: the role may not SELECT, INSERT, UPDATE and DELETE in "
            f"catalogctl.{table}"
            for table in ("states", "journal")
        ),
        f"{reader.describe()}: the role may not use sequence catalogctl.journal_seq_seq",
    ]
    # With the grants docs/state.md lists, the same role may run.
    with owner._short() as conn:
        conn.execute(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA catalogctl TO {role}"
        )
        conn.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA catalogctl TO {role}")
    assert reader.check_writable() == []
    assert run(reader, record=(instance("a"),)).serial == 1
