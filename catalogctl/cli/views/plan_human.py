"""The human plan: what ``catalogctl plan`` prints.

Same anatomy as Terraform's plan (drift note, legend, one block per resource,
summary, footer) so that review habits carry over; the resource headings use
OSB words ("will be provisioned", "will be bound", "will be mapped into").
The result has no trailing newline; the caller echoes it.
"""

from __future__ import annotations

import shlex

from catalogctl.cli.views.blocks import resource_block
from catalogctl.cli.views.prepared import prepare_change, prepare_drift
from catalogctl.cli.views.style import Painter
from catalogctl.cli.views.values import clean_text
from catalogctl.cli.views.wording import (
    ACTIONS_HEADER,
    HRULE,
    LEGEND,
    LEGEND_HEADER,
    NO_CHANGES,
    drift_heading,
    heading,
    split_address,
    summary,
)
from catalogctl.plan.model import Action, Change, Drift, Mode, Plan

_DRIFT_SYMBOLS = {"changed": "~", "deleted": "-", "appeared": "+"}


def render_plan(
    plan: Plan, *, color: bool, saved_to: str | None = None, show_footer: bool = True
) -> str:
    """The whole plan as text; ANSI colour only when ``color`` is true."""
    paint = Painter(color)
    sections: list[str] = []
    if plan.drift:
        sections.append(drift_section(plan, paint))
    if plan.mode is not Mode.REFRESH_ONLY:
        sections.extend(_actions_sections(plan, paint))
    elif not plan.drift:
        sections.append(no_changes(plan.mode, paint))
    rolls = rollouts(plan)
    if rolls:
        sections.append(rollouts_note(rolls, paint))
    if plan.upgrades_available:
        sections.append(upgrades_note(plan, paint))
    if show_footer and plan.has_changes:
        sections.append(footer(saved_to, paint))
    return "\n\n".join(sections)


# -- drift --------------------------------------------------------------------
def drift_section(plan: Plan, paint: Painter) -> str:
    """``Note: Objects have changed outside of catalogctl`` and its entries.

    In a normal plan the section ends with a rule, as the changes that follow
    may undo the drift; a refresh-only plan says it will undo nothing.
    """
    refresh_only = plan.mode is Mode.REFRESH_ONLY
    intro = (
        "catalogctl detected the following changes made outside of catalogctl since the last\n"
        '"catalogctl apply"' + (":" if refresh_only else " which may have affected this plan:")
    )
    parts = [paint.bold("Note: Objects have changed outside of catalogctl"), intro]
    parts.extend(drift_entry(d, plan, paint) for d in sorted(plan.drift, key=lambda d: d.address))
    if refresh_only:
        parts.append(
            "This is a refresh-only plan, so catalogctl will not take any actions to undo these.\n"
            "If you were expecting these changes then you can apply this plan to record the\n"
            "updated values in the catalogctl state without changing any service."
        )
    else:
        parts.append(
            "Unless you have made equivalent changes to your configuration, the following plan\n"
            "may include actions to undo or respond to these changes."
        )
        parts.append(HRULE)
    return "\n\n".join(parts)


def drift_entry(drift: Drift, plan: Plan, paint: Painter) -> str:
    """``# address has changed`` with its detail and, when known, the values."""
    lines = [paint.bold(f"  # {clean_text(drift.address)}") + " " + drift_heading(drift.what)]
    if drift.detail:
        lines.append(f"  # ({clean_text(drift.detail)})")
    if drift.before is not None or drift.after is not None:
        kind, name = _kind_and_name(drift.address, drift.kind)
        root = prepare_drift(drift, plan).root
        lines.extend(resource_block(_DRIFT_SYMBOLS.get(drift.what, "~"), kind, name, root, paint))
    return "\n".join(lines)


# -- actions ------------------------------------------------------------------
def _actions_sections(plan: Plan, paint: Painter) -> list[str]:
    changes = sorted(plan.actionable, key=lambda c: c.address)
    if not changes:
        return [no_changes(plan.mode, paint)]
    return [
        legend(changes, paint),
        ACTIONS_HEADER,
        *(change_entry(c, paint) for c in changes),
        paint.bold(summary(plan)),
    ]


def legend(changes: list[Change], paint: Painter) -> str:
    """Only the symbols this plan uses, in a fixed order."""
    present = {c.action for c in changes}
    rows = [
        paint.symbol_column(action.symbol) + text
        for action, text in LEGEND.items()
        if action in present
    ]
    return "\n".join([LEGEND_HEADER, *(r.rstrip() for r in rows)])


def change_entry(change: Change, paint: Painter) -> str:
    """``# address will be ...``, ``# (reason)`` and the attribute block."""
    lines = [paint.bold(f"  # {clean_text(change.address)}") + " " + heading(change)]
    if change.reason:
        lines.append(f"  # ({clean_text(change.reason)})")
    kind, name = _kind_and_name(change.address, change.kind)
    root = prepare_change(change).root
    symbol = change.action.symbol if change.action is not Action.NOOP else ""
    lines.extend(resource_block(symbol, kind, name, root, paint, change.requires_replace))
    return "\n".join(lines)


def _kind_and_name(address: str, kind: str) -> tuple[str, str]:
    _, namespace, name = split_address(address)
    return clean_text(kind), clean_text(f"{namespace}/{name}" if namespace else name)


# -- closing notes ------------------------------------------------------------
def no_changes(mode: Mode, paint: Painter) -> str:
    first, second = NO_CHANGES[mode]
    return paint(paint("No changes.", fg="green") + " " + first, bold=True) + "\n\n" + second


def rollouts(plan: Plan) -> list[str]:
    """``Deployment/ns/app (PodMapping/ns/m)`` for each workload this plan rolls."""
    out = []
    for change in plan.actionable:
        if change.kind == "PodMapping" and change.private.get("rollout"):
            namespace = change.address.split("/")[1]
            kind, _, name = str((change.after or {}).get("target", "")).partition("/")
            out.append(f"{kind}/{namespace}/{name} ({change.address})")
    return out


def rollouts_note(rolls: list[str], paint: Painter) -> str:
    """Which workloads get a new pod template (and so new pods) from new credentials."""
    noun = "workload" if len(rolls) == 1 else "workloads"
    lines = [paint.bold(f"Rollout: {len(rolls)} {noun} will roll to pick up new credentials:")]
    lines.extend(f"  * {clean_text(r)}" for r in rolls)
    return "\n".join(lines)


def upgrades_note(plan: Plan, paint: Painter) -> str:
    """Tell the user that maintenance upgrades exist and how to take them."""
    count = len(plan.upgrades_available)
    noun = "service instance" if count == 1 else "service instances"
    lines = [paint.bold(f"Note: Maintenance upgrades are available for {count} {noun}:")]
    lines.extend(f"  * {clean_text(u)}" for u in plan.upgrades_available)
    lines.append('Run "catalogctl plan --upgrade" to include them in the plan.')
    return "\n".join(lines)


def footer(saved_to: str | None, paint: Painter) -> str:
    """How to apply exactly this plan, or a warning that it was not saved."""
    if saved_to is None:
        note = (
            paint.bold("Note:") + " You didn't use the --out option to save this plan, so "
            "catalogctl can't guarantee\nto take exactly these actions if you run "
            '"catalogctl apply" now.'
        )
        return HRULE + "\n\n" + note
    command = "catalogctl apply " + clean_text(shlex.quote(saved_to))
    return (
        f"{HRULE}\n\nSaved the plan to: {clean_text(saved_to)}\n\n"
        f"To perform exactly these actions, run: {command}"
    )
