"""``catalogctl import``: adopt a service instance or binding that already exists.

Migrating from Service Catalog (or recovering after ``state rm``) means
taking over broker resources catalogctl did not create; the engine does it
(:meth:`catalogctl.engine.session.Session.import_resource`).  The next plan
then treats the resource like anything catalogctl provisioned itself: no
change when it matches the configuration, an in-place update when its live
parameters differ, never a second provision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import input_options, run_options

if TYPE_CHECKING:
    from catalogctl.engine.importing import Imported

_KINDS = ("ServiceInstance", "ServiceBinding")


def _report(console: Console, imported: Imported) -> None:
    res = imported.resource
    what = (
        f"instance {res.instance_id}"
        if res.kind == "ServiceInstance"
        else f"binding {res.binding_id} of instance {res.instance_id}"
    )
    console.out(f"{res.address}: Import complete ({what}, plan {res.plan_id})")
    for note in imported.notes:
        console.err(f"Note: {res.address}: {note}.")
    console.out("")
    console.out(console.style("Import successful!", fg="green", bold=True))
    console.out("")
    console.out(f"{res.address} is now in the state and will be managed by catalogctl.")
    console.out('Run "catalogctl plan" to see whether it matches the configuration.')


@click.command("import")
@click.argument("address", metavar="ADDR")
@click.argument("osb_id", metavar="ID")
@input_options
@run_options
@click.pass_context
def import_(ctx: click.Context, /, **params: Any) -> int:
    """Adopt an existing service instance or binding by its OSB id.

    ADDR must be a ServiceInstance or ServiceBinding in the desired state
    (-f); ID is the instance id, or for a binding the binding id (its
    instance must be imported first). The broker is asked, read-only, whether
    it knows the id and on which plan; a different plan is refused. Nothing
    is created or changed at the broker. Exit codes: 0 imported, 1 error.
    """
    from catalogctl.cli.session import build_session
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address

    console = console_of(ctx)
    from catalogctl.cli.namespaces import resolve_namespace

    resolve_namespace(ctx, params)
    osb_id: str = params["osb_id"]
    if not osb_id.strip():
        raise UsageError("ID must not be empty")
    try:
        parsed = Address.parse(params["address"], params["namespace"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    address = str(parsed)
    if parsed.kind not in _KINDS:
        raise UsageError(
            f"cannot import {address}: only ServiceInstance and ServiceBinding addresses "
            "can be imported (the rest is derived from them by apply)"
        )
    inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    if inputs.desired.get(parsed) is None:
        raise UsageError(
            f"cannot import {address}: it is not in the desired state (-f); "
            "add it to the YAML first, so catalogctl knows how it should look"
        )
    session = build_session(console, params, params["namespace"])
    console.out(f'{address}: Importing from ID "{osb_id}"...')
    _report(console, session.import_resource(inputs, address, osb_id))
    return 0
