"""The confirmation prompt of ``apply`` and ``destroy``: only ``yes`` goes ahead; anything
else (or no terminal to ask on) changes nothing, says only that it was cancelled, and
exits 1, never reporting a completed run."""

from __future__ import annotations

from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_on_terminal
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, mutating
from tests.launcher import Launcher


def _workspace(tmp_path: Path, broker: ProgrammableBroker) -> Workspace:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(broker.url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db", size="s"))
    return ws


def _args(ws: Workspace, command: str) -> list[str]:
    return [command, "-f", str(ws.services), *ws.target_args()]


def test_declined_apply_prints_only_the_cancellation_and_exits_1(
    tmp_path: Path, programmable_broker: ProgrammableBroker, catalogctl_launcher: Launcher
) -> None:
    ws = _workspace(tmp_path, programmable_broker)
    code, output = run_on_terminal(catalogctl_launcher.program, _args(ws, "apply"), "no")
    assert code == 1, output
    assert "Apply cancelled." in output
    assert "complete!" not in output
    assert mutating(programmable_broker.requests) == []
    assert ws.resources() == {}


def test_declined_destroy_prints_only_the_cancellation_and_exits_1(
    tmp_path: Path, programmable_broker: ProgrammableBroker, catalogctl_launcher: Launcher
) -> None:
    ws = _workspace(tmp_path, programmable_broker)
    ws.ok("apply", "--auto-approve")
    before = ws.state_doc()
    seen = len(programmable_broker.requests)
    code, output = run_on_terminal(catalogctl_launcher.program, _args(ws, "destroy"), "nope")
    assert code == 1, output
    assert "Destroy cancelled." in output
    assert "complete!" not in output
    assert mutating(programmable_broker.requests[seen:]) == []
    assert ws.state_doc() == before


def test_apply_and_destroy_without_a_terminal_or_auto_approve_are_cancelled(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _workspace(tmp_path, programmable_broker)
    result = ws.run("apply")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "complete!" not in result.stdout
    assert "stdin is not a terminal: pass --auto-approve" in result.stderr
    assert mutating(programmable_broker.requests) == []
    assert ws.resources() == {}

    ws.ok("apply", "--auto-approve")
    before = ws.state_doc()
    seen = len(programmable_broker.requests)
    result = ws.run("destroy")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "complete!" not in result.stdout
    assert "stdin is not a terminal: pass --auto-approve" in result.stderr
    assert mutating(programmable_broker.requests[seen:]) == []
    assert ws.state_doc() == before
