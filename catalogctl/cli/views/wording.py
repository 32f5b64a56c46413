"""The words of the plan views: headings, legend, summary, no-change lines.

Kept apart from layout so the vocabulary is reviewed in one place: OSB users
think in "provision", "bind" and "map into", while the legend and summary keep
Terraform's words (create, update in-place, replace, destroy) that CI tooling
and muscle memory already know.
"""

from __future__ import annotations

from typing import Any

from catalogctl.plan.model import Action, Change, Mode, Plan

HRULE = "─" * 77

LEGEND_HEADER = (
    "catalogctl used the broker catalogs and the cluster to generate the following "
    "execution plan.\nResource actions are indicated with the following symbols:"
)
LEGEND = {
    Action.CREATE: "create",
    Action.UPDATE: "update in-place",
    Action.REPLACE: "destroy and then create replacement",
    Action.CREATE_THEN_DELETE: "create replacement and then destroy",
    Action.DELETE: "destroy",
}
ACTIONS_HEADER = "catalogctl will perform the following actions:"

NO_CHANGES = {
    Mode.NORMAL: (
        "Your services match the configuration.",
        "catalogctl has compared your services against the configuration and found no "
        "differences, so no changes are needed.",
    ),
    Mode.DESTROY: (
        "No objects need to be destroyed.",
        "Either you have not provisioned any services yet, or they were already "
        "deprovisioned outside of catalogctl.",
    ),
    Mode.REFRESH_ONLY: (
        "Your services still match the configuration.",
        "catalogctl has checked that the brokers and the cluster still match the result of "
        "your most recent changes, and found no differences.",
    ),
}

# Per-kind phrases for the actions whose wording is kind-specific:
# (create heading, delete heading, short create verb, short delete verb)
_KIND_WORDS = {
    "ServiceInstance": ("will be provisioned", "will be deleted", "provision", "deprovision"),
    "ServiceBinding": ("will be bound", "will be unbound", "bind", "unbind"),
    "Secret": ("will be written", "will be deleted", "write", "delete"),
    "PodMapping": (
        "will be mapped into {target}",
        "will be unmapped from {target}",
        "map into {target}",
        "unmap from {target}",
    ),
}
_DEFAULT_WORDS = ("will be created", "will be destroyed", "create", "destroy")


def split_address(address: str) -> tuple[str, str | None, str]:
    """``Kind/ns/name`` -> (kind, ns, name); ``Kind/name`` -> (kind, None, name).

    Deliberately lenient (no validation): a view must render whatever plan it
    is given, even one naming a kind this version does not know.
    """
    parts = address.split("/", 2)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], None, parts[1]
    return address, None, address


def _target(change: Change) -> str:
    for side in (change.after, change.before):
        value: Any = side.get("target") if isinstance(side, dict) else None
        if isinstance(value, str) and value:
            return value
    return "its workload"


def _words(change: Change) -> tuple[str, ...]:
    words = _KIND_WORDS.get(change.kind, _DEFAULT_WORDS)
    return tuple(w.format(target=_target(change)) for w in words)


def heading(change: Change) -> str:
    """The text after ``# address``: ``will be provisioned``, ``must be replaced``..."""
    create, delete, _, _ = _words(change)
    return {
        Action.CREATE: create,
        Action.UPDATE: "will be updated in-place",
        Action.REPLACE: "must be replaced",
        Action.CREATE_THEN_DELETE: "must be replaced, the new one first",
        Action.DELETE: delete,
        Action.NOOP: "has no changes",
    }[change.action]


def verb(change: Change) -> str:
    """A short verb for tables: ``provision``, ``bind``, ``update``, ``replace``..."""
    _, _, create, delete = _words(change)
    return {
        Action.CREATE: create,
        Action.UPDATE: "update",
        Action.REPLACE: "replace",
        Action.CREATE_THEN_DELETE: "replace",
        Action.DELETE: delete,
        Action.NOOP: "no-op",
    }[change.action]


def summary(plan: Plan) -> str:
    """``Plan: A to add, C to change, R to replace, D to destroy.``

    Unlike Terraform, a replacement counts only in "to replace", never also in
    "to add" and "to destroy": each resource is counted once, so the numbers
    add up to the resources the plan touches.
    """
    n = plan.counts()
    replaced = n[Action.REPLACE] + n[Action.CREATE_THEN_DELETE]
    return (
        f"Plan: {n[Action.CREATE]} to add, {n[Action.UPDATE]} to change, "
        f"{replaced} to replace, {n[Action.DELETE]} to destroy."
    )


DRIFT_HEADINGS = {
    "changed": "has changed",
    "deleted": "has been deleted",
    "appeared": "has appeared",
}


def drift_heading(what: str) -> str:
    return DRIFT_HEADINGS.get(what, f"has {what}")
