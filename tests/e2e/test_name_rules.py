"""One set of name and key rules: validate reports everything plan would refuse (with file and
line), and a broker's credential keys are checked before its Secret is written."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating

BINDING_ID = "6c0de1b2-6f2d-4c3b-9a8e-0000000000b1"

HOSTILE_REFS = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: other
spec:
  url: http://127.0.0.1:9
  authInfo:
    bearer:
      secretRef:
        namespace: ../etc
        name: token
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: sync
  parametersFrom:
    - secretKeyRef:
        name: ../evil
        key: a/b
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-b
  namespace: apps
spec:
  instanceRef:
    name: db
  secretTransforms:
    - addKeysFrom:
        secretRef:
          namespace: ..
          name: x/y
    - addKey:
        key: ..
        stringValue: v
"""

EXPECTED = [
    (
        "10:9",
        "ClusterServiceBroker/other: spec.authInfo.bearer.secretRef.namespace: "
        "invalid namespace '../etc'",
    ),
    (
        "23:9",
        "ServiceInstance/apps/db: spec.parametersFrom[0].secretKeyRef.name: "
        "invalid Secret name '../evil'",
    ),
    ("24:9", "ServiceInstance/apps/db: spec.parametersFrom[0].secretKeyRef.key: invalid key 'a/b'"),
    (
        "37:11",
        "ServiceBinding/apps/db-b: spec.secretTransforms[0].addKeysFrom.secretRef.namespace: "
        "invalid namespace '..'",
    ),
    (
        "38:11",
        "ServiceBinding/apps/db-b: spec.secretTransforms[0].addKeysFrom.secretRef.name: "
        "invalid Secret name 'x/y'",
    ),
    (
        "40:9",
        "ServiceBinding/apps/db-b: spec.secretTransforms[1].addKey.key: invalid key '..': "
        "must not be '..'",
    ),
]


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    return w


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_paths_in_secret_references_are_refused_by_every_command_alike(
    ws: Workspace, command: str, programmable_broker: ProgrammableBroker
) -> None:
    path = ws.write("hostile.yaml", HOSTILE_REFS)
    if command == "validate":
        result = run_cli("--no-color", "validate", "-f", str(ws.services))
    else:
        extra = ("--auto-approve",) if command == "apply" else ()
        result = ws.run(command, *extra)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines[-1] == f"Error: {len(EXPECTED)} problems found"
    assert len(lines) == len(EXPECTED) + 1, result.stderr
    for line, (where, start) in zip(lines, EXPECTED, strict=False):
        assert line.startswith(f"{path}:{where}: {start}"), line
    assert programmable_broker.requests == []
    assert not (ws.root / "cluster").exists()


def _bound_with(programmable_broker: ProgrammableBroker, credentials: object) -> None:
    body = {"credentials": credentials}
    programmable_broker.script("PUT", f"/service_bindings/{BINDING_ID}$", status=201, body=body)
    programmable_broker.script(
        "GET", f"/service_bindings/{BINDING_ID}$", status=200, body=body, times=None
    )


def _binding(transforms: str = "") -> str:
    return (
        binding_yaml("db-b", "db")
        + f"  externalID: {BINDING_ID}\n"
        + (f"  secretTransforms:\n{transforms}" if transforms else "")
    )


def test_a_credential_key_that_is_not_a_secret_key_names_the_binding_and_the_fix(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    _bound_with(programmable_broker, {"../../../etc/evil": "x", "user": "app"})
    ws.write("db.yaml", instance_yaml("db") + "---\n" + _binding())
    result = ws.run("apply", "--auto-approve")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert (
        "Secret/apps/db-b: ServiceBinding/apps/db-b: the broker's credential key "
        "'../../../etc/evil' is not a valid Secret key (a valid config key must consist of "
        "alphanumeric characters, '-', '_' or '.'); rename it with a secretTransforms item such "
        'as renameKey: {from: "../../../etc/evil", to: <a valid key>} (the binding itself is kept)'
    ) in result.stderr
    # The binding stays, at the broker and in state; no Secret (nor any file outside) was written.
    assert "ServiceBinding/apps/db-b" in ws.resources()
    assert "Secret/apps/db-b" not in ws.resources()
    assert [m for m, _ in mutating(programmable_broker.requests)] == ["PUT", "PUT"]
    assert ws.secret_data("apps", "db-b") is None
    assert not (ws.root / "etc").exists()

    # The fix the message names works: the credentials are read again and renamed.
    ws.write(
        "db.yaml",
        instance_yaml("db")
        + "---\n"
        + _binding("    - renameKey: {from: ../../../etc/evil, to: evil}\n"),
    )
    ws.ok("apply", "--auto-approve")
    assert ws.secret_data("apps", "db-b") == {"evil": b"x", "user": b"app"}


def test_negative_zero_credentials_are_written_as_service_catalog_wrote_them(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    # Written as JSON text: a dict would lose the integer -0 before it is sent.
    raw = '{"credentials": {"int": -0, "float": -0.0, "list": [-0, 0], "port": 5432}}'
    programmable_broker.script("PUT", f"/service_bindings/{BINDING_ID}$", status=201, body=raw)
    ws.write("db.yaml", instance_yaml("db") + "---\n" + _binding())
    ws.ok("apply", "--auto-approve")
    assert ws.secret_data("apps", "db-b") == {
        "int": b"-0",
        "float": b"-0",
        "list": b"[-0,0]",
        "port": b"5432",
    }
    obj = ws.cluster_object("apps", "Secret", "db-b")
    assert obj is not None
    assert base64.b64decode(obj["data"]["int"]) == b"-0"
