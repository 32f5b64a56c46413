"""``catalogctl get instances|bindings``: svcat's tables, from state (live with --refresh).

State knows every instance and binding catalogctl manages, their status and
any operation in flight, so the tables need no broker or cluster; with
``--refresh`` the brokers are asked (read-only) whether each still exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import namespace_option, run_options_only

if TYPE_CHECKING:
    from catalogctl.plan.inputs import ObservedResource
    from catalogctl.state.models import ResourceState, State

_KINDS = {"instances": "ServiceInstance", "bindings": "ServiceBinding"}

#: status -> (instance wording, binding wording)
_STATUS = {
    "ready": ("Ready", "Ready"),
    "creating": ("Provisioning", "Binding"),
    "updating": ("Updating", "Updating"),
    "deleting": ("Deprovisioning", "Unbinding"),
    "tainted": ("Failed", "Failed"),
}


def status_text(res: ResourceState, seen: ObservedResource | None = None) -> str:
    """svcat's STATUS column: what state says, or what the broker said with --refresh."""
    if seen is not None and seen.exists is False:
        return "Deleted outside catalogctl"
    words = _STATUS.get(res.status.value, (res.status.value, res.status.value))
    text = words[0 if res.kind == "ServiceInstance" else 1]
    if res.retiring:
        # A stopped rotation: the old bindings are still bound until an apply unbinds them.
        n = len(res.retiring)
        text += f" ({n} old binding{'s' if n > 1 else ''} to unbind)"
    return text


def observe(params: dict[str, Any], state: State, addresses: list[str]) -> dict[str, Any]:
    """Live observations of ``addresses`` (read-only broker calls), for --refresh."""
    if not params.get("refresh"):
        return {}
    from catalogctl.cli.session import build_session

    session = build_session(console_of(click.get_current_context()), params)
    return session.observe(state, addresses)


def display_value(res: ResourceState, key: str) -> str:
    """A value of the resource's display attributes (class, plan, secret_name), or ``-``."""
    display = res.attributes.get("display")
    value = display.get(key) if isinstance(display, dict) else None
    return str(value) if value else "-"


@click.command()
@click.argument("what", type=click.Choice(sorted(_KINDS)), metavar="instances|bindings")
@namespace_option("Only this namespace.")
@click.option("-A", "--all-namespaces", is_flag=True, help="Every namespace.")
@click.option("--refresh", is_flag=True, help="Ask the brokers (read-only) for the live status.")
@run_options_only("state_dir", "kubeconfig", "kube_context", "cluster_dir", "secrets_dir")
@click.pass_context
def get(ctx: click.Context, /, **params: Any) -> int:
    """List instances or bindings with their status, as `svcat get` did.

    Reads state only (no broker or cluster call) unless --refresh.
    """
    from catalogctl.cli.commands.catalog import render_table
    from catalogctl.cli.session import state_session

    console = console_of(ctx)
    state = state_session(console, params).read()
    kind = _KINDS[params["what"]]
    rows = [
        r
        for a, r in sorted(state.resources.items())
        if r.kind == kind and (params["all_namespaces"] or a.split("/")[1] == params["namespace"])
    ]
    seen = observe(params, state, [r.address for r in rows])
    if not rows:
        where = "any namespace" if params["all_namespaces"] else f"namespace {params['namespace']}"
        console.out(f"No {params['what']} in {where}.")
        return 0
    table: list[list[str]] = []
    for r in rows:
        _, ns, name = r.address.split("/")
        if kind == "ServiceInstance":
            table.append(
                [
                    name,
                    ns,
                    display_value(r, "class"),
                    display_value(r, "plan"),
                    status_text(r, seen.get(r.address)),
                ]
            )
        else:
            instance = next((d for d in r.depends_on if d.startswith("ServiceInstance/")), "-")
            secret = display_value(r, "secret_name")
            table.append(
                [name, ns, instance.rsplit("/", 1)[-1], secret, status_text(r, seen.get(r.address))]
            )
    headers = (
        ["NAME", "NAMESPACE", "CLASS", "PLAN", "STATUS"]
        if kind == "ServiceInstance"
        else ["NAME", "NAMESPACE", "INSTANCE", "SECRET", "STATUS"]
    )
    console.out(render_table(console, headers, table))
    return 0
