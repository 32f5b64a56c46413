"""``catalogctl force-unlock`` against locks left by a process that really died."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from catalogctl.state import LocalBackend
from catalogctl.state.local import LOCK_INFO_FILE
from tests.cli import run_cli, run_on_terminal
from tests.launcher import Launcher

_CRASH = """
import os, sys
from catalogctl.state import LocalBackend
info = LocalBackend(sys.argv[1]).lock("apply")
print(info.id, flush=True)
os._exit(9)  # die holding the lock, as a killed CI job does
"""


@pytest.fixture
def stale_lock(tmp_path: Path) -> str:
    """A lock whose holder exited without unlocking; returns its id."""
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 9, proc.stderr
    lock_id = proc.stdout.strip()
    info = LocalBackend(tmp_path).lock_info()
    assert info is not None and info.id == lock_id
    return lock_id


def test_next_command_takes_over_a_dead_runs_lock(tmp_path: Path, stale_lock: str) -> None:
    # The holder's process is gone from this host: no person is needed.
    result = run_cli("state", "rm", "--state", str(tmp_path), "ServiceInstance/default/x")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"Warning: local state at {tmp_path} was locked by ")
    assert f"lock id {stale_lock}" in first
    assert first.endswith("which is gone; took the lock over.")
    assert "is not in the state" in result.stderr
    assert LocalBackend(tmp_path).lock_info() is None


def test_force_unlock_with_force_clears_a_dead_runs_lock(tmp_path: Path, stale_lock: str) -> None:
    result = run_cli("force-unlock", stale_lock, "--state", str(tmp_path), "--force")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "catalogctl state has been successfully unlocked!\n\n"
        "The state has been unlocked, and catalogctl commands should now be able to\n"
        "obtain a new lock on it.\n"
    )
    assert not (tmp_path / LOCK_INFO_FILE).exists()
    backend = LocalBackend(tmp_path)
    assert backend.lock_info() is None
    info = backend.lock("apply")  # a new run can lock again
    backend.unlock(info.id)


def test_force_unlock_refuses_an_id_that_does_not_match(tmp_path: Path, stale_lock: str) -> None:
    result = run_cli("force-unlock", "0000-not-it", "--state", str(tmp_path), "--force")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "Error: cannot force-unlock 0000-not-it: it does not match the current lock, held by "
    )
    assert lines[0].endswith(f"lock id {stale_lock}")
    assert LocalBackend(tmp_path).lock_info() is not None


def test_force_unlock_of_an_unlocked_state(tmp_path: Path) -> None:
    result = run_cli("force-unlock", "abc", "--state", str(tmp_path), "--force")
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: cannot force-unlock abc: local state at {tmp_path} is not locked\n"
    )


def test_force_unlock_without_a_terminal_needs_force(tmp_path: Path, stale_lock: str) -> None:
    result = run_cli("force-unlock", stale_lock, "--state", str(tmp_path), input="yes\n")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: force-unlock needs confirmation, but stdin is not a terminal: pass --force\n"
    )
    assert LocalBackend(tmp_path).lock_info() is not None


def test_force_unlock_refuses_while_the_holder_is_still_running(tmp_path: Path) -> None:
    holder = LocalBackend(tmp_path)
    info = holder.lock("apply")
    try:
        result = run_cli("force-unlock", info.id, "--state", str(tmp_path), "--force")
        assert result.exit_code == 1
        assert result.stderr.startswith(
            f"Error: cannot force-unlock {info.id}: the run that holds it is still running"
        )
        assert holder.lock_info() == info
    finally:
        holder.unlock(info.id)


def test_force_unlock_asks_on_a_terminal_and_accepts_only_yes(
    tmp_path: Path, stale_lock: str, catalogctl_launcher: Launcher
) -> None:
    args = ["force-unlock", stale_lock, "--state", str(tmp_path)]
    code, output = run_on_terminal(catalogctl_launcher.program, args, "y")
    assert code == 1, output
    assert f"Lock {stale_lock} is held by " in output
    assert "for operation 'apply' since " in output
    assert "Do you really want to force-unlock?\n" in output
    assert "  Only 'yes' will be accepted to confirm.\n" in output
    assert output.endswith("force-unlock cancelled: the lock is still held.\n")
    assert LocalBackend(tmp_path).lock_info() is not None

    code, output = run_on_terminal(catalogctl_launcher.program, args, "yes")
    assert code == 0, output
    assert "catalogctl state has been successfully unlocked!" in output
    assert LocalBackend(tmp_path).lock_info() is None


_CRASH_MID_APPLY = """
import os, sys
from catalogctl.state import LocalBackend
from tests.cli.test_state_cmd_fixtures import binding
backend = LocalBackend(sys.argv[1])
info = backend.lock("apply")
journal = backend.begin(backend.read())
journal.record(binding())  # one step persisted, then the run is killed
print(info.id, flush=True)
os._exit(9)
"""


def test_recovery_after_a_killed_apply(tmp_path: Path) -> None:
    """Killed mid-apply: its step is visible, and the next command takes the lock over."""
    from tests.cli.test_state_cmd_fixtures import BINDING, INSTANCE, instance, write_state

    first = write_state(tmp_path, [instance()])
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_MID_APPLY, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 9, proc.stderr
    lock_id = proc.stdout.strip()

    listed = run_cli("state", "list", "--state", str(tmp_path))
    assert listed.stdout.splitlines() == [BINDING, INSTANCE]  # the journal step is replayed

    # The dead run's lock is taken over by the next command, which says so.
    removed = run_cli("state", "rm", "--state", str(tmp_path), BINDING)
    assert removed.exit_code == 0, removed.stderr
    assert f"lock id {lock_id}, which is gone; took the lock over." in removed.stderr
    after = run_cli("show", "--json", "--state", str(tmp_path))
    doc = json.loads(after.stdout)
    # serial 1 -> 2 when the killed run's journal was compacted, -> 3 for the rm.
    assert (doc["serial"], sorted(doc["resources"])) == (first.serial + 2, [INSTANCE])
