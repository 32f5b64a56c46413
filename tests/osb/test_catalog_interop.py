"""catalogctl's own OSB client feeding the catalog cache, parser and resolver, over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from catalogctl.providers.osb.catalog import PlanReference, resolve_plan
from catalogctl.providers.osb.catalog_cache import BrokerCatalogSource, CatalogCache
from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BasicAuth, BrokerConnection, Secret
from catalogctl.providers.osb.outcomes import Done
from catalogctl.providers.osb.params import merge_parameters, validate_for_plan
from catalogctl.providers.osb.selectors import CatalogRestrictions, apply_restrictions
from tests.brokers.obapi import ObapiBroker


def test_client_cache_parser_and_resolver_together(obapi_broker: ObapiBroker,
                                                   tmp_path: Path) -> None:
    conn = BrokerConnection("ClusterServiceBroker/obapi", obapi_broker.url,
                            auth=BasicAuth(obapi_broker.username,
                                           Secret(obapi_broker.password)))
    fetched: list[str] = []

    async def fetch(source: BrokerCatalogSource) -> Mapping[str, Any]:
        fetched.append(source.name)
        async with OSBClient(conn) as client:
            outcome = await client.get_catalog()
        assert isinstance(outcome, Done), outcome
        return outcome.body

    source = BrokerCatalogSource(conn.name, conn.url, relist_behavior="Manual")

    async def run() -> None:
        cache = CatalogCache(fetch, tmp_path)
        first, second = await asyncio.gather(cache.get(source), cache.get(source))
        assert {first.origin, second.origin} == {"broker", "memory"}

    asyncio.run(run())
    assert fetched == [conn.name]

    cached = asyncio.run(CatalogCache(fetch, tmp_path).get(source))
    assert cached.origin == "disk" and fetched == [conn.name]

    restrictions = CatalogRestrictions.from_spec(None, ["spec.free=true"], namespaced=False)
    catalog = apply_restrictions(cached.parse(), restrictions)
    # "large" is not free; "nobind" has no free field, so it is free (OSB's default).
    assert {s.name: [p.name for p in s.plans] for s in catalog.services} == {
        "obapi-db": ["small"], "obapi-queue": ["standard", "nobind"]}

    plan = resolve_plan(PlanReference(cluster_service_class_external_name="obapi-db"),
                        [catalog])  # one visible plan left, so the plan may be omitted
    assert plan.plan.name == "small"
    merged = merge_parameters({"size": "xl"})
    problems = validate_for_plan(plan, "instance_create", merged)
    assert [(p.path, p.message) for p in problems] == [
        ("parameters.size", "'xl' is not one of ['s', 'm', 'l']")]
