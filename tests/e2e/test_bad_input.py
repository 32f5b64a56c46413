"""Bad input (invariant 5): one clear message naming file, line and field, exit code 1, and
no call that could change anything, at a broker or in the cluster."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.programmable import SYNC_PLAN_ID, ProgrammableBroker
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, mutating
from tests.fixtures.cluster import AuditRecord, KubeApiServer

CREATE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {
        "size": {"type": "string", "enum": ["s", "m", "l"]},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
    },
}
UPDATE_SCHEMA = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "type": "object",
    "properties": {"replicas": {"type": "integer", "minimum": 1, "maximum": 5}},
}


@pytest.fixture
def ws(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_apiserver: KubeApiServer
) -> Workspace:
    for plan in programmable_broker.catalog["services"][0]["plans"]:
        if plan["id"] == SYNC_PLAN_ID:
            plan["schemas"] = {
                "service_instance": {
                    "create": {"parameters": CREATE_SCHEMA},
                    "update": {"parameters": UPDATE_SCHEMA},
                }
            }
    w = Workspace(tmp_path, kubeconfig=kube_apiserver.kubeconfig_path)
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    return w


@pytest.fixture
def kube_calls(kube_apiserver: KubeApiServer) -> Callable[[], list[AuditRecord]]:
    """The requests made to the real API server since the test started with its token, leaving
    out the server's own (its controllers talk to it over loopback as system:apiserver)."""
    start = len(kube_apiserver.audit())

    def calls() -> list[AuditRecord]:
        return [r for r in kube_apiserver.audit()[start:]
                if r.user == "admin"]

    return calls


def _kube_writes(calls: Callable[[], list[AuditRecord]]) -> list[tuple[str, str]]:
    return [(r.verb, r.uri) for r in calls() if r.mutating]


def _one_problem(stderr: str) -> str:
    """The single problem line; the only other line is the closing ``Error:`` summary."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    problems = [line for line in lines if not line.startswith("Error:")]
    assert len(problems) == 1, stderr
    assert len(lines) <= 2, stderr
    assert "Traceback" not in stderr
    return problems[0]


COMMANDS: list[tuple[str, ...]] = [("plan",), ("apply", "--auto-approve")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_broken_yaml(
    ws: Workspace,
    command: tuple[str, ...],
    programmable_broker: ProgrammableBroker,
    kube_calls: Callable[[], list[AuditRecord]],
) -> None:
    path = ws.write(
        "bad.yaml",
        "apiVersion: servicecatalog.k8s.io/v1beta1\n"
        "kind: ServiceInstance\n"
        "metadata:\n"
        "  name: a\n"
        "  namespace: [apps\n"
        "spec: {}\n",
    )
    result = ws.run(*command)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    problem = _one_problem(result.stderr)
    assert problem.startswith(f"{path}:"), problem
    assert result.stdout == ""
    assert programmable_broker.requests == []
    assert kube_calls() == []
    assert not (ws.state / "catalogctl.state.json").exists()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_parameter_violating_the_plan_schema(
    ws: Workspace,
    command: tuple[str, ...],
    programmable_broker: ProgrammableBroker,
    kube_calls: Callable[[], list[AuditRecord]],
) -> None:
    path = ws.write("a.yaml", instance_yaml("a", size="s", replicas=9))
    result = ws.run(*command)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    problem = _one_problem(result.stderr)
    # a.yaml line 11 is "    replicas: 9".
    assert problem.startswith(f"{path}:11:5: "), problem
    assert "spec.parameters.replicas: " in problem
    assert "5" in problem  # the maximum it exceeds
    assert [(r.method, r.path) for r in programmable_broker.requests] == [("GET", "/v2/catalog")]
    assert _kube_writes(kube_calls) == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_unknown_plan(
    ws: Workspace,
    command: tuple[str, ...],
    programmable_broker: ProgrammableBroker,
    kube_calls: Callable[[], list[AuditRecord]],
) -> None:
    path = ws.write("a.yaml", instance_yaml("a", "platinum"))
    result = ws.run(*command)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    problem = _one_problem(result.stderr)
    assert problem.startswith(f"{path}:"), problem
    assert "platinum" in problem
    assert problem.startswith(f"{path}:8:3: "), problem  # the plan field
    assert "spec.clusterServicePlanExternalName: " in problem
    assert mutating(programmable_broker.requests) == []
    assert {r.path for r in programmable_broker.requests} <= {"/v2/catalog"}
    assert _kube_writes(kube_calls) == []


def test_instances_sharing_an_unknown_plan_are_each_reported_at_their_own_line(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    # The selector is resolved once for both; each instance still gets its own problem.
    a = ws.write("a.yaml", instance_yaml("a", "platinum"))
    b = ws.write("b.yaml", instance_yaml("b", "platinum") + "---\n" + instance_yaml("c"))
    result = ws.run("plan")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    problems = [line for line in result.stderr.splitlines() if "platinum" in line]
    assert len(problems) == 2, result.stderr
    assert problems[0].startswith(f"{a}:8:3: ServiceInstance/apps/a: "), problems
    assert problems[1].startswith(f"{b}:8:3: ServiceInstance/apps/b: "), problems
    assert "ServiceInstance/apps/c" not in result.stderr
    assert mutating(programmable_broker.requests) == []


def test_bad_input_after_apply_changes_nothing(
    ws: Workspace, programmable_broker: ProgrammableBroker,
    kube_calls: Callable[[], list[AuditRecord]],
) -> None:
    """With resources in state, a bad edit is still refused before any refresh or change."""
    ws.write("a.yaml", instance_yaml("a", size="s", replicas=1))
    ws.ok("apply", "--auto-approve")
    before: dict[str, Any] = ws.state_doc()
    seen = len(programmable_broker.requests)
    ws.write("a.yaml", instance_yaml("a", size="s", replicas=6))
    result = ws.run("apply", "--auto-approve")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "spec.parameters.replicas: " in _one_problem(result.stderr)
    assert mutating(programmable_broker.requests[seen:]) == []
    assert _kube_writes(kube_calls) == []
    assert ws.state_doc() == before
