"""``catalogctl state``: look at state and repair it by hand (list, show, rm, mv).

These are Terraform's state surgery commands.  ``rm`` and ``mv`` change only
the state file: no broker or cluster is called, which is the point (``rm``
stops managing something without deleting it; ``mv`` follows a rename in YAML
so the next plan does not deprovision and provision again).  Both take the
state lock and go through the journal, so the change is crash-safe, bumps the
serial (saved plans made before it are refused) and leaves the previous state
in the ``.backup`` file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import (
    namespace_option,
    output_format,
    output_option,
    state_location_options,
)

if TYPE_CHECKING:
    from catalogctl.engine.state_session import StateSession
    from catalogctl.state.models import ResourceState, State

F = TypeVar("F", bound=Callable[..., Any])

#: What still exists outside catalogctl after ``state rm``, by kind.
_LEFT_BEHIND = {
    "ServiceInstance": "the service instance still exists at its broker",
    "ServiceBinding": "the binding still exists at its broker",
    "Secret": "the Secret still exists in the cluster",
    "PodMapping": "its entries are still in the workload",
    "ClusterServiceBroker": "the broker itself is not affected",
    "ServiceBroker": "the broker itself is not affected",
}

_BROKER_KINDS = ("ClusterServiceBroker", "ServiceBroker")


def _lock_options(func: F) -> F:
    func = click.option(
        "--lock-timeout",
        default="0s",
        show_default=True,
        help="How long to wait for the state lock (e.g. 30s, 5m).",
    )(func)
    return state_location_options(func)


_namespace_option = namespace_option("Namespace of addresses given as Kind/name.")


def canonical_address(text: str, namespace: str = "default") -> str:
    """``Kind/ns/name`` from user input (``Kind/name`` means namespace ``namespace``).

    The same parser as ``--target``, so an address copied from plan output or
    ``state list`` always works.
    """
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address

    try:
        return str(Address.parse(text, namespace))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _session(params: dict[str, Any]) -> StateSession:
    from catalogctl.cli.session import state_session

    return state_session(console_of(click.get_current_context()), params)


def _lookup(state: State, text: str, namespace: str = "default") -> ResourceState:
    from catalogctl.errors import UsageError
    from catalogctl.model.address import near_matches

    address = canonical_address(text, namespace)
    res = state.get(address)
    if res is None:
        near = near_matches(address, state.resources)
        hint = f"did you mean {' or '.join(near)}?" if near else "see `catalogctl state list`"
        raise UsageError(f"{address} is not in the state ({hint})")
    return res


@click.group()
def state() -> None:
    """Inspect, repair and move state: list, show, rm, mv, migrate.

    rm and mv change only the state (never a broker or the cluster), under the
    state lock; the previous state is kept in catalogctl.state.json.backup.
    """


@state.command("list")
@state_location_options
@click.argument("prefixes", nargs=-1, metavar="[ADDR-PREFIX]...")
@output_option("human", "json", "yaml")
@click.pass_context
def list_(ctx: click.Context, /, **params: Any) -> int:
    """Print tracked addresses, one per line, sorted (-o json/yaml: a list).

    With ADDR-PREFIX arguments, only addresses starting with one of them
    (e.g. `ServiceBinding/` or `ServiceInstance/team-a/`).
    """
    console = console_of(ctx)
    fmt = output_format(params)
    current = _session(params).read()
    prefixes: tuple[str, ...] = params["prefixes"]
    listed = [a for a in current.addresses() if not prefixes or a.startswith(prefixes)]
    if fmt == "json":
        console.out(json.dumps(listed, indent=2))
    elif fmt == "yaml":
        import yaml

        console.out(yaml.safe_dump(listed), nl=False)
    else:
        for address in listed:
            console.out(address)
    return 0


@state.command("show")
@state_location_options
@_namespace_option
@click.argument("address", metavar="ADDR")
@output_option("human", "json", "yaml", flags=("--json",))
@click.pass_context
def show_(ctx: click.Context, /, **params: Any) -> int:
    """Show one resource in state (human, or -o json/yaml as stored)."""
    from catalogctl.cli.commands.show import render_resource

    console = console_of(ctx)
    fmt = output_format(params)
    res = _lookup(_session(params).read(), params["address"], params["namespace"])
    if fmt == "json":
        console.out(json.dumps(json.loads(res.model_dump_json()), indent=2))
    elif fmt == "yaml":
        import yaml

        console.out(yaml.safe_dump(json.loads(res.model_dump_json()), sort_keys=True), nl=False)
    else:
        console.out(render_resource(res))
    return 0


def _dependents(current: State, address: str, leaving: set[str]) -> list[str]:
    return sorted(
        a for a, r in current.resources.items() if address in r.depends_on and a not in leaving
    )


@state.command("rm")
@_lock_options
@_namespace_option
@click.argument("addresses", nargs=-1, required=True, metavar="ADDR...")
@click.option("--dry-run", is_flag=True, help="Print what would be removed; change nothing.")
@click.pass_context
def rm(ctx: click.Context, /, **params: Any) -> int:
    """Stop managing resources: forget them in state, leave brokers and cluster alone.

    The broker resource (or cluster object) keeps existing and is no longer
    deleted by destroy; adopt it again with `catalogctl import`. All
    addresses must be in state, or nothing is removed.
    """
    console = console_of(ctx)
    with _session(params).editing("state rm") as edit:
        current, ns = edit.state, params["namespace"]
        targets = sorted({_lookup(current, a, ns).address for a in params["addresses"]})
        if params["dry_run"]:
            for address in targets:
                console.out(f"Would remove {address}")
            return 0
        edit.commit(forget=targets)
    for address in targets:
        console.out(f"Removed {address}")
    n = len(targets)
    console.out(f"Successfully removed {n} resource{'s' if n != 1 else ''} from the state.")
    for address in targets:
        res = current.resources[address]
        _warn_left_behind(console, res, _dependents(current, address, set(targets)))
    return 0


def _warn_left_behind(console: Console, res: ResourceState, dependents: list[str]) -> None:
    ids = [
        f"{name} {value}"
        for name, value in (
            ("instance", res.instance_id if res.kind == "ServiceInstance" else None),
            ("binding", res.binding_id),
        )
        if value
    ]
    where = f" ({', '.join(ids)})" if ids else ""
    console.err(
        f"Warning: {res.address}: {_LEFT_BEHIND.get(res.kind, 'it still exists')}{where}; "
        "catalogctl no longer manages or deletes it."
    )
    if dependents:
        console.err(
            f"Warning: {res.address}: still named as a dependency by {', '.join(dependents)}."
        )


@state.command("mv")
@_lock_options
@_namespace_option
@click.argument("source", metavar="SRC")
@click.argument("destination", metavar="DST")
@click.option("--dry-run", is_flag=True, help="Print what would be moved; change nothing.")
@click.pass_context
def mv(ctx: click.Context, /, **params: Any) -> int:
    """Rename SRC to DST in state, e.g. after renaming a resource in YAML.

    Both must be of the same kind and DST must not be in state. Resources
    that depended on SRC are updated to depend on DST. A broker may be moved
    even though brokers are not tracked themselves: the instances and
    bindings that name it follow. Secrets cannot be moved: their address is
    the object's name in the cluster.
    """
    from catalogctl.engine.state_session import moved_to, references_moved
    from catalogctl.errors import UsageError

    console = console_of(ctx)
    src = canonical_address(params["source"], params["namespace"])
    dst = canonical_address(params["destination"], params["namespace"])
    src_kind, dst_kind = src.split("/", 1)[0], dst.split("/", 1)[0]
    if src == dst:
        raise UsageError(f"{src} and {dst} are the same address")
    if src_kind != dst_kind:
        raise UsageError(
            f"cannot move {src} to {dst}: a {src_kind} can only move to a {src_kind} address"
        )
    if src_kind == "Secret":
        raise UsageError(
            f"cannot move {src}: a Secret's address is its name in the cluster; change the "
            "binding's spec.secretName instead and apply"
        )
    with _session(params).editing("state mv") as edit:
        current = edit.state
        res = current.get(src)
        others = (r for a, r in sorted(current.resources.items()) if a != src)
        updates = [u for u in (references_moved(r, src, dst) for r in others) if u is not None]
        if res is None and not (src_kind in _BROKER_KINDS and updates):
            raise UsageError(f"{src} is not in the state (see `catalogctl state list`)")
        if current.get(dst) is not None:
            raise UsageError(f"cannot move {src} to {dst}: {dst} is already in the state")
        if params["dry_run"]:
            console.out(f"Would move {src} to {dst}")
            for u in updates:
                console.out(f"Would update references in {u.address}")
            return 0
        if res is None:
            edit.commit(record=updates)
        else:
            edit.commit(record=[moved_to(res, src, dst), *updates], forget=[src])
    console.out(f"Moved {src} to {dst}")
    for u in updates:
        console.out(f"Updated references in {u.address}")
    _note_cluster_owner(console, current, res, src)
    return 0


def _note_cluster_owner(
    console: Console, current: State, res: ResourceState | None, src: str
) -> None:
    """Say which cluster objects still carry the old address as their owner mark."""
    if res is None:
        return
    owned: list[str] = []
    if res.kind == "ServiceBinding":
        owned = [
            a
            for a, r in current.resources.items()
            if r.kind == "Secret" and r.attributes.get("binding") == src
        ]
    elif res.kind == "PodMapping":
        target = res.attributes.get("target")
        owned = [f"{target} in namespace {src.split('/')[1]}"] if target else []
    for what in owned:
        console.err(
            f"Note: {what} is still marked in the cluster as managed for {src}; "
            "if a later apply refuses to change it for that reason, delete the mark or "
            "the object and apply again."
        )


@state.command("migrate")
@_lock_options
@click.option(
    "--to",
    "to",
    required=True,
    metavar="STATE",
    help="Where to copy the state: a directory, postgresql://… or kubernetes://….",
)
@click.option("--force", is_flag=True, help="Replace a state already stored at --to.")
@click.pass_context
def migrate(ctx: click.Context, /, **params: Any) -> int:
    """Copy the state, with its lineage and serial, to another backend.

    Both states are locked while copying. A --to that already holds a state
    is refused unless --force. The source is left unchanged: point every
    pipeline at --to, then remove the old state. Saved plans stay valid.
    """
    console = console_of(ctx)
    source = _session(params)
    target = _session({**params, "state_dir": params["to"]})
    copied = source.migrate_to(target, force=bool(params["force"]))
    n = len(copied.resources)
    console.out(
        f"Copied {n} resource{'s' if n != 1 else ''} (lineage {copied.lineage}, serial "
        f"{copied.serial}) from {source.describe()} to {target.describe()}."
    )
    console.out(f"{source.describe()} is unchanged; remove it once nothing uses it.")
    return 0
