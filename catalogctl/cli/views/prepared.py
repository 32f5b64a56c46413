"""The one door from plan values to views: mask first, then diff.

Every view calls :func:`prepare_change` or :func:`prepare_drift`; neither ever
reads ``Change.private``, and both mask before anything is compared or
formatted, so there is no code path from a secret to an output string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalogctl.cli.views.diff import Node, diff_tree
from catalogctl.cli.views.values import default_sensitive_paths, masked_pair
from catalogctl.plan.model import Change, Drift, JSONPath, Plan


@dataclass(frozen=True)
class Prepared:
    """Masked ``before``/``after`` and their display tree."""

    before: Any
    after: Any
    root: Node


def _prepare(
    kind: str,
    before: Any,
    after: Any,
    sensitive: tuple[JSONPath, ...],
    unknown: tuple[JSONPath, ...],
) -> Prepared:
    paths = (*sensitive, *default_sensitive_paths(kind, before, after))
    b, a = masked_pair(before, after, paths, unknown)
    return Prepared(b, a, diff_tree(b, a))


def prepare_change(change: Change) -> Prepared:
    return _prepare(
        change.kind, change.before, change.after, change.sensitive_paths, change.after_unknown
    )


def prepare_drift(drift: Drift, plan: Plan) -> Prepared:
    """Drift carries no sensitive paths, so borrow the planned change's.

    The same resource's change (if the plan has one) knows which of its
    attributes came from Secrets; the kind's defaults cover the rest.
    """
    change = plan.change(drift.address)
    sensitive = change.sensitive_paths if change is not None else ()
    return _prepare(drift.kind, drift.before, drift.after, sensitive, ())
