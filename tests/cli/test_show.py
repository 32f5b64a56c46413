"""``catalogctl show``: state (human and as stored) and saved plans, through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from catalogctl.cli.views.plan_human import render_plan
from catalogctl.cli.views.plan_json import render_plan_json
from catalogctl.engine.session import write_plan_file
from catalogctl.plan.model import Action, Change, Mode, Plan
from catalogctl.state import InFlightOperation, OperationKind, ResourceStatus
from catalogctl.state.local import STATE_FILE
from tests.cli import run_cli
from tests.cli.test_state_cmd_fixtures import (
    INSTANCE,
    WHEN,
    binding,
    instance,
    standard,
    write_state,
)

INSTANCE_BLOCK = """\
# ServiceInstance/default/db:
    status                = "ready"
    instance_id           = "6f1c6a1e-0000-4000-8000-000000000001"
    broker                = "ClusterServiceBroker/demo"
    broker_url            = "http://127.0.0.1:9000"
    class                 = "database"
    plan                  = "small"
    service_id            = "svc-db"
    plan_id               = "plan-small"
    parameters            = {
        password = (sensitive value)
        size     = "small"
        tags     = ["a", "b"]
    }
    dashboard_url         = "http://127.0.0.1:9000/dashboard/1"
    bindings_retrievable  = true
    instances_retrievable = true
    update_requests       = 0
    depends_on            = ["ClusterServiceBroker/demo"]"""

BINDING_BLOCK = """\
# ServiceBinding/default/db-binding:
    status               = "ready"
    instance_id          = "6f1c6a1e-0000-4000-8000-000000000001"
    binding_id           = "b1d1b1d1-0000-4000-8000-000000000002"
    broker               = "ClusterServiceBroker/demo"
    broker_url           = "http://127.0.0.1:9000"
    service_id           = "svc-db"
    plan_id              = "plan-small"
    instance             = "ServiceInstance/default/db"
    secret_name          = "db-creds"
    credentials          = (sensitive value)
    bindings_retrievable = true
    depends_on           = ["ServiceInstance/default/db"]"""

SECRET_BLOCK = """\
# Secret/default/db-creds:
    status     = "ready"
    data       = {
        password = (sensitive value)
        uri      = (sensitive value)
        username = (sensitive value)
    }
    binding    = "ServiceBinding/default/db-binding"
    name       = "db-creds"
    namespace  = "default"
    type       = "Opaque"
    depends_on = ["ServiceBinding/default/db-binding"]"""

MAPPING_BLOCK = """\
# PodMapping/default/web-db:
    status      = "ready"
    secret_name = "db-creds"
    target      = "Deployment/web"
    depends_on  = ["Secret/default/db-creds"]"""


def test_show_prints_every_resource_in_address_order(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    result = run_cli("show", "--state", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    expected = "\n\n".join([MAPPING_BLOCK, SECRET_BLOCK, BINDING_BLOCK, INSTANCE_BLOCK]) + "\n"
    assert result.stdout == expected


def test_show_of_a_state_never_written(tmp_path: Path) -> None:
    result = run_cli("show", "--state", str(tmp_path / "nothing-here"))
    assert result.exit_code == 0
    assert result.stdout == "The state is empty: catalogctl manages no resources here yet.\n"
    assert not (tmp_path / "nothing-here").exists(), "show must not create the state directory"


def test_show_json_is_the_stored_state_byte_for_byte(tmp_path: Path) -> None:
    write_state(tmp_path, standard(), commits=2)
    result = run_cli("show", "--state", str(tmp_path), "--json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (tmp_path / STATE_FILE).read_text()
    doc = json.loads(result.stdout)
    assert doc["serial"] == 2
    assert sorted(doc["resources"]) == sorted(r.address for r in standard())


def test_show_reports_in_flight_operation_and_pending_orphan_mitigation(tmp_path: Path) -> None:
    op = InFlightOperation(
        kind=OperationKind.PROVISION, operation="op-42", request_sent=True, started_at=WHEN
    )
    write_state(
        tmp_path,
        [
            instance(status=ResourceStatus.CREATING, operation=op, dashboard_url=None),
            binding(
                status=ResourceStatus.TAINTED, orphan_mitigation_pending=True, credentials_hash=None
            ),
        ],
    )
    result = run_cli("show", "--state", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    blocks = result.stdout.rstrip("\n").split("\n\n")
    binding_lines = blocks[0].splitlines()
    assert binding_lines[1] == '    status               = "tainted"'
    assert "credentials" not in blocks[0]
    assert binding_lines[-1] == (
        "    # orphan mitigation pending: the next apply deletes what the broker may hold before "
        "anything else"
    )
    instance_lines = blocks[1].splitlines()
    assert instance_lines[1] == '    status                = "creating"'
    assert "dashboard_url" not in blocks[1]
    assert instance_lines[-1] == (
        "    # in-flight operation: provision in progress since 2026-11-26T12:00:00Z "
        '(broker operation "op-42")'
    )


def test_show_escapes_control_characters_from_brokers(tmp_path: Path) -> None:
    write_state(tmp_path, [instance(dashboard_url="http://x/\x1b[31mred")])
    result = run_cli("show", "--state", str(tmp_path))
    assert "\x1b" not in result.stdout
    assert '    dashboard_url         = "http://x/\\u001b[31mred"' in result.stdout.splitlines()


def _saved_plan(path: Path) -> Plan:
    plan = Plan(
        mode=Mode.NORMAL,
        lineage="0b1c2d3e-0000-4000-8000-000000000000",
        serial=3,
        changes=(
            Change(
                address=INSTANCE,
                kind="ServiceInstance",
                action=Action.UPDATE,
                reason="parameters changed",
                before={"plan": "small", "parameters": {"size": "small", "password": None}},
                after={"plan": "small", "parameters": {"size": "large", "password": None}},
                sensitive_paths=(("parameters", "password"),),
                private={"changed_keys": ["size"]},
            ),
        ),
        created_at="2026-11-26T12:00:00+00:00",
        catalogctl_version="0.1.0",
    )
    write_plan_file(path, plan)
    return plan


def test_show_plan_file_renders_it_as_plan_did_without_the_footer(tmp_path: Path) -> None:
    plan = _saved_plan(tmp_path / "tfplan")
    result = run_cli("show", str(tmp_path / "tfplan"), "--state", str(tmp_path / "unused"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == render_plan(plan, color=False, show_footer=False) + "\n"
    assert '          ~ size = "small" -> "large"' in result.stdout.splitlines()
    assert "catalogctl apply" not in result.stdout


def test_show_plan_file_json(tmp_path: Path) -> None:
    plan = _saved_plan(tmp_path / "tfplan")
    result = run_cli("show", "--json", str(tmp_path / "tfplan"))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc == render_plan_json(plan)
    assert "private" not in result.stdout and "changed_keys" not in result.stdout


def test_show_rejects_a_file_that_is_not_a_plan(tmp_path: Path) -> None:
    bogus = tmp_path / "notaplan.json"
    bogus.write_text('{"kind": "something-else"}')
    result = run_cli("show", str(bogus))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {bogus}: not a catalogctl plan file\n"


def test_show_reports_a_corrupt_state_in_one_line(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json")
    result = run_cli("show", "--state", str(tmp_path))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: {tmp_path / STATE_FILE}: not valid JSON"
    )
    assert "Traceback" not in result.stderr
