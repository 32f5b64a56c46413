"""Response-code tables per endpoint, error bodies and transport failures (rules §1, §6).

Every case sends a real request to the programmable broker, which answers with
the scripted status and body; the test checks the outcome value.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from catalogctl.errors import BrokerError
from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BrokerConnection
from catalogctl.providers.osb.identity import binding_context
from catalogctl.providers.osb.outcomes import (
    Accepted,
    AsyncRequired,
    BadRequest,
    ConcurrencyError,
    Conflict,
    Done,
    Failed,
    Gone,
    MaintenanceInfoConflict,
    Malformed,
    NotFound,
    Outcome,
    RequiresApp,
    TimedOut,
    Unreachable,
    describe,
)
from tests.brokers.programmable import SERVICE_ID, SYNC_PLAN_ID, ProgrammableBroker
from tests.osb.conftest import make_conn, provision_kwargs

pytestmark = pytest.mark.asyncio

Call = Callable[[OSBClient], Awaitable[Outcome]]

INSTANCE = r"^/v2/service_instances/i1$"
BINDING = r"^/v2/service_instances/i1/service_bindings/b1$"


def _provision(c: OSBClient) -> Awaitable[Outcome]:
    return c.provision("i1", SERVICE_ID, SYNC_PLAN_ID, **provision_kwargs(c.conn))


def _update(c: OSBClient) -> Awaitable[Outcome]:
    ctx = provision_kwargs(c.conn)["context"]
    return c.update("i1", SERVICE_ID, previous_values={"plan_id": SYNC_PLAN_ID}, context=ctx)


def _deprovision(c: OSBClient) -> Awaitable[Outcome]:
    return c.delete("i1", SERVICE_ID, SYNC_PLAN_ID)


def _get_instance(c: OSBClient) -> Awaitable[Outcome]:
    return c.get("i1", SERVICE_ID, SYNC_PLAN_ID)


def _bind(c: OSBClient) -> Awaitable[Outcome]:
    ctx = binding_context(c.conn, namespace="dev")
    return c.bind("i1", "b1", SERVICE_ID, SYNC_PLAN_ID, context=ctx)


def _unbind(c: OSBClient) -> Awaitable[Outcome]:
    return c.delete("i1", SERVICE_ID, SYNC_PLAN_ID, binding_id="b1")


def _get_binding(c: OSBClient) -> Awaitable[Outcome]:
    return c.get_binding("i1", "b1", SERVICE_ID, SYNC_PLAN_ID)


ENDPOINTS: dict[str, tuple[str, str, Call]] = {
    "provision": ("PUT", INSTANCE, _provision),
    "update": ("PATCH", INSTANCE, _update),
    "deprovision": ("DELETE", INSTANCE, _deprovision),
    "get_instance": ("GET", INSTANCE, _get_instance),
    "bind": ("PUT", BINDING, _bind),
    "unbind": ("DELETE", BINDING, _unbind),
    "get_binding": ("GET", BINDING, _get_binding),
}

# (endpoint, status, body, expected type, extra attribute checks)
TABLE: list[tuple[str, int, Any, type, dict[str, Any]]] = [
    # §1.2 provisioning
    ("provision", 201, {"dashboard_url": "http://d"}, Done, {"status": 201}),
    ("provision", 200, {}, Done, {"status": 200}),
    ("provision", 202, {"operation": "op-1", "dashboard_url": "http://d"}, Accepted,
     {"operation": "op-1", "dashboard_url": "http://d"}),
    ("provision", 202, {}, Accepted, {"operation": None}),
    ("provision", 400, {"description": "bad"}, BadRequest, {"description": "bad"}),
    ("provision", 409, {"description": "dup"}, Conflict, {"description": "dup"}),
    ("provision", 422, {"error": "AsyncRequired"}, AsyncRequired, {}),
    ("provision", 422, {"error": "MaintenanceInfoConflict", "description": "old"},
     MaintenanceInfoConflict, {"description": "old"}),
    ("provision", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("provision", 422, {"error": "Unprocessable Entity", "description": "quota"}, Failed,
     {"status": 422, "error": "Unprocessable Entity", "description": "quota"}),
    ("provision", 500, {"description": "db down"}, Failed, {"status": 500}),
    ("provision", 204, None, Failed, {"status": 204}),
    ("provision", 410, {}, Failed, {"status": 410}),
    ("provision", 201, "not json", Malformed, {"status": 201}),
    ("provision", 202, {"operation": 7}, Malformed, {"status": 202}),
    ("provision", 202, {"operation": "x" * 10_001}, Malformed, {"status": 202}),
    ("provision", 200, [], Malformed, {"status": 200}),
    # §1.4 update
    ("update", 200, {}, Done, {}),
    ("update", 202, {"operation": "u-1"}, Accepted, {"operation": "u-1"}),
    ("update", 400, {}, BadRequest, {}),
    ("update", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("update", 422, {"description": "plan change unsupported", "update_repeatable": False},
     Failed, {"status": 422, "update_repeatable": False}),
    ("update", 500, {"instance_usable": False}, Failed, {"status": 500, "instance_usable": False}),
    # §1.5 deprovisioning
    ("deprovision", 200, {}, Done, {}),
    ("deprovision", 200, None, Done, {}),
    ("deprovision", 202, {"operation": "d-1"}, Accepted, {"operation": "d-1"}),
    ("deprovision", 400, {}, BadRequest, {}),
    ("deprovision", 410, {}, Gone, {}),
    ("deprovision", 404, {}, Failed, {"status": 404}),
    ("deprovision", 422, {"error": "AsyncRequired"}, AsyncRequired, {}),
    ("deprovision", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("deprovision", 503, {}, Failed, {"status": 503}),
    # §1.3 fetching an instance
    ("get_instance", 200, {"plan_id": "p"}, Done, {}),
    ("get_instance", 404, {}, NotFound, {}),
    ("get_instance", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("get_instance", 500, {}, Failed, {"status": 500}),
    ("get_instance", 200, "<html>", Malformed, {}),
    # §1.7 binding
    ("bind", 201, {"credentials": {"u": "x"}}, Done, {"status": 201}),
    ("bind", 200, {"credentials": {"u": "x"}}, Done, {"status": 200}),
    ("bind", 202, {"operation": "b-1"}, Accepted, {"operation": "b-1"}),
    ("bind", 400, {}, BadRequest, {}),
    ("bind", 409, {}, Conflict, {}),
    ("bind", 422, {"error": "RequiresApp", "description": "app"}, RequiresApp, {}),
    ("bind", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("bind", 422, {"error": "AsyncRequired"}, AsyncRequired, {}),
    ("bind", 500, {}, Failed, {"status": 500}),
    ("bind", 201, {"credentials": "secret-string"}, Malformed, {"status": 201}),
    # §1.9 unbinding
    ("unbind", 200, {}, Done, {}),
    ("unbind", 202, {"operation": "ub-1"}, Accepted, {}),
    ("unbind", 410, {}, Gone, {}),
    ("unbind", 422, {"error": "ConcurrencyError"}, ConcurrencyError, {}),
    ("unbind", 500, {}, Failed, {"status": 500}),
    # §1.8 fetching a binding
    ("get_binding", 200, {"credentials": {"u": "x"}}, Done, {}),
    ("get_binding", 404, {}, NotFound, {}),
    ("get_binding", 500, {}, Failed, {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("endpoint", "status", "body", "expected", "attrs"),
    TABLE,
    ids=[f"{e}-{s}-{t.__name__}-{i}" for i, (e, s, _b, t, _a) in enumerate(TABLE)],
)
async def test_status_code_table_per_endpoint(
    client: OSBClient,
    broker: ProgrammableBroker,
    endpoint: str,
    status: int,
    body: Any,
    expected: type,
    attrs: dict[str, Any],
) -> None:
    method, path, call = ENDPOINTS[endpoint]
    broker.script(method, path, status=status, body=body)
    outcome = await call(client)
    assert isinstance(outcome, expected), outcome
    for name, value in attrs.items():
        assert getattr(outcome, name) == value, name
    assert outcome.request_id == broker.requests[-1].headers["x-broker-api-request-identity"]
    assert describe(outcome)


@pytest.mark.parametrize(
    ("body", "description", "error"),
    [
        ({"error": "Oops", "description": "standard"}, "standard", "Oops"),
        ({"Error": "capitalised field"}, "capitalised field", None),
        ({"message": "message field"}, "message field", None),
        ("plain text failure", "plain text failure", None),
        (None, "", None),
        (b"\x00\xffbinary\x07", "\ufffdbinary", None),
        ({"description": 42}, "", None),
    ],
)
async def test_non_standard_error_bodies_are_tolerated(
    client: OSBClient, broker: ProgrammableBroker, body: Any, description: str, error: str | None
) -> None:
    broker.script("PUT", INSTANCE, status=500, body=body)
    outcome = await _provision(client)
    assert isinstance(outcome, Failed)
    assert outcome.description == description and outcome.error == error
    assert outcome.instance_usable and outcome.update_repeatable, "spec defaults are true"


async def test_long_error_descriptions_are_truncated(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script("PUT", INSTANCE, status=500, body="<html>" + "x" * 10_000)
    outcome = await _provision(client)
    assert isinstance(outcome, Failed) and len(outcome.description) <= 512


async def test_classification_is_by_status_first_and_error_second(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    # An "error" that names a 422 code does not turn a 500 into a ConcurrencyError.
    broker.script("PUT", INSTANCE, status=500, body={"error": "ConcurrencyError"})
    outcome = await _provision(client)
    assert isinstance(outcome, Failed) and outcome.status == 500


async def test_request_timeout_gives_timed_out(broker: ProgrammableBroker) -> None:
    broker.script("PUT", INSTANCE, hang=True)
    async with OSBClient(make_conn(broker, timeout=0.3)) as c:
        outcome = await _provision(c)
    assert isinstance(outcome, TimedOut)


async def test_slow_answer_within_timeout_is_not_a_timeout(broker: ProgrammableBroker) -> None:
    broker.script("PUT", INSTANCE, status=201, body={}, delay=0.2)
    async with OSBClient(make_conn(broker, timeout=5)) as c:
        outcome = await _provision(c)
    assert isinstance(outcome, Done)


async def test_dropped_connection_gives_unreachable_with_request_sent(
    client: OSBClient, broker: ProgrammableBroker
) -> None:
    broker.script("PUT", INSTANCE, drop=True)
    outcome = await _provision(client)
    assert isinstance(outcome, Unreachable) and outcome.request_sent


async def test_refused_connection_gives_unreachable_without_request_sent() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = BrokerConnection("ClusterServiceBroker/gone", f"http://127.0.0.1:{port}", timeout=2)
    async with OSBClient(conn) as c:
        outcome = await _provision(c)
    assert isinstance(outcome, Unreachable) and not outcome.request_sent
    assert "cannot connect" in describe(outcome)


async def test_httpx_exceptions_never_leak_past_the_client() -> None:
    def explode(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("boom", request=request)

    conn = BrokerConnection("b", "http://127.0.0.1:9", timeout=1)
    async with OSBClient(conn, transport=httpx.MockTransport(explode)) as c:
        outcome = await _provision(c)
    assert isinstance(outcome, Unreachable)
    assert not issubclass(BrokerError, httpx.HTTPError)


async def test_concurrent_requests_are_bounded_by_max_in_flight(
    broker: ProgrammableBroker,
) -> None:
    broker.script("GET", "/v2/catalog", status=200, body={"services": []}, delay=0.05, times=None)
    async with OSBClient(make_conn(broker, max_in_flight=2)) as c:
        outcomes = await asyncio.gather(*(c.get_catalog() for _ in range(8)))
        assert c.limiter.peak_in_flight == 2
    assert all(isinstance(o, Done) for o in outcomes)
    assert broker.peak_in_flight <= 2


async def test_a_freed_slot_reuses_the_answered_connection(broker: ProgrammableBroker) -> None:
    # A freed slot wakes the next request only after the answer was read in full,
    # so that request finds the connection idle and does not open a new one.
    broker.script("GET", "/v2/catalog", status=200, body={"services": []}, delay=0.01, times=None)
    async with OSBClient(make_conn(broker, max_in_flight=2)) as c:
        outcomes = await asyncio.gather(*(c.get_catalog() for _ in range(20)))
        assert c.limiter.in_flight == 0 and c.limiter.peak_in_flight == 2
    assert all(isinstance(o, Done) for o in outcomes)
    assert len({r.peer for r in broker.requests}) == 2


async def test_requests_per_second_is_enforced_by_a_token_bucket(
    broker: ProgrammableBroker,
) -> None:
    async with OSBClient(make_conn(broker, requests_per_second=20)) as c:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await asyncio.gather(*(c.get_catalog() for _ in range(30)))
        elapsed = loop.time() - t0
    # 20 tokens of burst, then 10 more at 20/s: at least ~0.5 s; generous lower bound.
    assert elapsed >= 0.35


async def test_waiting_for_a_request_slot_does_not_count_against_the_timeout(
    broker: ProgrammableBroker,
) -> None:
    """A queued request was never sent; reporting it TimedOut would trigger a needless OM."""
    broker.script("PUT", r"^/v2/service_instances/q\d$", status=201, body={}, delay=0.2, times=3)
    conn = make_conn(broker, max_in_flight=1, timeout=0.35)
    async with OSBClient(conn) as c:
        kw = provision_kwargs(conn)
        outcomes = await asyncio.gather(
            *(c.provision(f"q{n}", SERVICE_ID, SYNC_PLAN_ID, **kw) for n in range(3))
        )
    assert all(isinstance(o, Done) for o in outcomes), outcomes
