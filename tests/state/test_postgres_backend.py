"""The PostgreSQL backend against a real server: the conformance suite plus what only SQL shows."""

from __future__ import annotations

import functools
import uuid

import pytest

from catalogctl.state import State, StateBackend
from catalogctl.state.naming import parse_state_name
from catalogctl.state.postgres import PostgresBackend
from tests.fixtures.postgres import PostgresServer
from tests.state.conformance import BackendFactory, StateBackendConformance


def _backend(url: str) -> PostgresBackend:
    name = parse_state_name(url)
    assert not isinstance(name, str)
    from catalogctl.state.naming import PostgresStateName

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
