"""Export input (``kubectl get -o yaml`` writes ``kind: List``) and the empty-input refusal:
an input that yields no managed resource never plans away everything the state holds."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating


def _as_list(*texts: str) -> str:
    items = [yaml.safe_load(t) for t in texts]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})


def _applied(tmp_path: Path, broker: ProgrammableBroker) -> Workspace:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(broker.url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db") + "---\n" + binding_yaml("db-binding", "db"))
    ws.ok("apply", "--auto-approve")
    assert len(broker.instances) == 1 and len(broker.bindings) == 1
    return ws


def test_a_kubectl_list_export_plans_no_changes(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _applied(tmp_path, programmable_broker)
    ws.remove("db.yaml")
    ws.write("export.yaml", _as_list(instance_yaml("db"), binding_yaml("db-binding", "db")))
    seen = len(programmable_broker.requests)
    result = ws.ok("plan")
    assert "No changes." in result.stdout
    assert mutating(programmable_broker.requests[seen:]) == []


def test_a_typed_list_in_a_json_file_plans_no_changes(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _applied(tmp_path, programmable_broker)
    ws.remove("db.yaml")
    instance = yaml.safe_load(instance_yaml("db"))
    binding = yaml.safe_load(binding_yaml("db-binding", "db"))
    for item in (instance, binding):
        del item["apiVersion"], item["kind"]
    ws.write(
        "instances.json",
        json.dumps(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceInstanceList",
                "items": [instance],
            }
        ),
    )
    ws.write(
        "bindings.json",
        json.dumps(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceBindingList",
                "items": [binding],
            },
            indent=2,
        ),
    )
    result = ws.ok("plan")
    assert "No changes." in result.stdout


def test_an_input_without_managed_resources_is_refused_before_any_broker_call(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = _applied(tmp_path, programmable_broker)
    ws.remove("db.yaml")
    # What the bug looked like: a list of unmanaged objects (or one nobody unpacked).
    ws.write("export.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    seen = len(programmable_broker.requests)
    for command, extra in (("plan", ()), ("apply", ("--auto-approve",))):
        result = ws.run(command, *extra)
        assert result.exit_code == 1, result.stdout
        assert str(ws.services) in result.stderr
        assert "--allow-empty" in result.stderr
        assert "Traceback" not in result.stderr
    assert programmable_broker.requests[seen:] == []
    assert len(programmable_broker.instances) == 1 and len(programmable_broker.bindings) == 1
    assert set(ws.resources()) >= {"ServiceInstance/apps/db", "ServiceBinding/apps/db-binding"}

    allowed = ws.ok("plan", "--allow-empty")
    assert "# ServiceInstance/apps/db will be deleted" in allowed.stdout
    assert mutating(programmable_broker.requests[seen:]) == []


def test_an_empty_input_with_an_empty_state_is_fine(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("nothing.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    assert "No changes." in ws.ok("plan").stdout
