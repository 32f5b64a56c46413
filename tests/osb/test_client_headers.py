"""Rules for every call: headers, authentication, secrets (osb-platform-rules §0, §2, §7)."""

from __future__ import annotations

import base64
import json
import logging
import uuid

import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import (
    BasicAuth,
    BearerAuth,
    OriginatingIdentity,
    Secret,
)
from catalogctl.providers.osb.outcomes import Done, Failed, describe
from tests.brokers.programmable import SERVICE_ID, SYNC_PLAN_ID, ProgrammableBroker
from tests.osb.conftest import CLUSTER_ID, make_conn, provision_kwargs

PASSWORD = "hunter2-very-secret"
TOKEN = "tok-abcdef-very-secret"

pytestmark = pytest.mark.asyncio


async def _exercise_all_endpoints(client: OSBClient) -> None:
    kw = provision_kwargs(client.conn)
    await client.get_catalog()
    await client.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **kw)
    await client.get("i1", SERVICE_ID, SYNC_PLAN_ID)
    await client.update(
        "i1",
        SERVICE_ID,
        parameters={"a": 1},
        previous_values={"plan_id": SYNC_PLAN_ID},
        context=kw["context"],
    )
    await client.last_operation("i1", SERVICE_ID, SYNC_PLAN_ID, None)
    ctx = {"platform": "kubernetes", "namespace": "dev", "clusterid": CLUSTER_ID}
    await client.bind("i1", "b1", SERVICE_ID, SYNC_PLAN_ID, context=ctx)
    await client.get_binding("i1", "b1", SERVICE_ID, SYNC_PLAN_ID)
    await client.last_operation("i1", SERVICE_ID, SYNC_PLAN_ID, None, binding_id="b1")
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID, binding_id="b1")
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID)


async def test_every_request_sends_api_version_content_type_and_request_identity(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await _exercise_all_endpoints(client)
    reqs = broker.requests
    assert len(reqs) == 10
    ids = set()
    for r in reqs:
        assert r.headers["x-broker-api-version"] == "2.17"
        assert r.headers["content-type"] == "application/json"
        rid = r.headers["x-broker-api-request-identity"]
        assert uuid.UUID(rid).version == 4
        ids.add(rid)
    assert len(ids) == len(reqs), "a fresh request identity per HTTP request"


async def test_api_version_is_configurable_per_broker(broker: ProgrammableBroker) -> None:
    broker.accepted_versions = ("2.14",)
    async with OSBClient(make_conn(broker, api_version="2.14")) as old:
        assert isinstance(await old.get_catalog(), Done)
    async with OSBClient(make_conn(broker)) as new:
        outcome = await new.get_catalog()
    assert isinstance(outcome, Failed) and outcome.status == 412
    assert [r.headers["x-broker-api-version"] for r in broker.requests] == ["2.14", "2.17"]


async def test_412_version_rejected_is_surfaced_with_description(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script("GET", "/v2/catalog", status=412, body={"description": "need 2.13"})
    outcome = await client.get_catalog()
    assert isinstance(outcome, Failed) and outcome.status == 412 and outcome.is_broker_level
    assert "need 2.13" in describe(outcome) and "X-Broker-API-Version" in describe(outcome)


async def test_401_authentication_failed_is_surfaced_with_description(
    broker: ProgrammableBroker,
) -> None:
    broker.basic_auth = ("admin", PASSWORD)
    conn = make_conn(broker, auth=BasicAuth("admin", Secret("wrong")))
    async with OSBClient(conn) as c:
        outcome = await c.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(conn))
    assert isinstance(outcome, Failed) and outcome.status == 401 and outcome.is_broker_level
    assert "bad credentials" in describe(outcome)
    assert "authentication failed" in describe(outcome)


async def test_basic_auth_is_sent_on_every_request(broker: ProgrammableBroker) -> None:
    broker.basic_auth = ("admin", PASSWORD)
    async with OSBClient(make_conn(broker, auth=BasicAuth("admin", Secret(PASSWORD)))) as c:
        await _exercise_all_endpoints(c)
    expected = "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    assert all(r.headers.get("authorization") == expected for r in broker.requests)
    assert not any(r.headers.get("x-broker-api-version") is None for r in broker.requests)


async def test_bearer_token_is_opt_in_per_broker(broker: ProgrammableBroker) -> None:
    broker.bearer_token = TOKEN
    async with OSBClient(make_conn(broker, auth=BearerAuth(Secret(TOKEN)))) as c:
        assert isinstance(await c.get_catalog(), Done)
    async with OSBClient(make_conn(broker)) as c:  # default: no auth header at all
        assert isinstance(await c.get_catalog(), Failed)
    assert broker.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert "authorization" not in broker.requests[1].headers


async def test_secrets_and_bodies_never_appear_in_logs(
    broker: ProgrammableBroker, caplog: pytest.LogCaptureFixture
) -> None:
    broker.basic_auth = ("admin", PASSWORD)
    conn = make_conn(broker, auth=BasicAuth("admin", Secret(PASSWORD)))
    with caplog.at_level(logging.DEBUG):
        async with OSBClient(conn) as c:
            await _exercise_all_endpoints(c)
            broker.script(
                "PUT", "/v2/service_instances/boom", status=500, body={"description": "x"}
            )
            outcome = await c.provision(
                "boom",
                SERVICE_ID,
                SYNC_PLAN_ID,
                parameters={"pw": "param-secret"},
                **provision_kwargs(conn),
            )
    text = "\n".join(r.getMessage() for r in caplog.records) + describe(outcome) + repr(outcome)
    assert PASSWORD not in text
    assert base64.b64encode(f"admin:{PASSWORD}".encode()).decode() not in text
    assert "param-secret" not in text, "request bodies are never logged"
    assert "pw-b1" not in text, "binding credentials (response bodies) are never logged"


async def test_request_identity_is_logged_at_debug_with_method_and_path(
    client: OSBClient, broker: ProgrammableBroker, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="catalogctl.providers.osb.client"):
        await client.get_catalog()
    rid = broker.requests[0].headers["x-broker-api-request-identity"]
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any(rid in m and "GET /v2/catalog" in m for m in msgs)


async def test_originating_identity_is_sent_on_user_initiated_calls(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await _exercise_all_endpoints(client)
    user_calls = [r for r in broker.requests if r.path != "/v2/catalog"]
    assert len(user_calls) == 9
    for r in user_calls:
        platform, _, value = r.headers["x-broker-api-originating-identity"].partition(" ")
        assert platform == "kubernetes"
        decoded = json.loads(base64.b64decode(value))
        assert decoded == {
            "username": "duke",
            "uid": "c2dde242-5ce4",
            "groups": ["admin", "dev"],
            "extra": {"mydata": ["d1"]},
        }


async def test_originating_identity_platform_matches_context_platform(
    broker: ProgrammableBroker,
) -> None:
    conn = make_conn(broker, platform="my-platform")
    async with OSBClient(conn) as c:
        await c.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(conn))
    r = broker.requests[0]
    assert r.body["context"]["platform"] == "my-platform"
    assert r.headers["x-broker-api-originating-identity"].startswith("my-platform ")


async def test_originating_identity_is_omitted_on_catalog_fetch(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    await client.get_catalog()
    assert "x-broker-api-originating-identity" not in broker.requests[0].headers


async def test_originating_identity_can_be_overridden_per_call(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    other = OriginatingIdentity(username="ci-bot", uid="u2", groups=("ci",))
    await client.provision(
        "i1", SERVICE_ID, SYNC_PLAN_ID, identity=other, **provision_kwargs(client.conn)
    )
    await client.delete("i1", SERVICE_ID, SYNC_PLAN_ID, identity=None)
    value = broker.requests[0].headers["x-broker-api-originating-identity"].split(" ")[1]
    assert json.loads(base64.b64decode(value))["username"] == "ci-bot"
    assert "x-broker-api-originating-identity" not in broker.requests[1].headers


async def test_connections_are_pooled_across_requests(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    for _ in range(5):
        await client.get_catalog()
    # The broker speaks HTTP/1.1 keep-alive; one pooled connection serves all.
    assert len({r.peer for r in broker.requests}) == 1
