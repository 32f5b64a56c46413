"""Saved plans (invariant 2): ``apply FILE`` does exactly what the plan showed, without
asking, and refuses a plan made against a state that has changed since."""

from __future__ import annotations

import json
from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, mutating


def _ws(tmp_path: Path, broker: ProgrammableBroker) -> Workspace:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(broker.url, name="prog", auth=False))
    ws.write("a.yaml", instance_yaml("a", size="s"))
    return ws


def _apply_file(ws: Workspace, plan_file: Path) -> tuple[int, str, str]:
    result = run_cli("--no-color", "apply", str(plan_file), *ws.target_args())
    return result.exit_code, result.stdout, result.stderr


def test_saved_plan_is_applied_exactly_and_only_once(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _ws(tmp_path, programmable_broker)
    plan_file = tmp_path / "p.json"
    ws.ok("plan", "--out", str(plan_file))
    assert json.loads(plan_file.read_text())["kind"] == "catalogctl-plan"

    # The configuration moves on after the plan was saved: apply FILE ignores it.
    ws.write("b.yaml", instance_yaml("b"))
    ws.write("a.yaml", instance_yaml("a", size="xl"))
    seen = len(programmable_broker.requests)
    code, out, err = _apply_file(ws, plan_file)  # stdin is not a terminal: no prompt needed
    assert code == 0, (out, err)
    assert "Apply complete! Resources: 1 added, 0 changed, 0 destroyed." in out
    puts = mutating(programmable_broker.requests[seen:])
    assert len(puts) == 1 and puts[0][0] == "PUT"
    (instance,) = programmable_broker.instances.values()
    assert instance.parameters == {"size": "s"}
    assert set(ws.resources()) == {"ServiceInstance/apps/a"}
    serial = ws.state_doc()["serial"]

    # The same file again: the state changed since it was made.
    seen = len(programmable_broker.requests)
    code, out, err = _apply_file(ws, plan_file)
    assert code == 1
    assert "stale" in err
    assert err.count("Error:") == 1
    assert mutating(programmable_broker.requests[seen:]) == []
    assert ws.state_doc()["serial"] == serial


def test_plan_made_before_another_apply_is_refused(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _ws(tmp_path, programmable_broker)
    ws.ok("apply", "--auto-approve")
    old_plan = tmp_path / "old.json"
    ws.write("a.yaml", instance_yaml("a", size="m"))
    ws.ok("plan", "--out", str(old_plan))

    # Someone else applies a different change first.
    ws.write("a.yaml", instance_yaml("a", size="l"))
    ws.ok("apply", "--auto-approve")
    before = ws.state_doc()
    seen = len(programmable_broker.requests)

    code, out, err = _apply_file(ws, old_plan)
    assert code == 1, (out, err)
    assert "stale" in err
    assert mutating(programmable_broker.requests[seen:]) == []
    assert ws.state_doc() == before
    (instance,) = programmable_broker.instances.values()
    assert instance.parameters == {"size": "l"}
    assert ws.resources()["ServiceInstance/apps/a"]["parameters"] == {"size": "l"}


def test_saved_plan_for_another_state_is_refused(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _ws(tmp_path, programmable_broker)
    ws.ok("apply", "--auto-approve")
    ws.write("a.yaml", instance_yaml("a", size="m"))
    plan_file = tmp_path / "p.json"
    ws.ok("plan", "--out", str(plan_file))

    other = Workspace(tmp_path / "other", cluster_dir=tmp_path / "other-cluster")
    other.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    other.write("c.yaml", instance_yaml("c"))
    other.ok("apply", "--auto-approve")
    seen = len(programmable_broker.requests)
    code, out, err = _apply_file(other, plan_file)
    assert code == 1, (out, err)
    assert "different lineage" in err
    assert mutating(programmable_broker.requests[seen:]) == []
