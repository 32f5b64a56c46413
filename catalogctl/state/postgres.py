"""State in a PostgreSQL database, for pipelines whose runners are new every time.

Tables live in the schema ``catalogctl`` (created and migrated on first use,
versioned in ``catalogctl.schema_version``); one database holds any number of
states, each under its name (``postgresql://…/DB#NAME``)::

    states   (name, data, backup, updated_at)   the last committed state (JSON) and the one before
    journal  (name, seq, line)                   steps of the run that has not committed yet
    locks    (name, info)                        who holds the lock (JSON LockInfo)

Each journal append is one INSERT in its own committed transaction: durable
(``synchronous_commit`` permitting) before the step goes on, and O(1) however
large the state.  ``commit`` writes the full state and deletes the journal in
one transaction, so a reader sees either the old state plus journal or the new
state, never a mix.  ``read`` reads both in one snapshot.

The lock is a session-level advisory lock on the state's name, held by one
connection for the whole run, plus a row in ``locks`` naming the holder.  A
holder that dies (SIGKILL, lost runner) closes its session, and the server
drops the advisory lock with it; the next run then finds the row without
anyone holding the advisory lock, takes over and says so (:meth:`taken_over`).
The journal is written on that same connection: if it is lost, the next
append fails, the journal stops accepting steps and the run stops before the
broker request the step was meant to precede; the next run resumes.

psycopg is imported lazily (``catalogctl --help`` must not pay for it), and
every error message is scrubbed of the URL's password.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

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
from catalogctl.state.naming import PostgresStateName

if TYPE_CHECKING:
    import psycopg

#: The schema version this code writes; older schemas are migrated step by step.
SCHEMA_VERSION = 1

#: Statements taking the schema from version N-1 to N (index N-1).
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE catalogctl.states (
            name text PRIMARY KEY,
            data text NOT NULL,
            backup text,
            updated_at timestamptz NOT NULL DEFAULT now())""",
        """CREATE TABLE catalogctl.journal (
            name text NOT NULL,
            seq bigserial,
            line bytea NOT NULL,
            PRIMARY KEY (name, seq))""",
        """CREATE TABLE catalogctl.locks (
            name text PRIMARY KEY,
            info text NOT NULL)""",
    ),
)

#: Serialises schema creation between concurrent first runs (an arbitrary constant).
_SCHEMA_LOCK_KEY = 0x63617461_6C6F6700 >> 1

#: Ask the kernel to notice a vanished peer within about a minute, so a lost
#: runner's session (and with it its advisory lock) does not linger for hours.
_KEEPALIVES: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}


class PostgresBackend(StateBackend):
    """A named state in a PostgreSQL database."""

    def __init__(self, name: PostgresStateName, *, connect_timeout: float = 10.0) -> None:
        self.target = name
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock: LockInfo | None = None
        self._taken_over: LockInfo | None = None
        self._journal: PostgresJournal | None = None
        self._schema_ready = False
        self._guard = threading.Lock()

    def describe(self) -> str:
        return f"PostgreSQL state {self.target.display()}"

    # -- connections ---------------------------------------------------------

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        try:
            conn = psycopg.connect(
                self.target.conninfo,
                autocommit=True,
                connect_timeout=max(1, int(self._connect_timeout)),
                application_name="catalogctl",
                **_KEEPALIVES,
            )
        except psycopg.Error as exc:
            raise StateError(
                f"{self.describe()}: cannot connect: {self.scrub_error(exc)}"
            ) from None
        if not self._schema_ready:
            try:
                _ensure_schema(conn)
            except psycopg.Error as exc:
                conn.close()
                raise StateError(
                    f"{self.describe()}: cannot prepare schema catalogctl: {self.scrub_error(exc)}"
                ) from None
            self._schema_ready = True
        return conn

    @contextlib.contextmanager
    def _short(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one read, closed after; errors become StateError."""
        import psycopg

        conn = self._connect()
        try:
            yield conn
        except psycopg.Error as exc:
            raise StateError(f"{self.describe()}: {self.scrub_error(exc)}") from None
        finally:
            conn.close()

    def scrub_error(self, exc: BaseException) -> str:
        """The first line of ``exc`` without the URL's password."""
        return self.target.scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else "")

    # -- reading -------------------------------------------------------------

    def read(self) -> State:
        with self._short() as conn, conn.transaction():
            # One snapshot for both, so a commit landing in between is
            # seen entirely or not at all.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            stored, journal = self._read_rows(conn)
        return replay(stored, journal, source=self._journal_source()).state

    def _read_rows(self, conn: psycopg.Connection[Any]) -> tuple[State | None, bytes | None]:
        row = conn.execute(
            "SELECT data FROM catalogctl.states WHERE name = %s", (self.target.name,)
        ).fetchone()
        stored = State.from_json(row[0], source=self.describe()) if row is not None else None
        lines = conn.execute(
            "SELECT line FROM catalogctl.journal WHERE name = %s ORDER BY seq",
            (self.target.name,),
        ).fetchall()
        journal = b"".join(bytes(r[0]) for r in lines) if lines else None
        return stored, journal

    def _journal_source(self) -> str:
        return f"{self.describe()} (journal)"

    def read_backup(self) -> State | None:
        """The state before the last commit, or None."""
        with self._short() as conn:
            row = conn.execute(
                "SELECT backup FROM catalogctl.states WHERE name = %s", (self.target.name,)
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return State.from_json(row[0], source=f"{self.describe()} (backup)")

    # -- locking -------------------------------------------------------------

    def lock(self, operation: str, timeout: float = 0.0) -> LockInfo:
        import psycopg

        with self._guard:
            if self._lock is not None:
                raise LockError(
                    f"{self.describe()} is already locked by this run ({self._lock.describe()})"
                )
            conn = self._connect()
            try:
                info, leftover = self._acquire(conn, operation, timeout)
            except psycopg.Error as exc:
                conn.close()
                raise LockError(
                    f"{self.describe()}: cannot lock: {self.scrub_error(exc)}"
                ) from None
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            self._lock = info
            self._taken_over = leftover
            return info

    def _acquire(
        self, conn: psycopg.Connection[Any], operation: str, timeout: float
    ) -> tuple[LockInfo, LockInfo | None]:
        deadline = time.monotonic() + max(timeout, 0.0)
        delay = 0.02
        while True:
            got = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self._lock_key(),)
            ).fetchone()
            if got is not None and got[0]:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                holder = self._read_lock_row(conn)
                who = holder.describe() if holder else "another session (no lock info yet)"
                raise LockError(f"{self.describe()} is locked by {who}; gave up after {timeout:g}s")
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.25)
        # The advisory lock is ours, so a row still here belongs to a session
        # that ended without unlocking: its holder is gone.
        leftover = self._read_lock_row(conn)
        info = LockInfo(operation=operation, path=self.target.display())
        conn.execute(
            """INSERT INTO catalogctl.locks (name, info) VALUES (%s, %s)
               ON CONFLICT (name) DO UPDATE SET info = EXCLUDED.info""",
            (self.target.name, info.model_dump_json()),
        )
        return info, leftover

    def _lock_key(self) -> str:
        return f"catalogctl/state/{self.target.name}"

    def _read_lock_row(self, conn: psycopg.Connection[Any]) -> LockInfo | None:
        row = conn.execute(
            "SELECT info FROM catalogctl.locks WHERE name = %s", (self.target.name,)
        ).fetchone()
        if row is None:
            return None
        try:
            return LockInfo.model_validate_json(row[0])
        except ValidationError:
            raise LockError(
                f"{self.describe()}: the lock info row is unreadable; if no catalogctl run is "
                f"using this state, delete it (DELETE FROM catalogctl.locks WHERE name = "
                f"'{self.target.name}')"
            ) from None

    def unlock(self, lock_id: str) -> None:
        import psycopg

        with self._guard:
            check_unlock(self._lock, lock_id)
            assert self._conn is not None
            if self._journal is not None:
                self._journal.close()
            conn, self._conn, self._lock = self._conn, None, None
            # Row first, then the advisory lock, so the next holder never finds
            # our row and mistakes us for a dead holder.  Closing the session
            # releases the advisory lock even if the DELETE fails (the next
            # holder then reports taking over a lock whose session ended).
            with contextlib.suppress(psycopg.Error):
                conn.execute(
                    "DELETE FROM catalogctl.locks WHERE name = %s AND info::jsonb->>'id' = %s",
                    (self.target.name, lock_id),
                )
            conn.close()

    def force_unlock(self, lock_id: str) -> None:
        if self._lock is not None and self._lock.id == lock_id:
            self.unlock(lock_id)
            return
        with self._short() as conn:
            current = self._read_lock_row(conn)
            current = check_force_unlock(self.describe(), current, lock_id)
            got = conn.execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self._lock_key(),)
            ).fetchone()
            if got is None or not got[0]:
                raise LockError(
                    f"cannot force-unlock {lock_id}: the run that holds it is still connected "
                    f"({current.describe()}); stop that run instead"
                )
            conn.execute("DELETE FROM catalogctl.locks WHERE name = %s", (self.target.name,))

    def lock_info(self) -> LockInfo | None:
        with self._short() as conn:
            return self._read_lock_row(conn)

    def taken_over(self) -> LockInfo | None:
        return self._taken_over

    # -- writing -------------------------------------------------------------

    def begin(self, state: State) -> PostgresJournal:
        import psycopg

        if self._lock is None or self._conn is None:
            raise StateError(f"{self.describe()}: begin() needs the state lock; lock() first")
        if self._journal is not None and not self._journal.closed:
            raise StateError(f"{self.describe()}: a journal is already open in this run")
        conn = self._conn
        try:
            current = self._recover(conn)
        except psycopg.Error as exc:
            raise StateError(f"{self.describe()}: {self.scrub_error(exc)}") from None
        base = begin_base(self.describe(), current, state)
        journal = PostgresJournal(self, conn, base, lock_id=self._lock.id)
        self._journal = journal
        return journal

    def check_writable(self) -> list[str]:
        """The database accepts writes and this role may write the state's tables."""
        import psycopg

        problems: list[str] = []
        conn = self._conn if self._conn is not None else self._connect()
        try:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and row[0]:
                problems.append(f"{self.describe()}: the server is a read-only standby")
            for table in ("states", "journal", "locks"):
                # One privilege per call: given a list, the function answers
                # whether *any* of them is held.
                row = conn.execute(
                    """SELECT bool_and(has_table_privilege(%s, p))
                       FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS p""",
                    (f"catalogctl.{table}",),
                ).fetchone()
                if row is None or not row[0]:
                    problems.append(
                        f"{self.describe()}: the role may not SELECT, INSERT, UPDATE and "
                        f"DELETE in catalogctl.{table}"
                    )
            row = conn.execute(
                "SELECT has_sequence_privilege('catalogctl.journal_seq_seq', 'USAGE')"
            ).fetchone()
            if row is None or not row[0]:
                problems.append(
                    f"{self.describe()}: the role may not use sequence catalogctl.journal_seq_seq"
                )
        except psycopg.Error as exc:
            problems.append(f"{self.describe()}: {self.scrub_error(exc)}")
        finally:
            if conn is not self._conn:
                conn.close()
        return problems

    def replace(self, state: State) -> None:
        import psycopg

        if self._lock is None or self._conn is None:
            raise StateError(f"{self.describe()}: replace() needs the state lock; lock() first")
        conn = self._conn
        try:
            with conn.transaction():
                self._store(conn, state)
                conn.execute("DELETE FROM catalogctl.journal WHERE name = %s", (self.target.name,))
        except psycopg.Error as exc:
            raise StateError(f"{self.describe()}: {self.scrub_error(exc)}") from None

    def _recover(self, conn: psycopg.Connection[Any]) -> State | None:
        """Compact a crashed run's journal into the state, in one transaction."""
        with conn.transaction():
            stored, journal = self._read_rows(conn)
            if journal is None:
                return stored
            replayed = replay(stored, journal, source=self._journal_source())
            if replayed.changed:
                self._store(conn, replayed.state)
            conn.execute("DELETE FROM catalogctl.journal WHERE name = %s", (self.target.name,))
        return replayed.state if (replayed.changed or stored is not None) else None

    def _store(self, conn: psycopg.Connection[Any], state: State) -> None:
        """Write ``state``, keeping the previous one as the backup (inside a transaction)."""
        conn.execute(
            """INSERT INTO catalogctl.states AS s (name, data) VALUES (%s, %s)
               ON CONFLICT (name) DO UPDATE
               SET backup = s.data, data = EXCLUDED.data, updated_at = now()""",
            (self.target.name, state.to_json()),
        )


def _ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create or migrate schema ``catalogctl`` to :data:`SCHEMA_VERSION`.

    A schema already current is only read, so a role without ``CREATE`` on
    the database can use it.  Creating and migrating happen under a
    transaction-scoped advisory lock, so two first runs do not both create
    tables.  A schema newer than this catalogctl is refused rather than
    written with an older layout.
    """
    if _schema_version(conn) == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
        conn.execute("CREATE SCHEMA IF NOT EXISTS catalogctl")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS catalogctl.schema_version (version integer NOT NULL)"
        )
        version = _schema_version(conn)
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
            conn.execute("INSERT INTO catalogctl.schema_version (version) VALUES (%s)", (step + 1,))


def _schema_version(conn: psycopg.Connection[Any]) -> int:
    """The version of schema ``catalogctl`` (0: none); StateError if newer than this code."""
    row = conn.execute("SELECT to_regclass('catalogctl.schema_version')").fetchone()
    if row is None or row[0] is None:
        return 0
    row = conn.execute("SELECT max(version) FROM catalogctl.schema_version").fetchone()
    version = int(row[0]) if row is not None and row[0] is not None else 0
    if version > SCHEMA_VERSION:
        raise StateError(
            f"schema catalogctl is at version {version}, newer than this catalogctl "
            f"understands ({SCHEMA_VERSION}); upgrade catalogctl"
        )
    return version


class PostgresJournal(BaseJournal):
    """Journal rows in ``catalogctl.journal``, appended on the lock's connection."""

    def __init__(
        self,
        backend: PostgresBackend,
        conn: psycopg.Connection[Any],
        base: State,
        *,
        lock_id: str | None,
    ) -> None:
        super().__init__(base, lock_id=lock_id)
        self._backend = backend
        self._conn = conn
        try:
            self._append(encode_header(self.header))
        except OSError as exc:
            raise StateError(f"{backend.describe()}: cannot start the journal: {exc}") from None

    def _append(self, line: bytes) -> None:
        import psycopg

        # One autocommit INSERT: committed (and so durable) when it returns.
        # A failure is an OSError so the journal stops accepting steps: with
        # the connection gone, the advisory lock is gone too.
        try:
            self._conn.execute(
                "INSERT INTO catalogctl.journal (name, line) VALUES (%s, %s)",
                (self._backend.target.name, line),
            )
        except psycopg.Error as exc:
            raise OSError(f"PostgreSQL: {self._backend.scrub_error(exc)}") from None

    def _write_state(self, state: State) -> None:
        import psycopg

        try:
            with self._conn.transaction():
                self._backend._store(self._conn, state)
                self._conn.execute(
                    "DELETE FROM catalogctl.journal WHERE name = %s", (self._backend.target.name,)
                )
        except psycopg.Error as exc:
            raise StateError(
                f"{self._backend.describe()}: could not commit the state "
                f"(its steps are kept and replayed next time): {self._backend.scrub_error(exc)}"
            ) from None

    def _drop(self) -> None:
        import psycopg

        try:
            self._conn.execute(
                "DELETE FROM catalogctl.journal WHERE name = %s", (self._backend.target.name,)
            )
        except psycopg.Error as exc:
            raise StateError(
                f"{self._backend.describe()}: {self._backend.scrub_error(exc)}"
            ) from None

    def _release(self) -> None:
        """Nothing to release: the connection belongs to the lock."""
