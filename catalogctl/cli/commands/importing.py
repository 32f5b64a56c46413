"""``catalogctl import``: adopt service instances and bindings that already exist.

``import ADDR ID`` adopts one; ``import -f FILES`` (no arguments) adopts every
instance and binding whose manifest carries ``spec.externalID``, instances
first.  The engine builds the records (:mod:`catalogctl.engine.adoption`) and
records them through the journal under the lock, like any apply step
(:meth:`catalogctl.engine.session.Session.import_resources`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import input_options, run_options

if TYPE_CHECKING:
    from catalogctl.engine.adoption import Imported

_KINDS = ("ServiceInstance", "ServiceBinding")


def _report(console: Console, imported: Imported) -> None:
    res = imported.resource
    if res.kind == "Secret":
        console.out(f"{res.address}: Import complete (kept as it is)")
        return
    what = (
        f"instance {res.instance_id}"
        if res.kind == "ServiceInstance"
        else f"binding {res.binding_id} of instance {res.instance_id}"
    )
    console.out(f"{res.address}: Import complete ({what}, plan {res.plan_id})")
    for note in imported.notes:
        console.err(f"Note: {res.address}: {note}.")


@click.command("import")
@click.argument("address", metavar="[ADDR", required=False)
@click.argument("osb_id", metavar="ID]", required=False)
@input_options
@run_options
@click.pass_context
def import_(ctx: click.Context, /, **params: Any) -> int:
    """Adopt existing service instances and bindings by their OSB ids.

    With ADDR and ID: ADDR must be a ServiceInstance or ServiceBinding in the
    desired state (-f); ID is the instance id, or for a binding the binding id
    (its instance must be imported first); an ID that contradicts the
    manifest's spec.externalID is refused. Without them: every instance and
    binding in -f that carries spec.externalID is imported, instances first.
    The broker is asked, read-only, whether it knows each id and on which
    plan; a different plan is refused. Nothing is created or changed at the
    broker. Exit codes: 0 imported, 1 error.
    """
    from catalogctl.cli.session import build_session
    from catalogctl.engine.adoption import check_manifest_id, external_ids
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address

    console = console_of(ctx)
    from catalogctl.cli.namespaces import resolve_namespace

    resolve_namespace(ctx, params)
    inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    wanted: list[tuple[str, str]]
    if params["address"] is None:
        wanted = external_ids(inputs)
        if not wanted:
            raise UsageError(
                "no ServiceInstance or ServiceBinding in the input sets spec.externalID; "
                "import one with `catalogctl import ADDR ID`"
            )
    else:
        osb_id = params["osb_id"] or ""
        if not osb_id.strip():
            raise UsageError(
                "ID must not be empty (import ADDR ID, or -f alone for every "
                "manifest with spec.externalID)"
            )
        try:
            parsed = Address.parse(params["address"], params["namespace"])
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if parsed.kind not in _KINDS:
            raise UsageError(
                f"cannot import {parsed}: only ServiceInstance and ServiceBinding addresses "
                "can be imported (the rest is derived from them by apply)"
            )
        check_manifest_id(inputs, parsed, osb_id)
        wanted = [(str(parsed), osb_id)]
    session = build_session(console, params, params["namespace"])
    imported = session.import_resources(inputs, wanted, skip_tracked=params["address"] is None)
    if not imported:
        return 0
    for each in imported:
        _report(console, each)
    console.out("")
    console.out(console.style("Import successful!", fg="green", bold=True))
    console.out("")
    names = ", ".join(each.resource.address for each in imported)
    console.out(f"{names} now in the state and managed by catalogctl.")
    console.out('Run "catalogctl plan" to see whether it matches the configuration.')
    return 0
