"""``broker/offering`` qualification against catalogs named by broker address."""

from __future__ import annotations

import pytest

from catalogctl.providers.osb.catalog import (
    PlanReference,
    PlanResolutionError,
    parse_catalog,
    resolve_plan,
)


def catalog(broker: str, service_id: str) -> object:
    return parse_catalog(
        {
            "services": [
                {
                    "id": service_id,
                    "name": "queue",
                    "description": "q",
                    "bindable": True,
                    "plans": [{"id": service_id + "-p", "name": "std", "description": "s"}],
                }
            ]
        },
        broker=broker,
    )


CATALOGS = [
    catalog("ClusterServiceBroker/cloud-a", "a"),
    catalog("ClusterServiceBroker/cloud-b", "b"),
]


def test_qualified_by_broker_name_resolves() -> None:
    ref = PlanReference(
        cluster_service_class_external_name="cloud-b/queue",
        cluster_service_plan_external_name="std",
    )
    resolved = resolve_plan(ref, CATALOGS)  # type: ignore[arg-type]
    assert resolved.broker == "ClusterServiceBroker/cloud-b"
    assert resolved.service_id == "b"


def test_ambiguous_name_suggests_names_that_resolve() -> None:
    ref = PlanReference(
        cluster_service_class_external_name="queue", cluster_service_plan_external_name="std"
    )
    with pytest.raises(PlanResolutionError) as err:
        resolve_plan(ref, CATALOGS)  # type: ignore[arg-type]
    assert "cloud-a/queue, cloud-b/queue" in str(err.value)


def test_unknown_broker_name_is_named() -> None:
    ref = PlanReference(cluster_service_class_external_name="cloud-c/queue")
    with pytest.raises(PlanResolutionError, match="no broker named 'cloud-c'"):
        resolve_plan(ref, CATALOGS)  # type: ignore[arg-type]
