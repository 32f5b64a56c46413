"""catalogRestrictions: parsing and Service Catalog's filtering semantics."""

from __future__ import annotations

from typing import Any

import pytest

from catalogctl.providers.osb.catalog import generate_escaped_name, parse_catalog
from catalogctl.providers.osb.selectors import (
    CLASS_PROPERTIES,
    CLUSTER_PLAN_PROPERTIES,
    CatalogRestrictions,
    Operator,
    Requirement,
    RestrictionSyntaxError,
    apply_restrictions,
    class_properties,
    parse_restrictions,
    plan_properties,
)

RAW: dict[str, Any] = {
    "services": [
        {
            "id": "svc-a",
            "name": "alpha",
            "description": "d",
            "bindable": True,
            "plans": [
                {"id": "pa-free", "name": "free", "description": "d", "free": True},
                {"id": "pa-paid", "name": "paid", "description": "d", "free": False},
                {"id": "pa-unset", "name": "unset", "description": "d"},
            ],
        },
        {
            "id": "svc-b",
            "name": "beta",
            "description": "d",
            "bindable": True,
            "plans": [
                {"id": "pb-paid", "name": "paid", "description": "d", "free": False},
            ],
        },
        {
            "id": "SVC-C",
            "name": "Gamma",
            "description": "d",
            "bindable": True,
            "plans": [
                {"id": "pc-free", "name": "free", "description": "d", "free": True},
            ],
        },
    ]
}
CATALOG = parse_catalog(RAW, broker="b")


def _visible(restrictions: CatalogRestrictions) -> dict[str, list[str]]:
    filtered = apply_restrictions(CATALOG, restrictions)
    return {s.name: [p.name for p in s.plans] for s in filtered.services}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("name==abc", [Requirement("name", Operator.DOUBLE_EQUALS, ("abc",))]),
        ("name=abc", [Requirement("name", Operator.EQUALS, ("abc",))]),
        (
            "  spec.externalName  !=  x ",
            [Requirement("spec.externalName", Operator.NOT_EQUALS, ("x",))],
        ),
        (
            "spec.externalID in (a, b,c)",
            [Requirement("spec.externalID", Operator.IN, ("a", "b", "c"))],
        ),
        ("name notin (x)", [Requirement("name", Operator.NOT_IN, ("x",))]),
        ("name=", [Requirement("name", Operator.EQUALS, ("",))]),
        (
            "name=a, spec.free=true",
            [
                Requirement("name", Operator.EQUALS, ("a",)),
                Requirement("spec.free", Operator.EQUALS, ("true",)),
            ],
        ),
    ],
)
def test_parse(text: str, expected: list[Requirement]) -> None:
    assert list(parse_restrictions([text]).requirements) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("name", "has no operator"),
        ("!name", "'!key' (does-not-exist) is not supported"),
        ("name>3", "operator '>' is not supported"),
        ("name in a", "expected '(' after 'name' in"),
        ("name in (a", "missing ')'"),
        ("name in ()", "the value list must not be empty"),
        ("name in (a b)", "unexpected 'b'"),
        ("name==a b", "expected ',' or end of entry, found 'b'"),
        ("name ~ a", "unknown operator '~'"),
        ("", "empty restriction"),
        ("name==-bad", "not a valid label value"),
        ("name==" + "a" * 64, "longer than 63 characters"),
        ("name in (ok, Not Valid)", "unexpected 'Valid'"),
        ("bad key==x", "unknown operator 'key'"),
        ("-key==x", "'-key' is not a valid property name"),
    ],
)
def test_parse_errors(text: str, fragment: str) -> None:
    with pytest.raises(RestrictionSyntaxError) as info:
        parse_restrictions([text])
    assert isinstance(info.value, ValueError)
    assert fragment in str(info.value)
    assert f"catalogRestrictions[0] {text!r}" in str(info.value)


def test_all_errors_are_reported_with_entry_index_and_field() -> None:
    with pytest.raises(RestrictionSyntaxError) as info:
        CatalogRestrictions.from_spec(
            ["name=ok", "spec.free=true"],
            ["spec.serviceClass.name=x", "spec.free in (true)"],
            namespaced=False,
        )
    errors = info.value.errors
    assert [i for i, _ in errors] == [1, 0]
    assert (
        "catalogRestrictions.serviceClass[1] 'spec.free=true': unknown property 'spec.free'"
        in errors[0][1]
    )
    assert "catalogRestrictions.servicePlan[0]" in errors[1][1]
    assert "spec.clusterServiceClass.name" in errors[1][1]  # lists what is allowed
    ok = CatalogRestrictions.from_spec(None, ["spec.serviceClass.name=x"], namespaced=True)
    assert str(ok.service_plan) == "spec.serviceClass.name=x"


def test_property_sets() -> None:
    assert {"name", "spec.externalName", "spec.externalID"} == CLASS_PROPERTIES
    assert CLASS_PROPERTIES < CLUSTER_PLAN_PROPERTIES
    offering = CATALOG.services[0]
    assert class_properties(offering) == {
        "name": "svc-a",
        "spec.externalName": "alpha",
        "spec.externalID": "svc-a",
    }
    assert plan_properties(offering, offering.plans[2], namespaced=True) == {
        "name": "pa-unset",
        "spec.externalName": "unset",
        "spec.externalID": "pa-unset",
        "spec.free": "true",
        "spec.serviceClass.name": "svc-a",
    }


def test_no_restrictions_keeps_everything() -> None:
    assert _visible(CatalogRestrictions()) == {
        "alpha": ["free", "paid", "unset"],
        "beta": ["paid"],
        "Gamma": ["free"],
    }


def test_class_filter_in_and_notin() -> None:
    allow = CatalogRestrictions.from_spec(
        ["spec.externalName in (alpha, Gamma)"], None, namespaced=False
    )
    assert list(_visible(allow)) == ["alpha", "Gamma"]
    deny = CatalogRestrictions.from_spec(
        ["spec.externalName notin (alpha)"], None, namespaced=False
    )
    assert list(_visible(deny)) == ["beta", "Gamma"]


def test_matching_is_case_sensitive() -> None:
    r = CatalogRestrictions.from_spec(["spec.externalName==gamma"], None, namespaced=False)
    assert _visible(r) == {}
    r = CatalogRestrictions.from_spec(["spec.externalID==SVC-C"], None, namespaced=False)
    assert list(_visible(r)) == ["Gamma"]


def test_class_name_property_is_the_escaped_kubernetes_name() -> None:
    k8s = generate_escaped_name("SVC-C")
    assert k8s == "z53zz56zz43z-z43z"
    r = CatalogRestrictions.from_spec([f"name=={k8s}"], None, namespaced=False)
    assert list(_visible(r)) == ["Gamma"]


def test_spec_free_follows_the_osb_default() -> None:
    free = CatalogRestrictions.from_spec(None, ["spec.free=true"], namespaced=False)
    # "unset" has no free field: OSB says free, so spec.free=true keeps it.
    assert _visible(free) == {"alpha": ["free", "unset"], "Gamma": ["free"]}
    paid = CatalogRestrictions.from_spec(None, ["spec.free!=true"], namespaced=False)
    assert _visible(paid) == {"alpha": ["paid"], "beta": ["paid"]}


def test_requirements_are_anded_and_empty_classes_dropped() -> None:
    r = CatalogRestrictions.from_spec(
        ["spec.externalName!=Gamma"],
        ["spec.externalName=paid", "spec.clusterServiceClass.name=svc-a"],
        namespaced=False,
    )
    assert _visible(r) == {"alpha": ["paid"]}
    assert apply_restrictions(CATALOG, r).broker == "b"


def test_namespaced_plans_use_service_class_name() -> None:
    r = CatalogRestrictions.from_spec(None, ["spec.serviceClass.name in (svc-b)"], namespaced=True)
    assert _visible(r) == {"beta": ["paid"]}


def test_class_filter_runs_before_plan_filter() -> None:
    # The plan filter would accept beta's plan, but beta itself is excluded first.
    r = CatalogRestrictions.from_spec(
        ["spec.externalName=alpha"], ["spec.externalName=paid"], namespaced=False
    )
    assert _visible(r) == {"alpha": ["paid"]}
