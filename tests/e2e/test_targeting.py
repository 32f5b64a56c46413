"""--target and --replace name real resources: one that matches nothing is an error with
the addresses it may have meant, made before any broker call, and a targeted plan warns
that it may not show everything the configuration asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    w.write("db.yaml", instance_yaml("db", namespace="apps"))
    w.write("db-binding.yaml", binding_yaml("db-binding", "db", namespace="apps"))
    w.write("cache.yaml", instance_yaml("cache", namespace="team-a"))
    return w


@pytest.mark.parametrize("command", ["plan", "apply", "destroy"])
def test_an_address_matching_nothing_is_an_error_with_near_matches(
    ws: Workspace, programmable_broker: ProgrammableBroker, command: str
) -> None:
    extra = ("--auto-approve",) if command != "plan" else ()
    result = ws.run(command, "--target", "ServiceInstance/apps/cache", *extra)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == (
        "Error: --target ServiceInstance/apps/cache matches nothing in the configuration or "
        "the state (did you mean ServiceInstance/team-a/cache?)\n"
    )
    if command == "destroy":  # destroy replaces nothing: it has no --replace
        assert programmable_broker.requests == []
        return
    result = ws.run(command, "--replace", "ServiceBinding/apps/db-bindng", *extra)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --replace ServiceBinding/apps/db-bindng matches nothing in the configuration "
        "or the state (did you mean ServiceBinding/apps/db-binding?)\n"
    )
    assert programmable_broker.requests == []


def test_namespace_applies_to_short_target_addresses(ws: Workspace) -> None:
    result = ws.ok("plan", "-n", "team-a", "--target", "ServiceInstance/cache")
    assert '+ ServiceInstance "team-a/cache"' in result.stdout
    assert "apps/db" not in result.stdout


def test_a_targeted_plan_warns_that_targeting_is_in_effect(ws: Workspace) -> None:
    result = ws.ok("plan", "--target", "ServiceInstance/apps/db")
    assert "Warning: Resource targeting is in effect" in result.stdout
    assert result.stdout.index("Warning: Resource targeting") < result.stdout.index("Plan: ")
    as_json = ws.ok("plan", "--json", "--target", "ServiceInstance/apps/db")
    assert "Warning: Resource targeting is in effect" in as_json.stderr
    applied = ws.ok("apply", "--auto-approve", "--target", "ServiceInstance/apps/db")
    assert "Warning: Resource targeting is in effect" in applied.stdout
    untargeted = ws.ok("plan")
    assert "targeting" not in untargeted.stdout
