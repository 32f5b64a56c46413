"""The JSON plan: Terraform ``show -json`` shape, masks, no private data."""

from __future__ import annotations

import json
from typing import Any

from catalogctl.cli.views import render_plan_json
from catalogctl.plan.model import Mode, Plan
from tests.views import plans
from tests.views.golden import assert_golden_json


def _entry(doc: dict[str, Any], address: str) -> dict[str, Any]:
    matches = [e for e in doc["resource_changes"] if e["address"] == address]
    assert len(matches) == 1
    entry: dict[str, Any] = matches[0]
    return entry


def test_full_plan_golden() -> None:
    assert_golden_json("plan_full.json", render_plan_json(plans.full_plan()))


def test_top_level_fields() -> None:
    doc = render_plan_json(plans.full_plan())
    assert doc["format_version"] == "1.0"
    assert doc["catalogctl_version"] == "0.1.0"
    assert doc["lineage"] == plans.LINEAGE
    assert doc["serial"] == 7
    assert doc["mode"] == "normal"
    assert doc["applyable"] is True and doc["has_changes"] is True
    assert doc["upgrades_available"] == list(plans.full_plan().upgrades_available)
    assert doc["summary"] == {"add": 4, "change": 1, "replace": 1, "destroy": 4}


def test_is_plain_json() -> None:
    doc = render_plan_json(plans.full_plan())
    assert json.loads(json.dumps(doc)) == doc


def test_actions_lists() -> None:
    doc = render_plan_json(plans.full_plan())
    actions = {e["address"]: e["change"]["actions"] for e in doc["resource_changes"]}
    assert actions["ClusterServiceBroker/cloud-broker"] == ["no-op"]
    assert actions["ServiceInstance/cloud-apps/cloud-queue-instance"] == ["create"]
    assert actions["ServiceInstance/cloud-apps/cloud-db"] == ["update"]
    assert actions["ServiceInstance/cloud-apps/cloud-cache"] == ["delete", "create"]
    assert actions["ServiceInstance/cloud-apps/legacy-queue"] == ["delete"]


def test_identity_fields() -> None:
    doc = render_plan_json(plans.full_plan())
    entry = _entry(doc, "ServiceBinding/cloud-apps/cloud-queue-binding")
    assert (entry["kind"], entry["namespace"], entry["name"]) == (
        "ServiceBinding", "cloud-apps", "cloud-queue-binding")
    assert entry["action_reason"] == "not in state"
    broker = _entry(doc, "ClusterServiceBroker/cloud-broker")
    assert broker["namespace"] is None and broker["name"] == "cloud-broker"


def test_unknown_values_omitted_and_masked() -> None:
    change = _entry(render_plan_json(plans.full_plan()),
                    "ServiceInstance/cloud-apps/cloud-queue-instance")["change"]
    assert "instance_id" not in change["after"]
    assert change["after_unknown"]["instance_id"] is True
    assert change["after_unknown"]["dashboard_url"] is True
    assert "region" not in change["after_unknown"]["parameters"]  # known leaves omitted
    assert change["after_unknown"]["parameters"]["subscribers"] == [False, False]
    assert change["before_sensitive"] is False


def test_sensitive_masks_have_the_value_shape() -> None:
    doc = render_plan_json(plans.full_plan())
    create = _entry(doc, "ServiceInstance/cloud-apps/cloud-queue-instance")["change"]
    assert create["after"]["parameters"]["password"] is None
    assert create["after_sensitive"]["parameters"] == {
        "password": True, "retention": {}, "subscribers": [False, False]}
    update = _entry(doc, "ServiceInstance/cloud-apps/cloud-db")["change"]
    assert update["before_sensitive"]["parameters"]["password"] is True
    assert update["after_sensitive"]["parameters"]["password"] is True


def test_unknown_and_sensitive_credentials() -> None:
    change = _entry(render_plan_json(plans.full_plan()),
                    "ServiceBinding/cloud-apps/cloud-queue-binding")["change"]
    assert "credentials" not in change["after"]
    assert change["after_unknown"]["credentials"] is True
    assert change["after_sensitive"]["credentials"] is True


def test_secret_data_masks() -> None:
    doc = render_plan_json(plans.full_plan())
    created = _entry(doc, "Secret/cloud-apps/cloud-queue-binding")["change"]
    assert created["after_unknown"] == {"data": True}
    assert created["after_sensitive"] == {"data": True}
    deleted = _entry(doc, "Secret/cloud-apps/old-binding")["change"]
    assert deleted["before"]["data"] == {"uri": None}
    assert deleted["before_sensitive"] == {"data": {"uri": True}}
    assert deleted["after"] is None and deleted["after_sensitive"] is False


def test_replace_paths() -> None:
    change = _entry(render_plan_json(plans.full_plan()),
                    "ServiceInstance/cloud-apps/cloud-cache")["change"]
    assert change["replace_paths"] == [["plan"], ["plan_id"]]


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def test_never_contains_private() -> None:
    doc = render_plan_json(plans.full_plan())
    assert "private" not in _keys(doc)
    text = json.dumps(doc)
    assert "s3cr3t-private-checksum" not in text
    assert "0d7c-new" not in text


def test_drift_entries() -> None:
    drift = render_plan_json(plans.full_plan())["resource_drift"]
    assert [d["address"] for d in drift] == sorted(d["address"] for d in drift)
    by_address = {d["address"]: d for d in drift}
    deleted = by_address["Secret/cloud-apps/cloud-cache-binding"]
    assert deleted["what"] == "deleted" and deleted["change"]["actions"] == ["delete"]
    assert deleted["change"]["before_sensitive"] == {"data": {"host": True, "port": True}}
    changed = by_address["ServiceInstance/cloud-apps/cloud-db"]
    # sensitive paths borrowed from the planned change of the same address
    assert changed["change"]["after_sensitive"] == {"parameters": {"password": True}}


def test_refresh_only_and_empty_plans() -> None:
    doc = render_plan_json(plans.refresh_only_plan())
    assert doc["mode"] == "refresh-only" and doc["applyable"] is True
    assert doc["resource_changes"] == []
    empty = render_plan_json(plans.empty_plan(Mode.NORMAL))
    assert empty["applyable"] is False and empty["has_changes"] is False


def test_round_trip_through_saved_form() -> None:
    plan = plans.full_plan()
    assert render_plan_json(Plan.from_dict(json.loads(plan.to_json()))) == render_plan_json(plan)
