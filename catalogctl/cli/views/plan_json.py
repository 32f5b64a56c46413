"""The JSON plan: ``catalogctl show -json``'s value, shaped for OPA/conftest.

It follows ``terraform show -json`` (``resource_changes[].change.actions``,
``after_unknown`` and ``*_sensitive`` masks, ``replace_paths``) so existing
policies port with a change of field names only.  Two deliberate differences:
sensitive values are ``null`` in ``before``/``after`` (a catalogctl plan never
holds them), and ``private`` is never emitted.
"""

from __future__ import annotations

from typing import Any

from catalogctl.cli.views.prepared import Prepared, prepare_change, prepare_drift
from catalogctl.cli.views.values import Sensitive, Unknown, mask, redact
from catalogctl.cli.views.wording import split_address
from catalogctl.plan.model import Action, Change, Drift, JSONPath, Plan

#: Version of this JSON document's shape, independent of the saved-plan format.
JSON_FORMAT_VERSION = "1.0"

_DRIFT_ACTIONS = {"changed": ["update"], "deleted": ["delete"], "appeared": ["create"]}


def render_plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict (dump it with ``json.dumps``)."""
    return {
        "format_version": JSON_FORMAT_VERSION,
        "catalogctl_version": plan.catalogctl_version,
        "plan_format_version": plan.format_version,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "mode": plan.mode.value,
        "created_at": plan.created_at,
        "resource_changes": [resource_change(c) for c in _by_address(plan.changes)],
        "resource_drift": resource_drift(plan),
        "upgrades_available": list(plan.upgrades_available),
        "summary": _summary(plan),
        "has_changes": plan.has_changes,
        "applyable": plan.has_changes,
    }


def _summary(plan: Plan) -> dict[str, int]:
    """The human summary's numbers (a replacement counts once, in "replace")."""
    n = plan.counts()
    return {
        "add": n[Action.CREATE],
        "change": n[Action.UPDATE],
        "replace": n[Action.REPLACE] + n[Action.CREATE_THEN_DELETE],
        "destroy": n[Action.DELETE],
    }


def _by_address(items: tuple[Any, ...]) -> list[Any]:
    return sorted(items, key=lambda i: str(i.address))


def _identity(address: str, kind: str) -> dict[str, Any]:
    _, namespace, name = split_address(address)
    return {"address": address, "kind": kind, "name": name, "namespace": namespace}


def _values(prepared: Prepared) -> dict[str, Any]:
    """``before``/``after`` and their masks from one masked pair."""
    after_unknown = mask(prepared.after, Unknown)
    after = None if isinstance(prepared.after, Unknown) else redact(prepared.after)
    return {
        "before": redact(prepared.before),
        "after": after,
        "after_unknown": after_unknown,
        "before_sensitive": mask(prepared.before, Sensitive),
        "after_sensitive": mask(prepared.after, Sensitive),
    }


def _paths(paths: tuple[JSONPath, ...]) -> list[list[str | int]]:
    return [list(p) for p in paths]


def resource_change(change: Change) -> dict[str, Any]:
    """One ``resource_changes`` entry; ``action_reason`` is the human reason."""
    return {
        **_identity(change.address, change.kind),
        "change": {
            "actions": change.action.json_actions,
            **_values(prepare_change(change)),
            "replace_paths": _paths(change.requires_replace),
        },
        "action_reason": change.reason,
        "depends_on": list(change.depends_on),
    }


def resource_drift(plan: Plan) -> list[dict[str, Any]]:
    """``resource_drift`` entries, masked with the planned change's paths."""
    return [drift_entry(d, plan) for d in _by_address(plan.drift)]


def drift_entry(drift: Drift, plan: Plan) -> dict[str, Any]:
    values = _values(prepare_drift(drift, plan))
    values.pop("after_unknown")
    return {
        **_identity(drift.address, drift.kind),
        "what": drift.what,
        "detail": drift.detail,
        "change": {"actions": _DRIFT_ACTIONS.get(drift.what, ["update"]), **values},
    }
