"""The state lock across processes: a run that finds it held fails at once naming the
holder, or waits with --lock-timeout and proceeds once it is released, and state stays whole."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, mutating, wait_for

CATALOGCTL = (sys.executable, "-m", "catalogctl")
HOLDER = """
import sys, time
from pathlib import Path
from catalogctl.state.local import LocalBackend

backend = LocalBackend(sys.argv[1])
info = backend.lock("apply")
print("LOCKED", info.id, flush=True)
release = Path(sys.argv[2])
deadline = time.monotonic() + 60
while not release.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
released_at = time.monotonic()
backend.unlock(info.id)
print("RELEASED", released_at, flush=True)
"""


def _hold(state: Path, release: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state), str(release)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("LOCKED"), line
    return proc, line.split()[1]


def _sleeping(pid: int) -> bool:
    """True while the main thread of ``pid`` is in a timed sleep: before it holds the lock,
    the only sleep of a catalogctl run is the pause between two tries of a held lock."""
    try:
        wchan = Path(f"/proc/{pid}/wchan").read_text()
        syscall = Path(f"/proc/{pid}/syscall").read_text()
    except OSError:
        return False
    return "nanosleep" in wchan or syscall.startswith("230 ")  # clock_nanosleep on x86_64


def test_lock_held_by_another_process(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write("a.yaml", instance_yaml("a"))
    ws.ok("apply", "--auto-approve")
    ws.write("b.yaml", instance_yaml("b"))
    before = ws.state_doc()
    release = tmp_path / "release"
    holder, lock_id = _hold(ws.state, release)
    try:
        # Without a timeout: fail at once, naming who holds the lock; nothing is sent.
        seen = len(programmable_broker.requests)
        result = ws.run("apply", "--auto-approve")
        assert result.exit_code == 1, (result.stdout, result.stderr)
        assert f"pid {holder.pid}" in result.stderr
        assert "operation 'apply'" in result.stderr and lock_id in result.stderr
        assert result.stderr.count("Error:") == 1
        assert programmable_broker.requests[seen:] == []
        assert ws.state_doc() == before

        # With --lock-timeout: wait, and proceed once the holder lets go.
        args = ["apply", "--auto-approve", "-f", str(ws.services), *ws.target_args()]
        waiting = subprocess.Popen(
            [*CATALOGCTL, "--no-color", *args, "--lock-timeout", "10s"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for(lambda: _sleeping(waiting.pid), 20, "apply to wait for the lock")
        assert waiting.poll() is None and programmable_broker.requests[seen:] == []
        release.write_text("go")
        out, err = waiting.communicate(timeout=30)
        assert waiting.returncode == 0, (out, err)
        holder_out, _ = holder.communicate(timeout=10)
    finally:
        release.write_text("go")
        holder.wait(timeout=10)
    released_at = float(holder_out.split("RELEASED")[1])
    assert "Apply complete! Resources: 1 added" in out
    # Nothing reached the broker while the lock was held.
    assert min(r.received_at for r in programmable_broker.requests[seen:]) >= released_at
    assert [m for m, _ in mutating(programmable_broker.requests[seen:])] == ["PUT"]

    # State is whole: one more resource, the serial moved once, the lock is free.
    after = ws.state_doc()
    assert after["lineage"] == before["lineage"]
    assert after["serial"] == before["serial"] + 1
    assert set(after["resources"]) == {"ServiceInstance/apps/a", "ServiceInstance/apps/b"}
    assert not (ws.state / "catalogctl.lock.info").exists()
    assert not (ws.state / "catalogctl.journal.jsonl").exists()
    ws.ok("plan", "--detailed-exitcode", code=0)
    assert run_cli("state", "list", "--state", str(ws.state)).exit_code == 0
    assert time.monotonic() >= released_at
