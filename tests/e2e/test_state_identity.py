"""Which state owns what: a plan never creates a state location, says when the state is
new, and refuses (before any broker call) to write objects another state, Service Catalog
or someone else owns, so a mistyped ``--state`` cannot provision a second world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating

NS = "apps"

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: web:1
"""

MAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-db
  namespace: apps
spec:
  bindingRef:
    name: db-binding
  target:
    kind: Deployment
    name: web
  env:
    - name: DB_URI
      key: uri
"""


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    cluster = tmp_path / "cluster"
    (cluster / NS / "deployment").mkdir(parents=True)
    (cluster / NS / "deployment" / "web.yaml").write_text(DEPLOYMENT)
    w = Workspace(tmp_path, cluster_dir=cluster)
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    w.write("db.yaml", instance_yaml("db"))
    w.write("db-binding.yaml", binding_yaml("db-binding", "db"))
    w.write("mapping.yaml", MAPPING)
    return w


def _with_state(ws: Workspace, command: str, state: Path, *extra: str) -> list[str]:
    args = ["--no-color", command, "-f", str(ws.services), "--state", str(state)]
    assert ws.cluster_dir is not None
    return [*args, "--cluster-dir", str(ws.cluster_dir), *extra]


def test_plan_against_a_missing_state_creates_nothing_and_says_it_is_new(ws: Workspace) -> None:
    from tests.cli import run_cli

    stat = ws.root / "stat"
    result = run_cli(*_with_state(ws, "plan", stat))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        f"no local state at {stat} yet: everything below is new"
    )
    assert not stat.exists()

    as_json = run_cli(*_with_state(ws, "plan", stat, "--json"))
    assert as_json.exit_code == 0, as_json.stderr
    json.loads(as_json.stdout)  # the notice does not break the JSON
    assert f"no local state at {stat} yet" in as_json.stderr
    assert not stat.exists()


def test_apply_to_a_new_state_says_so_once_then_never_again(ws: Workspace) -> None:
    first = ws.ok("apply", "--auto-approve")
    assert first.stdout.splitlines()[0] == (
        f"no local state at {ws.state} yet: everything below is new"
    )
    again = ws.ok("plan")
    assert "everything below is new" not in again.stdout


def test_objects_written_carry_the_lineage_of_their_state(ws: Workspace) -> None:
    ws.ok("apply", "--auto-approve")
    lineage = ws.state_doc()["lineage"]
    secret = ws.cluster_object(NS, "Secret", "db-binding")
    assert secret is not None
    annotations = secret["metadata"]["annotations"]
    assert annotations["catalogctl.io/state-lineage"] == lineage
    assert annotations["catalogctl.io/state"] == f"local state at {ws.state}"
    deployment = ws.cluster_object(NS, "Deployment", "web")
    assert deployment is not None
    records = json.loads(deployment["metadata"]["annotations"]["catalogctl.io/mappings"])
    assert records["PodMapping/apps/web-db"]["lineage"] == lineage


def test_a_mistyped_state_stops_at_plan_time_naming_both_states(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.ok("apply", "--auto-approve")
    lineage = ws.state_doc()["lineage"]
    secret_before = ws.cluster_object(NS, "Secret", "db-binding")
    deployment_before = ws.cluster_object(NS, "Deployment", "web")
    seen = len(programmable_broker.requests)
    stat = ws.root / "stat"
    from tests.cli import run_cli

    for command in ("plan", "apply"):
        extra = ("--auto-approve",) if command == "apply" else ()
        result = run_cli(*_with_state(ws, command, stat, *extra))
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        if command == "plan":
            assert not stat.exists()
        err = result.stderr
        assert "Secret apps/db-binding (for ServiceBinding/apps/db-binding) was written by " in err
        assert f"another state: local state at {ws.state} (lineage {lineage})" in err
        assert "Deployment apps/web: the entries of PodMapping/apps/web-db were written" in err
        assert f"this run uses local state at {stat} (new: nothing stored there yet)" in err
        assert "if --state is mistyped, pass the state that owns them" in err
        assert "Traceback" not in err
    # before any broker call: not even a catalog fetch
    assert programmable_broker.requests[seen:] == []
    assert not (stat / "catalogctl.state.json").exists()
    assert ws.cluster_object(NS, "Secret", "db-binding") == secret_before
    assert ws.cluster_object(NS, "Deployment", "web") == deployment_before


def test_the_owning_state_still_plans_and_applies(ws: Workspace) -> None:
    ws.ok("apply", "--auto-approve")
    ws.write("db-binding.yaml", binding_yaml("db-binding", "db") + "  secretName: db-creds\n")
    ws.ok("apply", "--auto-approve")
    assert ws.cluster_object(NS, "Secret", "db-creds") is not None


def _service_catalog_secret(ws: Workspace, name: str) -> Path:
    assert ws.cluster_dir is not None
    path = ws.cluster_dir / NS / "secret" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": NS,
            "ownerReferences": [
                {
                    "apiVersion": "servicecatalog.k8s.io/v1beta1",
                    "kind": "ServiceBinding",
                    "name": name,
                    "uid": "5d1c0e55-0000-4000-8000-000000000001",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "type": "Opaque",
        "data": {"uri": "c2VjcmV0"},
    }
    path.write_text(yaml.safe_dump(secret))
    return path


def test_a_secret_service_catalog_controls_fails_the_plan_before_any_broker_call(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    path = _service_catalog_secret(ws, "db-binding")
    before = path.read_text()
    result = ws.run("plan")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert (
        "Secret apps/db-binding (for ServiceBinding/apps/db-binding) is controlled by "
        "ServiceBinding apps/db-binding (servicecatalog.k8s.io), not catalogctl"
    ) in result.stderr
    assert "take it over with `catalogctl migrate service-catalog`" in result.stderr
    assert programmable_broker.requests == []
    assert path.read_text() == before


def test_an_unmanaged_secret_fails_the_plan(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    assert ws.cluster_dir is not None
    path = ws.cluster_dir / NS / "secret" / "db-binding.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "db-binding", "namespace": NS},
                "data": {"k": "dg=="},
            }
        )
    )
    result = ws.run("apply", "--auto-approve")
    assert result.exit_code == 1
    assert "exists and is not managed by catalogctl" in result.stderr
    assert mutating(programmable_broker.requests) == []
    assert ws.resources() == {}


def test_a_file_where_the_state_directory_belongs_is_named(ws: Workspace) -> None:
    ws.ok("apply", "--auto-approve")
    state_file = ws.state / "catalogctl.state.json"
    from tests.cli import run_cli

    for command in ("plan", "apply"):
        extra = ("--auto-approve",) if command == "apply" else ()
        result = run_cli(*_with_state(ws, command, state_file, *extra))
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        assert result.stderr == (
            f"Error: {state_file} is a file, but local state at {state_file} needs a directory "
            f"there (it holds catalogctl.state.json and its lock); the state directory is "
            f"{ws.state}\n"
        )
