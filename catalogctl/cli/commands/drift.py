"""``catalogctl drift``: a read-only drift report for scheduled CI jobs."""

from __future__ import annotations

import json
from typing import Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import input_options, output_format, output_option, run_options


@click.command()
@input_options
@run_options
@output_option("human", "json", "markdown", "yaml", format_flag=True)
@click.pass_context
def drift(ctx: click.Context, /, **params: Any) -> int:
    """Report changes made outside catalogctl (plan --refresh-only --detailed-exitcode).

    Never changes anything and never produces an applyable plan. Exit codes:
    0 no drift, 1 error, 2 drift detected.
    """
    from catalogctl.cli.commands.plan import diff_options
    from catalogctl.cli.session import build_session
    from catalogctl.cli.views import render_drift_human, render_drift_json, render_drift_markdown
    from catalogctl.engine.inputs import load_inputs

    console = console_of(ctx)
    fmt = output_format(params)
    from catalogctl.cli.namespaces import resolve_namespace

    resolve_namespace(ctx, params)
    inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    session = build_session(console, params, params["namespace"])
    result = session.plan(inputs, diff_options(params, refresh_only=True), refresh=True)
    if fmt == "json":
        console.out(json.dumps(render_drift_json(result), indent=2, sort_keys=True))
    elif fmt == "yaml":
        import yaml

        console.out(yaml.safe_dump(render_drift_json(result), sort_keys=True), nl=False)
    elif fmt == "markdown":
        console.out(render_drift_markdown(result))
    else:
        console.out(render_drift_human(result, color=console.color_enabled()))
    return 2 if result.drift else 0
