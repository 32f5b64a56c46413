"""The quickstart demo broker (examples/demo_broker), over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalogctl.providers.osb.catalog import PlanReference, parse_catalog, resolve_plan
from catalogctl.providers.osb.params import validate_for_plan
from examples.demo_broker import broker as demo
from examples.demo_broker.broker import DemoBrokerServer

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"X-Broker-API-Version": "2.17"}
IDS = {"service_id": demo.SERVICE_ID, "plan_id": demo.STANDARD_PLAN_ID}


def _start(provision_seconds: float) -> DemoBrokerServer:
    return DemoBrokerServer(port=0, username="demo", password="pw-for-tests",
                            provision_seconds=provision_seconds).start()


@pytest.fixture
def fast() -> Iterator[DemoBrokerServer]:
    server = _start(0.2)
    yield server
    server.stop()


@pytest.fixture
def slow() -> Iterator[DemoBrokerServer]:
    """Operations that will not complete during a test, so in-progress answers are stable."""
    server = _start(600)
    yield server
    server.stop()


def _client(server: DemoBrokerServer) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(server.username, server.password),
                        headers=HEADERS, timeout=10)


def _provision(client: httpx.Client, iid: str, **params: Any) -> httpx.Response:
    return client.put(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                      json={**IDS, "organization_guid": "o", "space_guid": "s",
                            "parameters": params})


def _wait(client: httpx.Client, iid: str, operation: str) -> httpx.Response:
    end = time.monotonic() + 20
    while True:
        response = client.get(f"/v2/service_instances/{iid}/last_operation",
                              params={**IDS, "operation": operation})
        if response.status_code != 200 or response.json()["state"] != "in progress":
            return response
        assert time.monotonic() < end, "operation did not finish"
        time.sleep(0.05)


def test_catalog_fits_the_quickstart(fast: DemoBrokerServer) -> None:
    with _client(fast) as client:
        response = client.get("/v2/catalog")
    assert response.status_code == 200
    catalog = parse_catalog(response.json(), broker="cloud-broker")
    assert catalog.warnings == ()
    plan = resolve_plan(PlanReference(cluster_service_class_external_name="cloud-queue",
                                      cluster_service_plan_external_name="standard"), [catalog])
    assert plan.plan_updateable and plan.bindable and plan.bindings_retrievable
    assert plan.instances_retrievable
    assert [p.name for p in plan.offering.plans] == ["standard", "premium"]
    # The parameters examples/quickstart/queue.yaml uses are valid; a bad topic is not.
    assert validate_for_plan(plan, "instance_create", {"topic": "orders",
                                                       "retentionHours": 24}) == []
    problems = validate_for_plan(plan, "instance_create", {"topic": "Orders!",
                                                           "retentionHours": "1"})
    assert [p.path for p in problems] == ["parameters.retentionHours", "parameters.topic"]
    assert validate_for_plan(plan, "instance_update", {"topic": "other"})[0].path == "parameters"


def test_auth_and_version_checks(fast: DemoBrokerServer) -> None:
    anonymous = httpx.get(f"{fast.url}/v2/catalog", headers=HEADERS)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    auth = (fast.username, fast.password)
    assert httpx.get(f"{fast.url}/v2/catalog", auth=auth).status_code == 400
    old = httpx.get(f"{fast.url}/v2/catalog", auth=auth, headers={"X-Broker-API-Version": "2.1"})
    assert old.status_code == 412
    assert httpx.get(f"{fast.url}/v2/nothing", auth=auth, headers=HEADERS).status_code == 404


def test_rejected_request_with_body_keeps_connection_usable(fast: DemoBrokerServer) -> None:
    with httpx.Client(base_url=fast.url, headers=HEADERS, timeout=10) as client:
        denied = client.put("/v2/service_instances/x", json={"big": "x" * 5000})
        assert denied.status_code == 401
        ok = client.get("/v2/catalog", auth=(fast.username, fast.password))
        assert ok.status_code == 200


def test_full_lifecycle(fast: DemoBrokerServer) -> None:
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    with _client(fast) as client:
        sync = client.put(f"/v2/service_instances/{iid}", json={**IDS, "parameters": {}})
        assert sync.status_code == 422 and sync.json()["error"] == "AsyncRequired"
        invalid = _provision(client, iid, topic="Bad Topic")
        assert invalid.status_code == 400 and "topic" in invalid.json()["description"]

        first = _provision(client, iid, topic="orders", retentionHours=24)
        assert first.status_code == 202
        assert first.json()["dashboard_url"].endswith(iid)
        operation = first.json()["operation"]
        assert _wait(client, iid, operation).json()["state"] == "succeeded"
        assert _provision(client, iid, topic="orders", retentionHours=24).status_code == 200
        assert _provision(client, iid, topic="other").status_code == 409
        fetched = client.get(f"/v2/service_instances/{iid}").json()
        assert fetched["parameters"] == {"topic": "orders", "retentionHours": 24}

        bound = client.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                           json={**IDS, "parameters": {"role": "subscriber"}})
        assert bound.status_code == 201
        creds = bound.json()["credentials"]
        assert creds["topic"] == "orders" and creds["role"] == "subscriber"
        assert creds["endpoint"].startswith("https://") and creds["endpoint"].endswith("/orders")
        key = json.loads(creds["key.json"])
        assert key["type"] == "service_account"
        assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
        again = client.get(f"/v2/service_instances/{iid}/service_bindings/{bid}")
        assert again.json() == {"credentials": creds, "parameters": {"role": "subscriber"}}
        same = client.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                          json={**IDS, "parameters": {"role": "subscriber"}})
        assert same.status_code == 200 and same.json()["credentials"] == creds

        def patch(body: dict[str, Any]) -> httpx.Response:
            return client.patch(f"/v2/service_instances/{iid}",
                                params={"accepts_incomplete": "true"},
                                json={"service_id": demo.SERVICE_ID, **body})

        assert patch({"parameters": {"retentionHours": 48}}).status_code == 200
        assert patch({"parameters": {"topic": "renamed"}}).status_code == 400
        assert patch({"parameters": {"retentionHours": 200}}).status_code == 400  # standard max
        assert patch({"plan_id": demo.PREMIUM_PLAN_ID,
                      "parameters": {"retentionHours": 200}}).status_code == 200
        assert patch({"plan_id": demo.STANDARD_PLAN_ID}).status_code == 422  # 200h > 72h
        assert patch({"parameters": {"retentionHours": None}}).status_code == 200
        assert client.get(f"/v2/service_instances/{iid}").json()["parameters"] == {
            "topic": "orders"}

        delete_params = {**IDS, "accepts_incomplete": "true"}
        assert client.delete(f"/v2/service_instances/{iid}",
                             params=delete_params).status_code == 400  # binding still there
        unbind = f"/v2/service_instances/{iid}/service_bindings/{bid}"
        assert client.delete(unbind, params=IDS).status_code == 200
        assert client.delete(unbind, params=IDS).status_code == 410
        assert client.get(unbind).status_code == 404

        gone = client.delete(f"/v2/service_instances/{iid}", params=delete_params)
        assert gone.status_code == 202
        assert _wait(client, iid, gone.json()["operation"]).status_code == 410
        assert client.get(f"/v2/service_instances/{iid}").status_code == 404
        assert client.delete(f"/v2/service_instances/{iid}",
                             params=delete_params).status_code == 410


def test_in_progress_answers(slow: DemoBrokerServer) -> None:
    iid = str(uuid.uuid4())
    with _client(slow) as client:
        first = _provision(client, iid, topic="orders")
        second = _provision(client, iid, topic="orders")
        assert (first.status_code, second.status_code) == (202, 202)
        assert first.json()["operation"] == second.json()["operation"]
        polled = client.get(f"/v2/service_instances/{iid}/last_operation",
                            params={**IDS, "operation": first.json()["operation"]})
        assert polled.json()["state"] == "in progress"
        assert 1 <= int(polled.headers["Retry-After"]) <= 600
        assert client.get(f"/v2/service_instances/{iid}").status_code == 404
        bind = client.put(f"/v2/service_instances/{iid}/service_bindings/b", json=IDS)
        assert bind.status_code == 422 and bind.json()["error"] == "ConcurrencyError"
        delete = client.delete(f"/v2/service_instances/{iid}",
                               params={**IDS, "accepts_incomplete": "true"})
        assert delete.status_code == 422


def test_demo_does_not_need_dev_extras() -> None:
    code = ("import sys, examples.demo_broker; "
            "assert not {'openbrokerapi', 'flask', 'werkzeug'} & set(sys.modules), sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


@pytest.mark.parametrize(
    "command",
    [["-m", "examples.demo_broker"], ["examples/demo_broker/broker.py"]],
    ids=["module", "script"],
)
def test_standalone_ready_line_logging_and_sigterm(command: list[str]) -> None:
    password = "sup3r-s3cret-demo-pw"
    env = {**os.environ, "DEMO_BROKER_USERNAME": "alice", "DEMO_BROKER_PASSWORD": password}
    proc = subprocess.Popen([sys.executable, *command, "--port", "0", "--provision-seconds",
                             "0.1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        ok = httpx.get(f"{url}/v2/catalog", auth=("alice", password),
                       headers={**HEADERS, "X-Broker-API-Request-Identity": "req-42"})
        assert ok.status_code == 200
        assert httpx.get(f"{url}/v2/catalog", auth=("alice", "wrong"),
                         headers=HEADERS).status_code == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "GET /v2/catalog -> 200 (request req-42)" in stderr
    assert "GET /v2/catalog -> 401" in stderr
    assert password not in stderr and "Authorization" not in stderr
    assert "Basic " not in stderr
