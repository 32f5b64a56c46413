"""``catalogctl rotate``: new credentials for the named bindings, now."""

from __future__ import annotations

from typing import Any

import click

from catalogctl.cli.commands.apply import _common, _run
from catalogctl.cli.options import input_options, wait_options


@click.command()
@click.argument("bindings", nargs=-1, required=True, metavar="ServiceBinding/NS/NAME...")
@input_options
@_common
@wait_options
@click.pass_context
def rotate(ctx: click.Context, /, **params: Any) -> int:
    """Give the named bindings new credentials: apply, replacing each of them.

    The same as `apply --replace ADDR` for every ADDR: each binding is bound
    again with a new binding id, its Secret is rewritten and the workloads
    mapped to it roll; the plan lists them and asks for confirmation (unless
    --auto-approve). The rest of the configuration is planned as `apply`
    plans it.
    """
    from catalogctl.errors import UsageError

    bindings: tuple[str, ...] = params.pop("bindings")
    for address in bindings:
        if address.split("/", 1)[0] != "ServiceBinding":
            raise UsageError(
                f"rotate: {address!r} is not a binding; name ServiceBinding/NAMESPACE/NAME"
            )
    params["replace"] = (*(params.get("replace") or ()), *bindings)
    params["plan_file"] = None
    return _run(ctx, params, destroy=False)
