"""Invariant 4: no secret value — broker credentials, binding credentials, parametersFrom
values — appears in any output, log, error, state file or saved plan, in any command."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import CliResult, run_cli
from tests.e2e.conftest import Workspace, broker_yaml
from tests.processes import CatalogctlProcess

MARK = "s3cr3t-MARKER"
BROKER_PASSWORD = f"{MARK}-broker-pw-71c2"
PARAM_VALUE = f"{MARK}-param-5e0a"
BIND_PARAM_VALUE = f"{MARK}-bindparam-88d1"
DB_PASSWORD = f"{MARK}-pw-0f3b"
CREDENTIALS: dict[str, Any] = {
    "uri": f"db://app:{DB_PASSWORD}@10.0.0.7:5432/app",
    "password": DB_PASSWORD,
    "token": {"value": f"{MARK}-nested-9a77"},
    "username": "app",
}
MARKERS = [
    BROKER_PASSWORD,
    PARAM_VALUE,
    BIND_PARAM_VALUE,
    DB_PASSWORD,
    f"{MARK}-nested-9a77",
    MARK,
]

SERVICES = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: apps
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: sync
  parameters:
    size: s
  parametersFrom:
    - secretKeyRef:
        name: db-params
        key: params
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: apps
spec:
  instanceRef:
    name: db
  parametersFrom:
    - secretKeyRef:
        name: bind-params
        key: params
---
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
  envFrom: {}
"""

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: web:1
"""


def _forms(marker: str) -> list[str]:
    """The marker as text, base64 (Secret data) and JSON-escaped inside a JSON string."""
    raw = marker.encode()
    return [marker, base64.b64encode(raw).decode(), base64.b64encode(raw).decode()[:16]]


def _assert_clean(where: str, text: str) -> None:
    for marker in MARKERS:
        for form in _forms(marker):
            assert form not in text, f"{where} contains a secret value ({form[:6]}...)"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_OBAPI_AUTH_USERNAME", "prog-user")
    monkeypatch.setenv("CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_OBAPI_AUTH_PASSWORD", BROKER_PASSWORD)
    monkeypatch.setenv(
        "CATALOGCTL_SECRET_APPS_DB_PARAMS_PARAMS", f'{{"adminPassword": "{PARAM_VALUE}"}}'
    )
    monkeypatch.setenv(
        "CATALOGCTL_SECRET_APPS_BIND_PARAMS_PARAMS", f'{{"token": "{BIND_PARAM_VALUE}"}}'
    )


def test_no_secret_in_any_output_state_or_plan_file(
    tmp_path: Path,
    programmable_broker: ProgrammableBroker,
    secret_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = programmable_broker
    broker.basic_auth = ("prog-user", BROKER_PASSWORD)
    bind_path = r"/service_bindings/[^/]+$"
    # First bind, a failing rebind (500), then binds that work; GET binding returns them too.
    broker.script("PUT", bind_path, status=201, body={"credentials": CREDENTIALS}, times=1)
    broker.script("PUT", bind_path, status=500, body={"description": "database on fire"}, times=1)
    broker.script("PUT", bind_path, status=201, body={"credentials": CREDENTIALS}, times=None)
    broker.script("GET", bind_path, status=200, body={"credentials": CREDENTIALS}, times=None)
    cluster = tmp_path / "cluster"
    (cluster / "apps" / "deployment").mkdir(parents=True)
    (cluster / "apps" / "deployment" / "web.yaml").write_text(DEPLOYMENT)
    ws = Workspace(tmp_path / "ws", cluster_dir=cluster)
    ws.write("broker.yaml", broker_yaml(broker.url))
    ws.write("services.yaml", SERVICES)
    plan_file = tmp_path / "p.json"
    outputs: list[tuple[str, CliResult]] = []

    def run(*args: str, code: int = 0, with_files: bool = True) -> CliResult:
        result = ws.run(*args, with_files=with_files)
        outputs.append((" ".join(args), result))
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result

    def sub(*args: str, code: int = 0) -> None:
        """A separate process, so -vv debug logging really goes to stderr."""
        proc = CatalogctlProcess(["-vv", "--no-color", *args])
        out, err = proc.communicate(timeout=60)
        outputs.append((f"-vv {' '.join(args)}", CliResult(proc.wait(), out, err)))
        assert proc.returncode == code, (args, out, err)

    files = ["-f", str(ws.services), *ws.target_args()]
    run("plan")
    run("plan", "--json")
    run("plan", "--out", str(plan_file))
    outputs.append(("show plan", run_cli("show", str(plan_file))))
    outputs.append(("show plan --json", run_cli("show", "--json", str(plan_file))))
    sub("apply", str(plan_file), *ws.target_args())
    # The secret values really went where they belong (so the checks below mean something).
    (put,) = [r for r in broker.requests if r.method == "PUT" and "service_bindings" not in r.path]
    assert put.body["parameters"]["adminPassword"] == PARAM_VALUE
    secret_file = (cluster / "apps" / "secret" / "db-binding.yaml").read_text()
    assert base64.b64encode(DB_PASSWORD.encode()).decode() in secret_file

    run("plan", "--detailed-exitcode")
    sub("plan", *files)
    run("drift")
    run("drift", "--format", "json")
    outputs.append(("show", run_cli("show", "--state", str(ws.state))))
    outputs.append(("show --json", run_cli("show", "--json", "--state", str(ws.state))))
    for address in run_cli("state", "list", "--state", str(ws.state)).stdout.split():
        outputs.append(
            (f"state show {address}", run_cli("state", "show", address, "--state", str(ws.state)))
        )
        outputs.append(
            (
                f"state show --json {address}",
                run_cli("state", "show", "--json", address, "--state", str(ws.state)),
            )
        )
    outputs.append(("output", run_cli("output", "--state", str(ws.state))))
    # Drift: the Secret edited by hand, then repaired (credentials re-read, rewritten).
    (cluster / "apps" / "secret" / "db-binding.yaml").write_text(
        secret_file.replace(base64.b64encode(b"app").decode(), base64.b64encode(b"root").decode())
    )
    run("drift", code=2)
    sub("apply", "--auto-approve", *files)

    # Error paths: the secret parameter changes and the broker answers 500 to the new bind.
    bind_params = "CATALOGCTL_SECRET_APPS_BIND_PARAMS_PARAMS"
    monkeypatch.setenv(bind_params, f'{{"token": "{BIND_PARAM_VALUE}-v2"}}')
    plan = run("plan", "--json")
    assert json.loads(plan.stdout)["summary"]["replace"] == 1  # the binding is replaced
    sub("apply", "--auto-approve", "--retry-timeout", "0", *files, code=1)  # one attempt
    failed = outputs[-1][1]
    assert "database on fire" in failed.stderr + failed.stdout
    assert "DEBUG" in failed.stderr  # -vv really logged
    # A missing parametersFrom Secret.
    monkeypatch.delenv(bind_params)
    run("plan", code=1)
    monkeypatch.setenv(bind_params, f'{{"token": "{BIND_PARAM_VALUE}-v3"}}')
    sub("apply", "--auto-approve", *files)
    assert len(broker.requests_to("PUT", bind_path)) == 3
    sub("destroy", "--auto-approve", *ws.target_args())

    for what, result in outputs:
        _assert_clean(f"`{what}` stdout", result.stdout)
        _assert_clean(f"`{what}` stderr", result.stderr)
    stored = [p for p in ws.state.rglob("*") if p.is_file()] + [plan_file]
    assert any(p.name == "catalogctl.state.json" for p in stored)
    for path in stored:
        _assert_clean(str(path), path.read_text(errors="replace"))
