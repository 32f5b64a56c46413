"""The openbrokerapi test broker, exercised over real HTTP."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.brokers import obapi
from tests.brokers.obapi import ObapiBroker

HEADERS = {"X-Broker-API-Version": "2.17"}
ROOT = Path(__file__).resolve().parents[2]


def _client(broker: ObapiBroker) -> httpx.Client:
    return httpx.Client(base_url=broker.url, auth=(broker.username, broker.password),
                        headers=HEADERS, timeout=10)


def _provision_body(service_id: str, plan_id: str, **params: Any) -> dict[str, Any]:
    return {"service_id": service_id, "plan_id": plan_id, "organization_guid": "org",
            "space_guid": "space", "parameters": params,
            "context": {"platform": "kubernetes", "namespace": "ns", "clusterid": "c",
                        "instance_name": "i"}}


def _poll(client: httpx.Client, path: str, params: dict[str, str],
          deadline: float = 20.0) -> httpx.Response:
    """Poll last_operation until it is no longer in progress (or 410)."""
    end = time.monotonic() + deadline
    while True:
        response = client.get(path, params=params)
        if response.status_code == 410 or response.json().get("state") != "in progress":
            return response
        assert time.monotonic() < end, f"operation still in progress after {deadline}s"
        time.sleep(0.05)


@pytest.fixture
def slow_broker() -> Iterator[ObapiBroker]:
    """Async operations that will not finish during the test: in-progress states are stable."""
    with obapi.start_obapi_broker(async_delay=600) as broker:
        yield broker


def test_catalog_and_basic_auth(obapi_broker: ObapiBroker) -> None:
    with _client(obapi_broker) as client:
        response = client.get("/v2/catalog")
    assert response.status_code == 200
    services = {s["name"]: s for s in response.json()["services"]}
    assert set(services) == {"obapi-db", "obapi-queue"}
    db_plans = {p["name"]: p for p in services["obapi-db"]["plans"]}
    assert db_plans["large"]["maintenance_info"] == {"version": "2.1.0",
                                                    "description": "PostgreSQL 16.2"}
    assert services["obapi-db"]["plan_updateable"] is True
    assert services["obapi-queue"]["plan_updateable"] is False
    assert services["obapi-db"]["instances_retrievable"] is True
    assert services["obapi-queue"]["bindings_retrievable"] is True
    assert "free" not in {p["name"]: p for p in services["obapi-queue"]["plans"]}["nobind"]
    assert response.json() == obapi_broker.catalog_json()

    wrong = httpx.get(f"{obapi_broker.url}/v2/catalog", auth=(obapi_broker.username, "nope"),
                      headers=HEADERS)
    anonymous = httpx.get(f"{obapi_broker.url}/v2/catalog", headers=HEADERS)
    assert (wrong.status_code, anonymous.status_code) == (401, 401)


def test_sync_instance_and_binding_lifecycle(obapi_broker: ObapiBroker) -> None:
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    body = _provision_body(obapi.DB_SERVICE_ID, obapi.DB_SMALL_PLAN_ID, size="m", replicas=2)
    with _client(obapi_broker) as client:
        created = client.put(f"/v2/service_instances/{iid}", json=body,
                             params={"accepts_incomplete": "true"})
        assert created.status_code == 201
        assert created.json()["dashboard_url"].endswith(iid)
        assert client.put(f"/v2/service_instances/{iid}", json=body).status_code == 200
        conflict = _provision_body(obapi.DB_SERVICE_ID, obapi.DB_SMALL_PLAN_ID, size="l")
        assert client.put(f"/v2/service_instances/{iid}", json=conflict).status_code == 409
        assert obapi_broker.instances[iid].parameters == {"size": "m", "replicas": 2}

        fetched = client.get(f"/v2/service_instances/{iid}")
        assert fetched.status_code == 200
        assert fetched.json()["parameters"] == {"size": "m", "replicas": 2}

        patch = {"service_id": obapi.DB_SERVICE_ID, "parameters": {"replicas": None}}
        assert client.patch(f"/v2/service_instances/{iid}", json=patch).status_code == 200
        assert obapi_broker.instances[iid].parameters == {"size": "m"}
        bad_patch = {"service_id": obapi.DB_SERVICE_ID, "parameters": {"size": "s"}}
        assert client.patch(f"/v2/service_instances/{iid}", json=bad_patch).status_code == 400
        move = {"service_id": obapi.DB_SERVICE_ID, "plan_id": obapi.DB_LARGE_PLAN_ID}
        assert client.patch(f"/v2/service_instances/{iid}", json=move).status_code == 200
        assert obapi_broker.instances[iid].plan_id == obapi.DB_LARGE_PLAN_ID

        bind_body = {"service_id": obapi.DB_SERVICE_ID, "plan_id": obapi.DB_LARGE_PLAN_ID}
        bound = client.put(f"/v2/service_instances/{iid}/service_bindings/{bid}", json=bind_body,
                           params={"accepts_incomplete": "true"})
        assert bound.status_code == 201
        creds = bound.json()["credentials"]
        assert isinstance(creds["password"], str) and creds["port"] == 5432
        assert creds["tls"] is True
        assert creds["limits"] == {"connections": 20, "ratio": 0.75, "burst": False}
        got = client.get(f"/v2/service_instances/{iid}/service_bindings/{bid}")
        assert got.status_code == 200 and got.json()["credentials"] == creds
        assert set(obapi_broker.bindings) == {(iid, bid)}

        ids = {"service_id": obapi.DB_SERVICE_ID, "plan_id": obapi.DB_LARGE_PLAN_ID}
        blocked = client.delete(f"/v2/service_instances/{iid}", params=ids)
        assert blocked.status_code == 400  # bindings must go first
        unbound = client.delete(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                                params=ids)
        assert unbound.status_code == 200 and obapi_broker.bindings == {}
        assert client.delete(f"/v2/service_instances/{iid}", params=ids).status_code == 200
        assert client.delete(f"/v2/service_instances/{iid}", params=ids).status_code == 410
        assert client.get(f"/v2/service_instances/{iid}").status_code == 404
    assert obapi_broker.instances == {}


def test_schema_violations_are_rejected_and_nothing_is_stored(obapi_broker: ObapiBroker) -> None:
    iid = str(uuid.uuid4())
    with _client(obapi_broker) as client:
        response = client.put(f"/v2/service_instances/{iid}",
                              json=_provision_body(obapi.DB_SERVICE_ID, obapi.DB_SMALL_PLAN_ID,
                                                   size="xl"))
    assert response.status_code == 400
    assert "size" in response.json()["description"]
    assert obapi_broker.instances == {}


def test_async_lifecycle(obapi_broker: ObapiBroker) -> None:
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    ids = {"service_id": obapi.QUEUE_SERVICE_ID, "plan_id": obapi.QUEUE_STANDARD_PLAN_ID}
    body = _provision_body(obapi.QUEUE_SERVICE_ID, obapi.QUEUE_STANDARD_PLAN_ID, topic="orders")
    with _client(obapi_broker) as client:
        sync_only = client.put(f"/v2/service_instances/{iid}", json=body)
        assert sync_only.status_code == 422 and sync_only.json()["error"] == "AsyncRequired"
        accepted = client.put(f"/v2/service_instances/{iid}", json=body,
                              params={"accepts_incomplete": "true"})
        assert accepted.status_code == 202
        op = accepted.json()["operation"]
        done = _poll(client, f"/v2/service_instances/{iid}/last_operation",
                     {**ids, "operation": op})
        assert done.status_code == 200 and done.json()["state"] == "succeeded"
        assert obapi_broker.instances[iid].state == "ready"

        bind = client.put(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                          json={**ids, "parameters": {"role": "producer"}},
                          params={"accepts_incomplete": "true"})
        assert bind.status_code == 202 and "credentials" not in bind.json()
        done = _poll(client, f"/v2/service_instances/{iid}/service_bindings/{bid}/last_operation",
                     {**ids, "operation": bind.json()["operation"]})
        assert done.json()["state"] == "succeeded"
        creds = client.get(f"/v2/service_instances/{iid}/service_bindings/{bid}").json()
        assert creds["credentials"]["hosts"] == ["primary.obapi.invalid",
                                                 "replica.obapi.invalid"]
        assert creds["parameters"] == {"role": "producer"}

        unbind = client.delete(f"/v2/service_instances/{iid}/service_bindings/{bid}",
                               params={**ids, "accepts_incomplete": "true"})
        assert unbind.status_code == 202
        _poll(client, f"/v2/service_instances/{iid}/service_bindings/{bid}/last_operation",
              {**ids, "operation": unbind.json()["operation"]})
        assert obapi_broker.bindings == {}

        gone = client.delete(f"/v2/service_instances/{iid}",
                             params={**ids, "accepts_incomplete": "true"})
        assert gone.status_code == 202
        final = _poll(client, f"/v2/service_instances/{iid}/last_operation",
                      {**ids, "operation": gone.json()["operation"]})
        assert final.status_code == 410  # deprovisioned: the platform forgets it
    assert obapi_broker.instances == {}


def test_in_progress_states(slow_broker: ObapiBroker) -> None:
    iid, bid = str(uuid.uuid4()), str(uuid.uuid4())
    ids = {"service_id": obapi.QUEUE_SERVICE_ID, "plan_id": obapi.QUEUE_STANDARD_PLAN_ID}
    body = _provision_body(obapi.QUEUE_SERVICE_ID, obapi.QUEUE_STANDARD_PLAN_ID, topic="orders")
    with _client(slow_broker) as client:
        first = client.put(f"/v2/service_instances/{iid}", json=body,
                           params={"accepts_incomplete": "true"})
        again = client.put(f"/v2/service_instances/{iid}", json=body,
                           params={"accepts_incomplete": "true"})
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json()["operation"] == again.json()["operation"]
        state = client.get(f"/v2/service_instances/{iid}/last_operation",
                           params={**ids, "operation": first.json()["operation"]})
        assert state.json()["state"] == "in progress"
        assert slow_broker.instances[iid].state == "provisioning"
        bind = client.put(f"/v2/service_instances/{iid}/service_bindings/{bid}", json=ids,
                          params={"accepts_incomplete": "true"})
        assert bind.status_code == 400  # instance not ready yet


def test_plan_updateable_override(obapi_broker: ObapiBroker) -> None:
    iid = str(uuid.uuid4())
    with _client(obapi_broker) as client:
        client.put(f"/v2/service_instances/{iid}", params={"accepts_incomplete": "true"},
                   json=_provision_body(obapi.QUEUE_SERVICE_ID, obapi.QUEUE_STANDARD_PLAN_ID,
                                        topic="orders"))
        _poll(client, f"/v2/service_instances/{iid}/last_operation", {})
        to_nobind = {"service_id": obapi.QUEUE_SERVICE_ID, "plan_id": obapi.QUEUE_NOBIND_PLAN_ID}
        refused = client.patch(f"/v2/service_instances/{iid}", json=to_nobind)
        assert refused.status_code == 400
        to_premium = {"service_id": obapi.QUEUE_SERVICE_ID,
                      "plan_id": obapi.QUEUE_PREMIUM_PLAN_ID}
        assert client.patch(f"/v2/service_instances/{iid}", json=to_premium).status_code == 200
    assert obapi_broker.instances[iid].plan_id == obapi.QUEUE_PREMIUM_PLAN_ID


def test_standalone_process_prints_ready_and_serves() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.brokers.obapi", "--port", "0", "--password", "pw2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split(" ", 1)[1]
        response = httpx.get(f"{url}/v2/catalog", auth=("obapi-user", "pw2"), headers=HEADERS)
        assert response.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
