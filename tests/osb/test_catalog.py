"""Catalog parsing, effective flags, Kubernetes names, id collisions and plan resolution."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import httpx
import pytest

from catalogctl.errors import BrokerError, InputError
from catalogctl.providers.osb.catalog import (
    Catalog,
    CatalogError,
    MaintenanceInfo,
    PlanReference,
    PlanResolutionError,
    find_id_collisions,
    generate_escaped_name,
    parse_catalog,
    resolve_plan,
    visible_catalogs,
)


def _plan(pid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": pid, "name": name, "description": f"{name} plan", **extra}


def _service(sid: str, name: str, plans: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "name": name,
        "description": f"{name} service",
        "bindable": True,
        "plans": plans,
        **extra,
    }


RAW: dict[str, Any] = {
    "services": [
        _service(
            "svc-db",
            "db",
            [
                _plan(
                    "plan-db-small",
                    "small",
                    free=True,
                    schemas={
                        "service_instance": {
                            "create": {
                                "parameters": {
                                    "$schema": "http://json-schema.org/draft-04/schema#",
                                    "type": "object",
                                }
                            }
                        }
                    },
                ),
                _plan(
                    "plan-db-large",
                    "large",
                    free=False,
                    bindable=False,
                    plan_updateable=False,
                    binding_rotatable=True,
                    maximum_polling_duration=120,
                    maintenance_info={"version": "1.2.3", "description": "patch"},
                ),
            ],
            plan_updateable=True,
            instances_retrievable=True,
            bindings_retrievable=True,
            allow_context_updates=True,
            tags=["sql"],
            x_vendor={"ignored": True},
            dashboard_client={"id": "dash", "secret": "s3cr3t", "redirect_uri": "http://x"},
        ),
        _service("svc-queue", "queue", [_plan("plan-queue-std", "standard")], bindable=False),
    ],
    "x_vendor_extension": 42,
}


def test_parses_fields_and_ignores_unknown_ones() -> None:
    catalog = parse_catalog(RAW, broker="b1")
    assert catalog.broker == "b1"
    assert [s.name for s in catalog.services] == ["db", "queue"]
    db = catalog.services[0]
    assert db.tags == ("sql",)
    assert db.dashboard_client is not None and db.dashboard_client.id == "dash"
    assert not hasattr(db.dashboard_client, "secret")
    large = db.plan_by_name("large")
    assert large is not None
    assert large.maintenance_info == MaintenanceInfo("1.2.3", "patch")
    assert large.maximum_polling_duration == 120
    assert large.binding_rotatable is True
    small = db.plan_by_id("plan-db-small")
    assert small is not None and small.schemas.instance_create is not None
    assert small.schemas.for_operation("instance_create") == {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
    }
    assert small.schemas.instance_update is None and small.schemas.binding_create is None


def test_free_defaults_to_true_as_osb_says() -> None:
    catalog = parse_catalog(RAW, broker="b1")
    std = catalog.services[1].plans[0]  # no "free" field at all
    assert std.free_raw is None
    assert std.free is True  # OSB default
    large = catalog.services[0].plans[1]
    assert large.free is False
    small = catalog.services[0].plans[0]
    assert small.free is True


def test_effective_flags_plan_overrides_offering() -> None:
    catalog = parse_catalog(RAW, broker="b1")
    small = catalog.find_plan("svc-db", "plan-db-small")
    large = catalog.find_plan("svc-db", "plan-db-large")
    queue = catalog.find_plan("svc-queue", "plan-queue-std")
    assert small is not None and large is not None and queue is not None
    assert (small.bindable, small.plan_updateable) == (True, True)  # inherited
    assert (large.bindable, large.plan_updateable) == (False, False)  # overridden
    assert (queue.bindable, queue.plan_updateable) == (False, False)  # offering defaults
    assert small.instances_retrievable and small.bindings_retrievable
    assert small.allow_context_updates
    assert not queue.instances_retrievable and not queue.bindings_retrievable
    assert large.binding_rotatable and not small.binding_rotatable
    assert large.maximum_polling_duration == 120 and small.maximum_polling_duration is None
    assert large.maintenance_info is not None and large.maintenance_info.to_request() == {
        "version": "1.2.3"
    }
    assert large.describe() == "b1/db/large"
    assert catalog.find_plan("svc-db", "nope") is None
    assert [r.plan_id for r in catalog.iter_plans()] == [
        "plan-db-small",
        "plan-db-large",
        "plan-queue-std",
    ]


@pytest.mark.parametrize("raw", [{"services": []}, {}])
def test_empty_catalogs(raw: dict[str, Any]) -> None:
    catalog = parse_catalog(raw, broker="empty")
    assert catalog.services == ()


def test_soft_problems_become_warnings() -> None:
    raw = {
        "services": [
            {"id": "s", "name": "n", "plans": [{"id": "p", "name": "pn"}]},
            {"id": "s2", "name": "n2", "bindable": True, "plans": []},
        ]
    }
    catalog = parse_catalog(raw, broker="quirky")
    assert catalog.services[0].bindable is False
    assert catalog.services[0].description == ""
    assert catalog.services[1].plans == ()
    text = "\n".join(catalog.warnings)
    assert "'bindable' is missing" in text
    assert "'description'" in text
    assert "services[1] ('n2'): has no plans" in text


def test_required_field_errors_name_broker_service_and_plan() -> None:
    raw = copy.deepcopy(RAW)
    del raw["services"][0]["plans"][1]["id"]
    raw["services"][1]["name"] = ""
    raw["services"][1]["bindable"] = "yes"
    with pytest.raises(CatalogError) as info:
        parse_catalog(raw, broker="acme")
    err = info.value
    assert isinstance(err, BrokerError)
    assert err.broker == "acme"
    message = str(err)
    assert "broker 'acme'" in message
    assert "services[0] ('db').plans[1] ('large'): required field 'id' is missing" in message
    assert "services[1] ('svc-queue'): required field 'name'" in message
    assert "'bindable' must be a boolean" in message
    assert len(err.problems) == 3


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ([], "must be a JSON object"),
        ({"services": {}}, "'services' must be a list"),
        (
            {
                "services": [
                    _service("a", "x", [_plan("p1", "a")]),
                    _service("b", "x", [_plan("p2", "a")]),
                ]
            },
            "offering name 'x'",
        ),
        (
            {"services": [_service("a", "x", [_plan("p1", "a"), _plan("p2", "a")])]},
            "plan name 'a' appears more than once",
        ),
        ({"services": [_service("a", "x", [_plan("a", "a")])]}, "id 'a' is used by more"),
        (
            {"services": [_service("a", "x", [_plan("p", "a", maintenance_info={})])]},
            "maintenance_info",
        ),
    ],
)
def test_structural_errors(raw: Any, fragment: str) -> None:
    with pytest.raises(CatalogError, match=fragment):
        parse_catalog(raw, broker="b")


@pytest.mark.parametrize(
    ("external_id", "expected"),
    [
        ("4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468", "4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468"),
        ("abc-123.x", "abc-123.x"),
        ("ABC", "z41zz42zz43z"),
        ("z", "z7az"),
        ("-a-", "z2dzaz2dz"),
        (".a.", "z2ezaz2ez"),
        ("a..b", "a.z2ezb"),
        ("a--b", "a--b"),
        ("a-.b", "a-z2ezb"),
        ("a.-b", "a.z2dzb"),
        ("a_b c", "az5fzbz20zc"),
        ("é", "ze9z"),
        ("a.é", "a.ze9z"),
    ],
)
def test_generate_escaped_name(external_id: str, expected: str) -> None:
    assert generate_escaped_name(external_id) == expected


def test_generate_escaped_name_long_ids_are_hashed() -> None:
    long_id = "a" * 70
    digest = hashlib.md5(long_id.encode()).hexdigest()
    assert generate_escaped_name(long_id) == "a" * 30 + "-" + digest
    dotted = "a" * 29 + "." + "b" * 40
    assert generate_escaped_name(dotted) == (
        "a" * 29 + "-" + hashlib.md5(dotted.encode()).hexdigest()
    )
    assert generate_escaped_name("A" * 12) == "z41z" * 12  # 48 chars: kept as is
    assert len(generate_escaped_name("A" * 16)) == 30 + 1 + 32  # 64 chars: hashed


def test_id_collisions_across_brokers() -> None:
    one = parse_catalog(RAW, broker="one")
    two = parse_catalog(
        {
            "services": [
                _service("svc-db", "db2", [_plan("plan-db-small", "x"), _plan("unique", "y")])
            ]
        },
        broker="two",
    )
    collisions = find_id_collisions([one, two])
    assert [(c.kind, c.id, c.brokers) for c in collisions] == [
        ("offering", "svc-db", ("one", "two")),
        ("plan", "plan-db-small", ("one", "two")),
    ]
    assert "globally unique" in collisions[0].message
    assert find_id_collisions([one]) == []


# --------------------------------------------------------------------------- resolution

B1 = parse_catalog(RAW, broker="b1")
B2 = parse_catalog(
    {
        "services": [
            _service("svc-db-2", "db", [_plan("p-2a", "small"), _plan("p-2b", "large")]),
            _service("svc-cache", "cache", [_plan("p-cache", "only")]),
        ]
    },
    broker="b2",
)


def test_resolve_by_external_name() -> None:
    ref = PlanReference(
        cluster_service_class_external_name="queue", cluster_service_plan_external_name="standard"
    )
    resolved = resolve_plan(ref, [B1, B2])
    assert (resolved.broker, resolved.service_id, resolved.plan_id) == (
        "b1",
        "svc-queue",
        "plan-queue-std",
    )


def test_resolve_by_external_id_and_k8s_name() -> None:
    by_id = PlanReference(
        cluster_service_class_external_id="svc-db", cluster_service_plan_external_id="plan-db-large"
    )
    assert resolve_plan(by_id, [B1, B2]).plan.name == "large"
    by_name = PlanReference(
        cluster_service_class_name=generate_escaped_name("svc-cache"),
        cluster_service_plan_name=generate_escaped_name("p-cache"),
    )
    assert resolve_plan(by_name, [B1, B2]).broker == "b2"


def test_plan_may_be_omitted_only_for_single_plan_classes() -> None:
    ref = PlanReference(cluster_service_class_external_name="cache")
    assert resolve_plan(ref, [B1, B2]).plan_id == "p-cache"
    with pytest.raises(PlanResolutionError) as info:
        resolve_plan(PlanReference(cluster_service_class_external_name="b1/db"), [B1, B2])
    message = str(info.value)
    assert "clusterServicePlanExternalName is not set" in message
    assert "has 2 plans (small, large)" in message


def test_colliding_offering_names_need_broker_qualification() -> None:
    ref = PlanReference(
        cluster_service_class_external_name="db", cluster_service_plan_external_name="small"
    )
    with pytest.raises(PlanResolutionError) as info:
        resolve_plan(ref, [B1, B2])
    assert isinstance(info.value, InputError)
    assert "offered by several brokers (b1, b2)" in str(info.value)
    assert "b1/db, b2/db" in str(info.value)
    qualified = PlanReference(
        cluster_service_class_external_name="b2/db", cluster_service_plan_external_name="small"
    )
    assert resolve_plan(qualified, [B1, B2]).plan_id == "p-2a"


@pytest.mark.parametrize(
    ("ref", "fragment"),
    [
        (
            PlanReference(
                cluster_service_class_external_name="nope", cluster_service_plan_external_name="x"
            ),
            "clusterServiceClassExternalName 'nope': no such service offering among "
            "cluster-scoped brokers; available: b1/db, b1/queue, b2/cache, b2/db",
        ),
        (
            PlanReference(
                cluster_service_class_external_name="queue",
                cluster_service_plan_external_name="gold",
            ),
            "clusterServicePlanExternalName 'gold': no such plan in offering 'queue' "
            "(broker 'b1'); available plans: standard",
        ),
        (PlanReference(cluster_service_class_external_name="b9/db"), "no broker named 'b9'"),
        (PlanReference(), "no class selector set"),
        (
            PlanReference(cluster_service_plan_external_name="x"),
            "clusterServicePlanExternalName is set but clusterServiceClassExternalName is not",
        ),
        (
            PlanReference(
                cluster_service_class_external_name="db", service_plan_external_name="small"
            ),
            "mixed (clusterServiceClassExternalName, servicePlanExternalName)",
        ),
        (
            PlanReference(
                cluster_service_class_external_id="svc-db",
                cluster_service_plan_external_name="small",
            ),
            "mixed",
        ),
    ],
)
def test_resolution_errors_name_the_selector(ref: PlanReference, fragment: str) -> None:
    with pytest.raises(PlanResolutionError) as info:
        resolve_plan(ref, [B1, B2])
    assert fragment in str(info.value)


def test_namespaced_selectors_see_only_their_namespace() -> None:
    ref = PlanReference(
        service_class_external_name="cache", service_plan_external_name="only", namespace="team-a"
    )
    cats = visible_catalogs(ref, cluster=[B1], namespaced={"team-a": [B2], "team-b": [B1]})
    assert [c.broker for c in cats] == ["b2"]
    assert resolve_plan(ref, cats).plan_id == "p-cache"
    other = PlanReference(service_class_external_name="cache", namespace="team-b")
    with pytest.raises(PlanResolutionError, match="brokers in namespace 'team-b'"):
        resolve_plan(other, visible_catalogs(other, cluster=[B2], namespaced={"team-b": [B1]}))
    cluster_ref = PlanReference(cluster_service_class_external_name="cache")
    assert visible_catalogs(cluster_ref, cluster=[B1], namespaced={"x": [B2]}) == [B1]
    with pytest.raises(PlanResolutionError, match="namespace"):
        visible_catalogs(PlanReference(service_class_name="x"), cluster=[], namespaced={})


def test_no_visible_brokers() -> None:
    ref = PlanReference(cluster_service_class_external_name="db")
    with pytest.raises(PlanResolutionError, match="no offerings are visible"):
        resolve_plan(ref, [Catalog("empty")])


def test_parses_a_real_brokers_catalog_over_http(obapi_broker: Any) -> None:
    response = httpx.get(
        f"{obapi_broker.url}/v2/catalog",
        auth=(obapi_broker.username, obapi_broker.password),
        headers={"X-Broker-API-Version": "2.17"},
    )
    assert response.status_code == 200
    catalog = parse_catalog(response.json(), broker="obapi")
    assert catalog.warnings == ()
    db = resolve_plan(
        PlanReference(
            cluster_service_class_external_name="obapi-db",
            cluster_service_plan_external_name="large",
        ),
        [catalog],
    )
    assert db.maintenance_info == MaintenanceInfo("2.1.0", "PostgreSQL 16.2")
    assert db.plan_updateable and db.instances_retrievable and db.bindings_retrievable
    assert db.maximum_polling_duration == 600
    premium = resolve_plan(
        PlanReference(
            cluster_service_class_external_name="obapi-queue",
            cluster_service_plan_external_name="premium",
        ),
        [catalog],
    )
    assert premium.plan_updateable is True and premium.offering.plan_updateable is False
    nobind = resolve_plan(
        PlanReference(
            cluster_service_class_external_name="obapi-queue",
            cluster_service_plan_external_name="nobind",
        ),
        [catalog],
    )
    assert nobind.bindable is False and nobind.plan.free is True
    small = resolve_plan(
        PlanReference(
            cluster_service_class_external_name="obapi-db",
            cluster_service_plan_external_name="small",
        ),
        [catalog],
    )
    assert small.schemas.instance_create is not None
    assert small.schemas.instance_create["required"] == ["size"]


def test_offering_names_with_a_slash_match_exactly_before_qualification() -> None:
    odd = parse_catalog({"services": [_service("s-odd", "team/db", [_plan("p-odd", "x")])]},
                        broker="odd")
    ref = PlanReference(cluster_service_class_external_name="team/db")
    assert resolve_plan(ref, [odd, B1]).plan_id == "p-odd"
    assert resolve_plan(PlanReference(cluster_service_class_external_name="odd/team/db"),
                        [odd, B1]).plan_id == "p-odd"


def test_selector_info() -> None:
    info = PlanReference(service_class_external_id="a", service_plan_external_id="b",
                         namespace="n").selector()
    assert info == ("serviceClassExternalID", "servicePlanExternalID", "a", "b", "external_id",
                    False)
    assert info.cluster_scoped is False and info.kind == "external_id"


@pytest.mark.parametrize(
    ("ref", "field"),
    [
        (PlanReference(cluster_service_class_external_name="nope"),
         "clusterServiceClassExternalName"),
        (PlanReference(cluster_service_class_external_id="svc-queue",
                       cluster_service_plan_external_id="nope"), "clusterServicePlanExternalID"),
        (PlanReference(cluster_service_class_external_name="db"),
         "clusterServiceClassExternalName"),
        (PlanReference(cluster_service_plan_name="x"), "clusterServicePlanName"),
        (PlanReference(), None),
    ],
)
def test_resolution_errors_carry_the_field_to_point_at(ref: PlanReference,
                                                       field: str | None) -> None:
    with pytest.raises(PlanResolutionError) as info:
        resolve_plan(ref, [B1, B2])
    assert info.value.field == field
