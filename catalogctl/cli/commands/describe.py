"""``catalogctl describe ServiceInstance/NS/NAME``: one instance or binding, as `svcat describe`.

Status, the last (or in-flight) operation, dashboard URL, parameters (values
from Secrets as ``(sensitive value)``) and, for an instance, its bindings, all
from state; ``--refresh`` adds what the broker says now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import namespace_option, run_options_only

if TYPE_CHECKING:
    from catalogctl.plan.inputs import ObservedResource
    from catalogctl.state.models import ResourceState


def _last_operation(res: ResourceState) -> str:
    from catalogctl.cli.commands.show import _operation_text

    in_flight = _operation_text(res)
    if in_flight is not None:
        return in_flight
    when = res.updated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if res.status.value == "tainted":
        return f"failed at {when} (the next apply replaces it)"
    return f"succeeded at {when}"


def _live(seen: ObservedResource | None) -> str:
    if seen is None:
        return "not checked (the broker cannot return it, or it is not ready)"
    if seen.exists is False:
        return f"deleted outside catalogctl ({seen.detail})"
    return "exists at the broker"


def render_description(
    res: ResourceState,
    bindings: list[ResourceState],
    seen: dict[str, ObservedResource] | None,
) -> str:
    from catalogctl.cli.commands.catalog import render_table
    from catalogctl.cli.commands.get import display_value, status_text
    from catalogctl.cli.console import Console
    from catalogctl.cli.views.values import SENSITIVE_TEXT, format_scalar

    _, ns, name = res.address.split("/")
    rows = [
        ("Name", name),
        ("Namespace", ns),
        ("Status", status_text(res, (seen or {}).get(res.address))),
        ("Last operation", _last_operation(res)),
    ]
    if seen is not None:
        rows.append(("Live", _live(seen.get(res.address))))
    if res.kind == "ServiceInstance":
        rows += [
            ("Class", display_value(res, "class")),
            ("Plan", display_value(res, "plan")),
            ("Broker", res.broker or "-"),
            ("Instance ID", res.instance_id or "-"),
            ("Dashboard URL", res.dashboard_url or "-"),
        ]
    else:
        instance = next((d for d in res.depends_on if d.startswith("ServiceInstance/")), "-")
        rows += [
            ("Instance", instance),
            ("Binding ID", res.binding_id or "-"),
            ("Secret", display_value(res, "secret_name")),
        ]
    width = max(len(k) for k, _ in rows) + 1
    lines = [f"{(k + ':').ljust(width)}  {v}" for k, v in rows]
    params = {**res.parameters, **dict.fromkeys(res.sensitive_parameter_keys, None)}
    lines.append("Parameters:" + ("" if params else " none"))
    for key in sorted(params):
        value = (
            SENSITIVE_TEXT if key in res.sensitive_parameter_keys else format_scalar(params[key])
        )
        lines.append(f"  {key}: {value}")
    if res.retiring:
        lines.append("Retiring bindings (still bound; the next apply unbinds them):")
        for r in res.retiring:
            since = r.since.strftime("%Y-%m-%dT%H:%M:%SZ") if r.since else "a time not recorded"
            sent = ", unbind sent" if r.operation is not None and r.operation.request_sent else ""
            lines.append(f"  {r.binding_id}  replaced at {since}{sent}")
    if res.kind == "ServiceInstance":
        if not bindings:
            lines.append("Bindings: none")
        else:
            lines.append("Bindings:")
            table = render_table(
                Console(color=False),
                ["NAME", "STATUS", "SECRET"],
                [
                    [
                        b.address.rsplit("/", 1)[-1],
                        status_text(b, (seen or {}).get(b.address)),
                        display_value(b, "secret_name"),
                    ]
                    for b in bindings
                ],
            )
            lines += [f"  {line}" for line in table.splitlines()]
    return "\n".join(lines)


@click.command()
@click.argument("address", metavar="KIND/NS/NAME")
@namespace_option("Namespace of ADDR given as Kind/name.")
@click.option("--refresh", is_flag=True, help="Ask the broker (read-only) for the live status.")
@run_options_only("state_dir", "kubeconfig", "kube_context", "cluster_dir", "secrets_dir")
@click.pass_context
def describe(ctx: click.Context, /, **params: Any) -> int:
    """Show one ServiceInstance or ServiceBinding, as `svcat describe` did.

    Status, last operation, dashboard URL, parameters and (for an instance)
    its bindings, from state; --refresh adds what the broker says now.
    """
    from catalogctl.cli.commands.get import observe
    from catalogctl.cli.commands.state_cmd import _lookup
    from catalogctl.cli.session import state_session
    from catalogctl.errors import UsageError

    console = console_of(ctx)
    state = state_session(console, params).read()
    res = _lookup(state, params["address"], params["namespace"])
    if res.kind not in ("ServiceInstance", "ServiceBinding"):
        raise UsageError(
            f"{res.address}: describe shows ServiceInstance and ServiceBinding addresses "
            "(see `catalogctl state show` for the rest)"
        )
    bindings = [
        r
        for _, r in sorted(state.resources.items())
        if r.kind == "ServiceBinding" and res.address in r.depends_on
    ]
    seen = (
        observe(params, state, [res.address, *(b.address for b in bindings)])
        if params["refresh"]
        else None
    )
    console.out(render_description(res, bindings, seen))
    return 0
