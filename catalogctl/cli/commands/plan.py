"""``catalogctl plan``: show what apply would do."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import (
    allow_empty_option,
    input_options,
    output_format,
    output_option,
    plan_options,
    rotation_options,
    run_options,
)


def diff_options(
    params: dict[str, Any], *, destroy: bool = False, refresh_only: bool = False
) -> Any:
    """DiffOptions from flags; --target/--replace addresses are checked here."""
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address
    from catalogctl.plan.inputs import DiffOptions

    namespace = params.get("namespace") or "default"

    def addresses(values: tuple[str, ...], flag: str) -> frozenset[str]:
        out = set()
        for value in values:
            try:
                out.add(str(Address.parse(value, namespace)))
            except ValueError as exc:
                raise UsageError(f"{flag}: {exc}") from None
        return frozenset(out)

    if refresh_only and not params.get("refresh", True):
        raise UsageError("--refresh-only cannot be combined with --no-refresh")
    targets = addresses(params.get("targets") or (), "--target")
    rotate = params.get("rotate_older_than")
    return DiffOptions(
        destroy=destroy,
        refresh_only=refresh_only,
        upgrade=bool(params.get("upgrade")),
        targets=targets or None,
        replace=addresses(params.get("replace") or (), "--replace"),
        allow_empty=bool(params.get("allow_empty")),
        rotate_older_than=parse_age(rotate) if rotate else None,
        now=datetime.now(UTC) if rotate else None,
    )


def render_plan_as(plan: Any, fmt: str) -> str:
    """A plan as ``json``, ``yaml`` (the JSON document) or ``markdown``."""
    if fmt == "markdown":
        from catalogctl.cli.views import render_plan_markdown

        return str(render_plan_markdown(plan))
    from catalogctl.cli.views.plan_json import render_plan_json

    document = render_plan_json(plan)
    if fmt == "yaml":
        import yaml

        return str(yaml.safe_dump(document, sort_keys=True)).rstrip("\n")
    return json.dumps(document, indent=2, sort_keys=True)


def new_state_notice(plan: Any, where: str) -> str | None:
    """The one line that says the state does not exist yet (so everything is new).

    A mistyped --state otherwise looks like an ordinary first plan.
    """
    from catalogctl.plan.model import Mode

    if plan.serial != 0 or plan.mode is Mode.DESTROY:
        return None
    return f"no {where} yet: everything below is new"


TARGETING_WARNING = """\
Warning: Resource targeting is in effect

You are creating a plan with --target, which means that the result of this plan may not
represent all of the changes requested by the current configuration. --target is for
exceptional situations, such as recovering from errors or mistakes, not for routine use.
"""


def plan_notices(plan: Any, where: str, targeted: bool) -> list[str]:
    """What is said before a plan: a state that does not exist yet, targeting in effect."""
    notices = []
    notice = new_state_notice(plan, where)
    if notice:
        notices.append(notice)
    if targeted:
        notices.append(TARGETING_WARNING)
    return notices


_AGE_PART = re.compile(r"(\d+)([wdhms])")
_AGE_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``1w``, ``1d12h``: an age for --rotate-older-than (days are 24h)."""
    from catalogctl.errors import UsageError

    parts = _AGE_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(
            f"--rotate-older-than: invalid age {text!r} (a number and a unit: "
            "w, d, h, m or s, e.g. 30d or 1d12h)"
        )
    seconds = sum(int(n) * _AGE_UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise UsageError(f"--rotate-older-than: the age must be more than zero, not {text!r}")
    return timedelta(seconds=seconds)


def expand_targets(inputs: Any, state: Any, options: Any) -> Any:
    """--target means the target plus everything it depends on (Terraform's rule)."""
    from dataclasses import replace

    from catalogctl.model.address import Address

    if options.targets is None or options.destroy:
        return options  # destroy targets grow by their dependents, in the diff
    keep = set(options.targets)
    graph = inputs.graph
    for target in options.targets:
        address = Address.parse(target)
        if address in graph:
            keep |= {str(a) for a in graph.ancestors(address)}
    return replace(options, targets=frozenset(keep))


@click.command()
@input_options
@run_options
@plan_options
@allow_empty_option
@rotation_options
@click.option(
    "--out",
    "out",
    metavar="FILE",
    help="Save the plan; apply it later with `catalogctl apply FILE`.",
)
@output_option("human", "json", "markdown", "yaml", flags=("--json", "--markdown"))
@click.option(
    "--detailed-exitcode", is_flag=True, help="Exit 0 with no changes, 1 on error, 2 with changes."
)
@click.option(
    "--refresh-only", is_flag=True, help="Only report drift between state and the live world."
)
@click.option("--destroy", is_flag=True, help="Plan to delete everything in state.")
@click.pass_context
def plan(ctx: click.Context, /, **params: Any) -> int:
    """Show what apply would do, without changing anything.

    Reads broker catalogs, state and (unless --no-refresh) live broker and
    cluster state; makes no mutating call. Exit codes: 0 success, 1 error,
    2 changes present (only with --detailed-exitcode).
    """
    from catalogctl.cli.namespaces import resolve_namespace
    from catalogctl.cli.session import build_session
    from catalogctl.cli.views.plan_human import render_plan
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.engine.session import write_plan_file

    console = console_of(ctx)
    fmt = output_format(params)
    resolve_namespace(ctx, params)
    inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    options = diff_options(params, destroy=params["destroy"], refresh_only=params["refresh_only"])
    options = expand_targets(inputs, None, options)
    session = build_session(console, params, params["namespace"])
    result = session.plan(inputs, options, refresh=params["refresh"])
    if params["out"]:
        write_plan_file(params["out"], result)
    for notice in plan_notices(result, session.backend.describe(), bool(params["targets"])):
        # Machine-readable output stays parseable: notices go to stderr there.
        if fmt != "human":
            console.err(notice)
        else:
            console.out(notice)
    if fmt == "human":
        console.out(render_plan(result, color=console.color_enabled(), saved_to=params["out"]))
    else:
        console.out(render_plan_as(result, fmt))
    if params["detailed_exitcode"] and result.has_changes:
        return 2
    return 0
