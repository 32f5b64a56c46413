"""``catalogctl show``: the current state, or a saved plan, for people and for tools.

The human view of a resource is shared with ``catalogctl state show``; it is
built from what state holds and nothing else, so it can be run without broker
or cluster access.  State never holds a credential, and parameters that came
from Secrets are stored as key names only: those keys print as
``(sensitive value)``, so a reader can see that a value exists without the
view ever being able to show it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import output_format, output_option, state_location_options

if TYPE_CHECKING:
    from catalogctl.state.models import ResourceState, State

#: Attributes that are engine bookkeeping (or shown elsewhere in the block),
#: not facts a reader acts on: ``broker_record`` becomes ``broker_url``,
#: ``display`` is merged into the block, ``keys`` become ``data``.
_HIDDEN_ATTRIBUTES = frozenset({"broker_record", "display", "checksum", "data_hash", "keys"})

_INDENT = "    "


def _scalar(value: Any) -> str:
    """JSON text for a leaf: quoted strings with control characters escaped."""
    from catalogctl.cli.views.values import format_scalar

    return format_scalar(value)


def _key(key: str | int) -> str:
    from catalogctl.cli.views.values import format_key

    return format_key(key)


def _value_lines(value: Any, level: int, sensitive: frozenset[str] = frozenset()) -> list[str]:
    """A value as HCL-like lines; the first line continues after ``key = ``.

    ``sensitive`` names top-level keys of a mapping whose values must print
    as ``(sensitive value)`` whatever they hold (they hold nothing in state,
    but the marker must not depend on that).
    """
    from catalogctl.cli.views.values import SENSITIVE_TEXT

    pad = _INDENT * (level + 1)
    if isinstance(value, Mapping):
        keys = sorted(set(value) | sensitive)
        if not keys:
            return ["{}"]
        width = max(len(_key(k)) for k in keys)
        lines = ["{"]
        for k in keys:
            if k in sensitive:
                lines.append(f"{pad}{_key(k).ljust(width)} = {SENSITIVE_TEXT}")
                continue
            inner = _value_lines(value[k], level + 1)
            lines.append(f"{pad}{_key(k).ljust(width)} = {inner[0]}")
            lines.extend(inner[1:])
        lines.append(_INDENT * level + "}")
        return lines
    if isinstance(value, list | tuple):
        if not any(isinstance(item, Mapping | list | tuple) for item in value):
            return ["[" + ", ".join(_scalar(item) for item in value) + "]"]
        lines = ["["]
        for item in value:
            inner = _value_lines(item, level + 1)
            inner[0] = pad + inner[0]
            inner[-1] += ","
            lines.extend(inner)
        lines.append(_INDENT * level + "]")
        return lines
    return [_scalar(value)]


def _operation_text(res: ResourceState) -> str | None:
    op = res.operation
    if op is None:
        return None
    started = op.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if op.operation is not None:
        detail = f"broker operation {json.dumps(op.operation, ensure_ascii=False)}"
    elif op.request_sent:
        detail = "request sent, no operation string"
    else:
        detail = "intent recorded, request not yet sent"
    return f"{op.kind.value} in progress since {started} ({detail})"


def resource_fields(res: ResourceState) -> list[tuple[str, Any, frozenset[str]]]:
    """The (name, value, sensitive keys) rows of a resource, in reading order.

    Ids and where the resource lives first, then what was asked of the
    broker, then bookkeeping; empty fields are left out so a Secret or a
    PodMapping block does not list a dozen nulls.
    """
    rows: list[tuple[str, Any, frozenset[str]]] = []
    none: frozenset[str] = frozenset()

    def add(name: str, value: Any, sensitive: frozenset[str] = none) -> None:
        if value is None or value == "" or (value in ({}, [], ()) and not sensitive):
            return
        if any(name == existing for existing, _, _ in rows):
            return
        rows.append((name, value, sensitive))

    attrs = res.attributes
    display = attrs.get("display")
    display = display if isinstance(display, Mapping) else {}
    add("status", res.status.value)
    add("instance_id", res.instance_id)
    add("binding_id", res.binding_id)
    add("broker", res.broker)
    record = attrs.get("broker_record")
    if isinstance(record, Mapping):
        add("broker_url", record.get("url"))
    if res.kind == "ServiceInstance":
        add("class", display.get("class"))
        add("plan", display.get("plan"))
    add("service_id", res.service_id)
    add("plan_id", res.plan_id)
    if res.kind in ("ServiceInstance", "ServiceBinding"):
        add("parameters", dict(res.parameters), frozenset(res.sensitive_parameter_keys))
    if res.kind == "ServiceBinding":
        add("instance", display.get("instance"))
        add("secret_name", display.get("secret_name"))
        add("credentials", "(sensitive value)" if res.credentials_hash else None)
    add("dashboard_url", res.dashboard_url)
    add("maintenance_info_version", res.maintenance_info_version)
    if not res.instance_usable:
        add("instance_usable", False)
    if res.kind == "Secret":
        keys = attrs.get("keys")
        if isinstance(keys, list):
            add("data", {}, frozenset(str(k) for k in keys))
    for name in sorted(attrs):
        if name not in _HIDDEN_ATTRIBUTES:
            add(name, attrs[name])
    for name in sorted(display):
        add(name, display[name])
    add("depends_on", list(res.depends_on))
    return rows


def render_resource(res: ResourceState) -> str:
    """One resource as a block headed ``# ADDRESS:`` (no trailing newline)."""
    from catalogctl.cli.views.values import SENSITIVE_TEXT, clean_text

    rows = resource_fields(res)
    width = max(len(name) for name, _, _ in rows)
    lines = [f"# {clean_text(res.address)}:"]
    for name, value, sensitive in rows:
        body = [SENSITIVE_TEXT] if name == "credentials" else _value_lines(value, 1, sensitive)
        lines.append(f"{_INDENT}{name.ljust(width)} = {body[0]}")
        lines.extend(body[1:])
    operation = _operation_text(res)
    if operation is not None:
        lines.append(f"{_INDENT}# in-flight operation: {clean_text(operation)}")
    if res.orphan_mitigation_pending:
        lines.append(
            f"{_INDENT}# orphan mitigation pending: the next apply deletes what the broker may "
            "hold before anything else"
        )
    return "\n".join(lines)


def render_state(state: State) -> str:
    """Every resource, one block each, in address order (no trailing newline)."""
    if not state.resources:
        return "The state is empty: catalogctl manages no resources here yet."
    return "\n\n".join(render_resource(state.resources[a]) for a in state.addresses())


@click.command()
@click.argument("plan_file", required=False, metavar="[PLAN_FILE]")
@state_location_options
@output_option("human", "json", "yaml", "markdown", flags=("--json",))
@click.pass_context
def show(ctx: click.Context, /, **params: Any) -> int:
    """Show the current state, or a saved plan file.

    Without PLAN_FILE: every resource in state with its ids, broker, plan and
    non-sensitive parameters. With PLAN_FILE (from `plan --out`): the plan,
    as `plan` printed it. Reads files only; makes no broker or cluster call.
    Exit codes: 0 success, 1 error.
    """
    console = console_of(ctx)
    fmt = output_format(params)
    if params["plan_file"]:
        from catalogctl.engine.session import read_plan_file

        plan = read_plan_file(params["plan_file"])
        if fmt != "human":
            from catalogctl.cli.commands.plan import render_plan_as

            console.out(render_plan_as(plan, fmt))
        else:
            from catalogctl.cli.views.plan_human import render_plan

            console.out(render_plan(plan, color=console.color_enabled(), show_footer=False))
        return 0
    from catalogctl.cli.session import state_session

    state = state_session(console, params).read()
    if fmt == "markdown":
        from catalogctl.errors import UsageError

        raise UsageError("-o markdown shows a saved plan: pass PLAN_FILE")
    if fmt == "json":
        console.out(state.to_json(), nl=False)
    elif fmt == "yaml":
        import yaml

        console.out(yaml.safe_dump(json.loads(state.to_json()), sort_keys=True), nl=False)
    else:
        console.out(render_state(state))
    return 0
