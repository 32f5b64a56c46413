"""The plan as a pull-request comment (``catalogctl plan --format markdown``).

A reviewer sees the summary in the heading, every change in a table they can
scan, and the full human plan folded in a ``<details>`` block, without colour
and with diff highlighting.
"""

from __future__ import annotations

from catalogctl.cli.views.markdown import cell, code, details, diff_fence, table
from catalogctl.cli.views.plan_human import render_plan
from catalogctl.cli.views.wording import NO_CHANGES, summary, verb
from catalogctl.plan.model import Mode, Plan


def render_plan_markdown(plan: Plan) -> str:
    """Heading, table of changes and the folded plan text."""
    parts = [_heading(plan)]
    changes = sorted(plan.actionable, key=lambda c: c.address)
    if plan.mode is not Mode.REFRESH_ONLY and changes:
        rows = [
            [code(c.action.symbol), code(c.address), cell(verb(c)), cell(c.reason)] for c in changes
        ]
        parts.append(table(["", "Address", "Action", "Reason"], rows))
    if plan.drift:
        noun = "object has" if len(plan.drift) == 1 else "objects have"
        parts.append(f"> **Note:** {len(plan.drift)} {noun} changed outside of catalogctl.")
    if plan.upgrades_available:
        parts.append(
            f"> **Note:** maintenance upgrades are available for "
            f"{len(plan.upgrades_available)} service instance(s); "
            "run `catalogctl plan --upgrade` to include them."
        )
    text = render_plan(plan, color=False, show_footer=False)
    parts.append(details("Show plan", diff_fence(text)))
    return "\n\n".join(parts)


_TITLES = {
    Mode.NORMAL: "catalogctl plan",
    Mode.DESTROY: "catalogctl destroy plan",
    Mode.REFRESH_ONLY: "catalogctl drift check",
}


def _heading(plan: Plan) -> str:
    title = _TITLES[plan.mode]
    if plan.mode is Mode.REFRESH_ONLY:
        if plan.drift:
            return f"### {title}: {len(plan.drift)} changed outside of catalogctl"
        return f"### {title}: no changes\n\n{NO_CHANGES[plan.mode][0]}"
    if not plan.actionable:
        return f"### {title}: no changes\n\n{NO_CHANGES[plan.mode][0]}"
    return f"### {title}: {summary(plan).removeprefix('Plan: ').rstrip('.')}"
