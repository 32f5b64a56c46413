"""Shared helpers for the OSB client tests: a connection, client and fast scheduler.

Every test talks real HTTP to the programmable broker on 127.0.0.1 unless it
says otherwise; intervals are shrunk so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BrokerConnection, OriginatingIdentity
from catalogctl.providers.osb.identity import instance_context, platform_guids
from catalogctl.providers.osb.poller import PollScheduler
from tests.brokers.programmable import ProgrammableBroker

CLUSTER_ID = "8263feba-9b2a-4ef5-b2a0-9a6f3f0f2b1c"
IDENTITY = OriginatingIdentity(
    username="duke", uid="c2dde242-5ce4", groups=("admin", "dev"), extra=(("mydata", ("d1",)),)
)


def make_conn(broker: ProgrammableBroker, **kw: Any) -> BrokerConnection:
    defaults: dict[str, Any] = {
        "name": "ClusterServiceBroker/prog",
        "url": broker.url,
        "cluster_id": CLUSTER_ID,
        "originating_identity": IDENTITY,
        "timeout": 2.0,
    }
    defaults.update(kw)
    return BrokerConnection(**defaults)


def fast_scheduler(**kw: Any) -> PollScheduler:
    defaults: dict[str, Any] = {
        "initial_interval": 0.01,
        "max_interval": 0.05,
        "min_interval": 0.01,
        "retry_after_cap": 0.2,
        "global_timeout": 10.0,
        "jitter": 0.0,
    }
    defaults.update(kw)
    return PollScheduler(**defaults)


def provision_kwargs(conn: BrokerConnection, *, name: str = "my-db") -> dict[str, Any]:
    guids = platform_guids(conn, namespace="dev", namespace_uid="ns-uid-1")
    return {
        "context": instance_context(conn, namespace="dev", instance_name=name),
        "organization_guid": guids.organization_guid,
        "space_guid": guids.space_guid,
    }


@pytest_asyncio.fixture
async def client(programmable_broker: ProgrammableBroker) -> AsyncIterator[OSBClient]:
    c = OSBClient(make_conn(programmable_broker))
    try:
        yield c
    finally:
        await c.aclose()


@pytest_asyncio.fixture
async def scheduler() -> AsyncIterator[PollScheduler]:
    s = fast_scheduler()
    try:
        yield s
    finally:
        await s.aclose()


@pytest.fixture
def broker(programmable_broker: ProgrammableBroker) -> ProgrammableBroker:
    return programmable_broker
