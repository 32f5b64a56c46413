"""``catalogctl drift``: what changed outside of catalogctl, and nothing else.

The command runs a refresh-only plan; these views show only its ``drift``
entries (as text, JSON or Markdown) and say plainly when there is none, so a
scheduled CI job can post the result without interpreting a plan.
"""

from __future__ import annotations

from typing import Any

from catalogctl.cli.views.markdown import cell, code, details, diff_fence, table
from catalogctl.cli.views.plan_human import drift_entry
from catalogctl.cli.views.plan_json import JSON_FORMAT_VERSION, resource_drift
from catalogctl.cli.views.style import Painter
from catalogctl.cli.views.wording import drift_heading
from catalogctl.plan.model import Drift, Plan

NO_DRIFT = "No drift detected."
NO_DRIFT_DETAIL = (
    "The brokers and the cluster match the catalogctl state: nothing was changed outside "
    "of catalogctl."
)
_KINDS_OF_DRIFT = ("changed", "deleted", "appeared")


def _sorted(plan: Plan) -> list[Drift]:
    return sorted(plan.drift, key=lambda d: d.address)


def drift_counts(plan: Plan) -> dict[str, int]:
    """How many objects changed, were deleted, or appeared (others counted too)."""
    counts = dict.fromkeys(_KINDS_OF_DRIFT, 0)
    for entry in plan.drift:
        counts[entry.what] = counts.get(entry.what, 0) + 1
    return counts


def drift_summary(plan: Plan) -> str:
    """``Drift: 1 changed, 1 deleted, 0 appeared.``"""
    return "Drift: " + ", ".join(f"{n} {what}" for what, n in drift_counts(plan).items()) + "."


def render_drift_human(plan: Plan, color: bool = False) -> str:
    """The drift report as text; no trailing newline."""
    paint = Painter(color)
    if not plan.drift:
        return paint(paint(NO_DRIFT, fg="green"), bold=True) + "\n\n" + NO_DRIFT_DETAIL
    count = len(plan.drift)
    noun = "object has" if count == 1 else "objects have"
    parts = [
        paint.bold(f"Drift detected: {count} {noun} changed outside of catalogctl"),
        *(drift_entry(d, plan, paint) for d in _sorted(plan)),
        paint.bold(drift_summary(plan)),
    ]
    return "\n\n".join(parts)


def render_drift_json(plan: Plan) -> dict[str, Any]:
    """The drift report as a JSON-ready dict; entries as in the JSON plan."""
    return {
        "format_version": JSON_FORMAT_VERSION,
        "catalogctl_version": plan.catalogctl_version,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "created_at": plan.created_at,
        "drift_detected": bool(plan.drift),
        "summary": drift_counts(plan),
        "resource_drift": resource_drift(plan),
    }


def render_drift_markdown(plan: Plan) -> str:
    """Heading, a table of drifted objects and the folded text report."""
    if not plan.drift:
        return f"### catalogctl drift: none\n\n{NO_DRIFT} {NO_DRIFT_DETAIL}"
    rows = [[code(d.address), cell(drift_heading(d.what)), cell(d.detail)] for d in _sorted(plan)]
    count = len(plan.drift)
    noun = "object" if count == 1 else "objects"
    return "\n\n".join(
        [
            f"### catalogctl drift: {count} {noun} changed outside of catalogctl",
            table(["Address", "Drift", "Detail"], rows),
            details("Show drift", diff_fence(render_drift_human(plan, color=False))),
        ]
    )
