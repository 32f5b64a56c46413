"""``catalogctl import`` against a real OSB broker on 127.0.0.1 (the programmable broker).

Broker resources are created the way another platform would have created
them (plain OSB requests), then adopted with the CLI; the tests check what
import asked the broker (GETs only), what it refused, what it recorded, and
that the next plan sees the adopted instance as unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogctl.state import LocalBackend, ResourceStatus, State, checksum
from catalogctl.state.local import STATE_FILE
from tests.brokers.programmable import (
    LARGE_PLAN_ID,
    SERVICE_ID,
    SYNC_PLAN_ID,
    ProgrammableBroker,
    default_catalog,
)
from tests.cli import run_cli

INSTANCE = "ServiceInstance/default/db"
BINDING = "ServiceBinding/default/db-binding"
BROKER = "ClusterServiceBroker/prog"
IID = "0a0b0c0d-1111-4222-8333-444455556666"
BID = "9a9b9c9d-1111-4222-8333-444455556666"


def _desired(broker_url: str, plan: str = "sync", size: str = "small") -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: prog
spec:
  url: {broker_url}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: default
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: {plan}
  parameters:
    size: {size}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: default
spec:
  instanceRef:
    name: db
  secretName: db-creds
"""


def _osb(broker: ProgrammableBroker, method: str, path: str, body: dict[str, Any]) -> None:
    """Create something at the broker directly, as another platform would have."""
    response = httpx.request(
        method,
        broker.url + path,
        json=body,
        params={"accepts_incomplete": "true"},
        headers={"X-Broker-API-Version": "2.17"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text


def _provision(
    broker: ProgrammableBroker, plan_id: str = SYNC_PLAN_ID, size: str = "small"
) -> None:
    _osb(
        broker,
        "PUT",
        f"/v2/service_instances/{IID}",
        {
            "service_id": SERVICE_ID,
            "plan_id": plan_id,
            "organization_guid": "org",
            "space_guid": "space",
            "parameters": {"size": size},
        },
    )


def _bind(broker: ProgrammableBroker) -> None:
    _osb(
        broker,
        "PUT",
        f"/v2/service_instances/{IID}/service_bindings/{BID}",
        {
            "service_id": SERVICE_ID,
            "plan_id": SYNC_PLAN_ID,
        },
    )


class Env:
    """Paths and a CLI runner for one test: desired YAML, state and cluster directories."""

    def __init__(self, root: Path, broker: ProgrammableBroker) -> None:
        self.root = root
        self.broker = broker
        self.state = root / "state"
        self.cluster = root / "cluster"
        self.desired = root / "desired.yaml"
        self.write()

    def write(self, **kwargs: str) -> None:
        self.desired.write_text(_desired(self.broker.url, **kwargs))

    def run(self, *args: str) -> Any:
        return run_cli(
            *args,
            "--secrets-dir",
            str(self.root / "secrets"),
            "-f",
            str(self.desired),
            "--state",
            str(self.state),
            "--cluster-dir",
            str(self.cluster),
        )

    def stored(self) -> State:
        return State.from_json((self.state / STATE_FILE).read_bytes())

    def mutating_requests(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.broker.requests if r.method != "GET"]


@pytest.fixture
def env(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Env:
    return Env(tmp_path, programmable_broker)


def test_import_instance_records_what_apply_would_have(env: Env) -> None:
    _provision(env.broker)
    before = env.mutating_requests()
    result = env.run("import", INSTANCE, IID)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        f'{INSTANCE}: Importing from ID "{IID}"...',
        f"{INSTANCE}: Import complete (instance {IID}, plan {SYNC_PLAN_ID})",
    ]
    assert "Import successful!" in result.stdout
    assert result.stderr == ""
    # Only reads: the catalog and the instance.
    assert env.mutating_requests() == before
    gets = [r.path for r in env.broker.requests if r.method == "GET"]
    assert gets == ["/v2/catalog", f"/v2/service_instances/{IID}"]

    stored = env.stored()
    assert stored.serial == 1
    assert stored.addresses() == [INSTANCE]
    res = stored.resources[INSTANCE]
    assert res.status is ResourceStatus.READY
    assert (res.broker, res.service_id, res.plan_id, res.instance_id) == (
        BROKER,
        SERVICE_ID,
        SYNC_PLAN_ID,
        IID,
    )
    assert res.parameters == {"size": "small"}
    assert res.parameters_checksum == checksum({"size": "small"})
    assert res.dashboard_url == f"http://127.0.0.1/dashboard/{IID}"
    assert res.depends_on == (BROKER,)
    assert res.operation is None
    record = res.attributes["broker_record"]
    assert isinstance(record, dict) and record["url"] == env.broker.url
    assert res.attributes["display"] == {
        "class": "programmable-db",
        "plan": "sync",
        "update_requests": 0,
    }
    assert res.attributes["instances_retrievable"] is True
    assert res.attributes["bindings_retrievable"] is True
    assert LocalBackend(env.state).lock_info() is None


def _instance_change(env: Env) -> dict[str, Any]:
    result = env.run("plan", "--json")
    assert result.exit_code == 0, result.stderr
    changes = json.loads(result.stdout)["resource_changes"]
    [change] = [c for c in changes if c["address"] == INSTANCE]
    assert isinstance(change, dict)
    return change


def test_plan_after_import_sees_no_change_for_the_instance(env: Env) -> None:
    _provision(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    before = env.mutating_requests()
    change = _instance_change(env)
    assert change["change"]["actions"] == ["no-op"]
    assert env.mutating_requests() == before


def test_import_with_different_live_parameters_plans_an_update(env: Env) -> None:
    _provision(env.broker, size="large")
    result = env.run("import", INSTANCE, IID)
    assert result.exit_code == 0, result.stderr
    assert result.stderr == (
        f"Note: {INSTANCE}: parameters at the broker differ from the configuration (size); "
        "the next plan shows the update.\n"
    )
    assert env.stored().resources[INSTANCE].parameters == {"size": "small"}
    change = _instance_change(env)
    assert change["change"]["actions"] == ["update"]


def test_import_refuses_an_id_the_broker_does_not_know(env: Env) -> None:
    result = env.run("import", INSTANCE, IID)
    assert result.exit_code == 1
    assert result.stdout == f'{INSTANCE}: Importing from ID "{IID}"...\n'
    assert result.stderr == (
        f"Error: cannot import {INSTANCE}: the broker does not know instance {IID} (404)\n"
    )
    assert not (env.state / STATE_FILE).exists()
    assert LocalBackend(env.state).lock_info() is None


def test_import_refuses_a_different_plan(env: Env) -> None:
    _provision(env.broker, plan_id=LARGE_PLAN_ID)
    result = env.run("import", INSTANCE, IID)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot import {INSTANCE}: the instance uses plan id '{LARGE_PLAN_ID}' at the "
        f"broker, but the configuration asks for plan 'sync' ({SYNC_PLAN_ID}); import it under a "
        "resource with that plan, or change it after import\n"
    )
    assert not (env.state / STATE_FILE).exists()


def test_import_refuses_an_address_already_in_state(env: Env) -> None:
    _provision(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    before = (env.state / STATE_FILE).read_bytes()
    result = env.run("import", INSTANCE, "another-id")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {INSTANCE} is already in the state; to adopt another id, "
        f"`catalogctl state rm {INSTANCE}` first\n"
    )
    assert (env.state / STATE_FILE).read_bytes() == before


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "ServiceInstance/default/other",
            "cannot import ServiceInstance/default/other: it is not in the desired state (-f); "
            "add it to the YAML first, so catalogctl knows how it should look",
        ),
        (
            "Secret/default/db-creds",
            "cannot import Secret/default/db-creds: only ServiceInstance and ServiceBinding "
            "addresses can be imported (the rest is derived from them by apply)",
        ),
        (
            "Nope/x",
            "invalid address 'Nope/x': unknown kind 'Nope' (one of ClusterServiceBroker, "
            "ServiceBroker, ServiceInstance, ServiceBinding, Secret, PodMapping)",
        ),
    ],
)
def test_import_address_errors_make_no_broker_call(env: Env, address: str, message: str) -> None:
    result = env.run("import", address, IID)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message}\n"
    assert env.broker.requests == []


def test_import_binding_after_its_instance(env: Env) -> None:
    _provision(env.broker)
    _bind(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    result = env.run("import", BINDING, BID)
    assert result.exit_code == 0, result.stderr
    assert f"{BINDING}: Import complete (binding {BID} of instance {IID}, plan {SYNC_PLAN_ID})" in (
        result.stdout
    )
    assert result.stderr == (
        f"Note: {BINDING}: the next apply writes Secret db-creds with credentials read from the "
        "broker again.\n"
    )
    stored = env.stored()
    assert stored.serial == 2
    res = stored.resources[BINDING]
    assert (res.status, res.instance_id, res.binding_id, res.broker) == (
        ResourceStatus.READY,
        IID,
        BID,
        BROKER,
    )
    assert res.depends_on == (INSTANCE,)
    assert res.attributes["display"] == {"instance": INSTANCE, "secret_name": "db-creds"}
    creds = env.broker.bindings[(IID, BID)].credentials
    assert res.credentials_hash == checksum(creds)
    text = (env.state / STATE_FILE).read_text()
    assert creds["password"] not in text and creds["password"] not in result.stdout + result.stderr
    # The binding is adopted as is; only its Secret is left for apply to write.
    plan = json.loads(env.run("plan", "--json").stdout)
    actions = {c["address"]: c["change"]["actions"] for c in plan["resource_changes"]}
    assert actions[BINDING] == ["no-op"]
    assert actions["Secret/default/db-creds"] == ["create"]


def test_import_binding_needs_its_instance_in_state(env: Env) -> None:
    _provision(env.broker)
    _bind(env.broker)
    result = env.run("import", BINDING, BID)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot import {BINDING}: its instance {INSTANCE} must be in the state first "
        f"(`catalogctl import {INSTANCE} INSTANCE_ID`)\n"
    )


def test_import_binding_unknown_to_the_broker(env: Env) -> None:
    _provision(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    result = env.run("import", BINDING, BID)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot import {BINDING}: the broker does not know binding {BID} of instance "
        f"{IID} (404)\n"
    )
    assert env.stored().addresses() == [INSTANCE]


def test_import_without_instances_retrievable_trusts_the_id_and_says_so(tmp_path: Path) -> None:
    catalog = default_catalog()
    catalog["services"][0]["instances_retrievable"] = False
    with ProgrammableBroker(catalog=catalog) as broker:
        env = Env(tmp_path, broker)
        _provision(broker)
        result = env.run("import", INSTANCE, IID)
        assert result.exit_code == 0, result.stderr
        assert result.stderr == (
            f"Note: {INSTANCE}: the broker cannot return instances (instances_retrievable is "
            f"false), so catalogctl could not check that instance {IID} exists or uses plan "
            "'sync'.\n"
        )
        assert [r.path for r in broker.requests if r.method == "GET"] == ["/v2/catalog"]
        res = env.stored().resources[INSTANCE]
        assert res.attributes["instances_retrievable"] is False
        assert res.dashboard_url is None


def test_import_refuses_an_id_already_tracked_under_another_address(env: Env) -> None:
    _provision(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    env.desired.write_text(
        env.desired.read_text()
        + "---\n"
        + _desired(env.broker.url).split("---\n")[1].replace("name: db\n", "name: db-copy\n", 1)
    )
    before = (env.state / STATE_FILE).read_bytes()
    result = env.run("import", "ServiceInstance/default/db-copy", IID)
    assert result.exit_code == 1
    assert result.stderr == f"Error: instance id {IID} is already tracked as {INSTANCE}\n"
    assert (env.state / STATE_FILE).read_bytes() == before


def test_import_keeps_parameters_from_secrets_out_of_state(env: Env) -> None:
    secret_params = env.root / "secrets" / "default" / "db-params"
    secret_params.mkdir(parents=True)
    (secret_params / "params").write_text('{"password": "hunter2-9d8c7b"}')
    env.desired.write_text(
        env.desired.read_text().replace(
            "  parameters:\n    size: small\n",
            "  parameters:\n    size: small\n"
            "  parametersFrom:\n    - secretKeyRef:\n"
            "        name: db-params\n        key: params\n",
        )
    )
    _osb(
        env.broker,
        "PUT",
        f"/v2/service_instances/{IID}",
        {
            "service_id": SERVICE_ID,
            "plan_id": SYNC_PLAN_ID,
            "organization_guid": "org",
            "space_guid": "space",
            "parameters": {"size": "small", "password": "hunter2-9d8c7b"},
        },
    )
    result = env.run("import", INSTANCE, IID)
    assert result.exit_code == 0, result.stderr
    res = env.stored().resources[INSTANCE]
    assert res.parameters == {"size": "small"}
    assert res.sensitive_parameter_keys == ("password",)
    assert res.parameters_checksum == checksum({"size": "small", "password": "hunter2-9d8c7b"})
    shown = run_cli("state", "show", INSTANCE, "--state", str(env.state))
    assert "        password = (sensitive value)" in shown.stdout.splitlines()
    everything = (env.state / STATE_FILE).read_text() + result.stdout + result.stderr + shown.stdout
    assert "hunter2" not in everything
    assert _instance_change(env)["change"]["actions"] == ["no-op"]


def test_destroy_after_import_deletes_the_adopted_resources_at_the_broker(env: Env) -> None:
    """The recorded layout is what apply needs: the adopted binding and instance can be deleted."""
    _provision(env.broker)
    _bind(env.broker)
    assert env.run("import", INSTANCE, IID).exit_code == 0
    assert env.run("import", BINDING, BID).exit_code == 0
    result = env.run("destroy", "--auto-approve")
    assert result.exit_code == 0, result.stderr
    assert env.broker.instances == {} and env.broker.bindings == {}
    deletes = [r.path for r in env.broker.requests if r.method == "DELETE"]
    assert deletes == [
        f"/v2/service_instances/{IID}/service_bindings/{BID}",
        f"/v2/service_instances/{IID}",
    ]
    assert env.stored().resources == {}
