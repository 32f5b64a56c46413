"""``catalogctl output``: the credentials of bindings, masked unless asked for.

Credentials are never stored in state (architecture invariant 4), so unlike
``terraform output`` this cannot read values from the state file.  State
knows where they went, though: the binding's Secret and the key names written
to it.  Key names are shown from state alone, with no cluster access; values
are read from the Secret through the cluster target only with
``--show-secrets``, so a masked listing works (and leaks nothing) on a
machine that cannot reach the cluster at all.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import output_format, output_option, run_options_only

if TYPE_CHECKING:
    from catalogctl.engine.ports import ClusterPort
    from catalogctl.state.models import ResourceState, State


@dataclass
class BindingOutput:
    """What ``output`` reports for one binding; ``values`` only with --show-secrets."""

    address: str
    namespace: str
    secret_name: str | None
    keys: list[str] | None
    #: Why there is nothing to show (no Secret written yet), or None.
    missing: str | None = None
    values: dict[str, bytes] = field(default_factory=dict)


def _secret_of(state: State, binding: ResourceState) -> BindingOutput:
    """Locate a binding's Secret and its key names in state."""
    namespace = binding.address.split("/")[1]
    display = binding.attributes.get("display")
    name = display.get("secret_name") if isinstance(display, Mapping) else None
    if not isinstance(name, str) or not name:
        return BindingOutput(
            binding.address,
            namespace,
            None,
            None,
            missing="state does not record its Secret; run apply",
        )
    secret = state.get(f"Secret/{namespace}/{name}")
    keys = secret.attributes.get("keys") if secret is not None else None
    if secret is None or not isinstance(keys, list):
        why = (
            "its Secret has not been written yet; run apply"
            if binding.status.value == "ready"
            else f"the binding is {binding.status.value}; run apply"
        )
        return BindingOutput(binding.address, namespace, name, None, missing=why)
    return BindingOutput(binding.address, namespace, name, sorted(str(k) for k in keys))


def _read_values(cluster: ClusterPort, out: BindingOutput) -> None:
    """Read every key of the binding's Secret; a key that vanished is an error."""
    from catalogctl.errors import ClusterError

    assert out.secret_name is not None and out.keys is not None
    for key in out.keys:
        # The port raises its own error naming the Secret when it is gone;
        # a target that answers None for a missing key gets ours.
        value: bytes | None = cluster.read_secret_key(out.namespace, out.secret_name, key)
        if value is None:
            raise ClusterError(
                f"{out.address}: Secret {out.namespace}/{out.secret_name} has no key {key!r} any "
                "more (changed outside catalogctl?); run apply to write it again"
            )
        out.values[key] = value


def _text(value: bytes) -> str | None:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def render_human(outputs: list[BindingOutput], show_secrets: bool) -> str:
    """One block per binding: ``key = (sensitive value)`` or the value with --show-secrets."""
    from catalogctl.cli.views.values import SENSITIVE_TEXT, clean_text, format_key, format_scalar

    blocks = []
    for out in outputs:
        if out.keys is None:
            blocks.append(f"# {out.address}: (no credentials: {out.missing})")
            continue
        lines = [f"# {out.address} (Secret {out.namespace}/{clean_text(out.secret_name or '')}):"]
        width = max((len(format_key(k)) for k in out.keys), default=0)
        for key in out.keys:
            if not show_secrets:
                shown = SENSITIVE_TEXT
            else:
                raw = out.values[key]
                text = _text(raw)
                shown = (
                    format_scalar(text)
                    if text is not None
                    else f"(binary, base64) {format_scalar(base64.b64encode(raw).decode())}"
                )
            lines.append(f"    {format_key(key).ljust(width)} = {shown}")
        if not out.keys:
            lines.append("    # (the Secret has no keys)")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def render_json(outputs: list[BindingOutput], show_secrets: bool) -> dict[str, Any]:
    """``{address: {secret, keys, sensitive, values}}``; values are null unless shown.

    Values that are not UTF-8 text are given base64-encoded and listed in
    ``base64_keys``, so every value is a JSON string.
    """
    doc: dict[str, Any] = {}
    for out in outputs:
        entry: dict[str, Any] = {
            "secret": f"{out.namespace}/{out.secret_name}" if out.secret_name else None,
            "keys": out.keys,
            "sensitive": True,
            "values": None,
        }
        if out.keys is None:
            entry["missing"] = out.missing
        elif show_secrets:
            values: dict[str, str] = {}
            encoded: list[str] = []
            for key in out.keys:
                text = _text(out.values[key])
                if text is None:
                    encoded.append(key)
                    text = base64.b64encode(out.values[key]).decode()
                values[key] = text
            entry["values"] = values
            entry["base64_keys"] = encoded
        doc[out.address] = entry
    return doc


@click.command()
@click.argument("address", required=False, metavar="[ADDR]")
@run_options_only("state_dir", "kubeconfig", "kube_context", "cluster_dir", "secrets_dir")
@click.option(
    "-n",
    "--namespace",
    default="default",
    show_default=True,
    envvar="CATALOGCTL_NAMESPACE",
    help="Namespace of ADDR when it is given as ServiceBinding/name.",
)
@click.option(
    "--show-secrets",
    is_flag=True,
    help="Read the values from the binding's Secret in the cluster and print them.",
)
@output_option("human", "json", flags=("--json",))
@click.pass_context
def output(ctx: click.Context, /, **params: Any) -> int:
    """Show the credentials of ServiceBinding ADDR (every binding if omitted).

    Key names come from state; values are masked as (sensitive value)
    unless --show-secrets, which reads them from the binding's Secret in the
    cluster (state never holds them). Exit codes: 0 success, 1 error.
    """
    from catalogctl.cli.session import state_session
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address

    console = console_of(ctx)
    fmt = output_format(params)
    from catalogctl.cli.namespaces import resolve_namespace

    resolve_namespace(ctx, params)
    state = state_session(console, params).read()
    if params["address"]:
        try:
            address = str(Address.parse(params["address"], params["namespace"]))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not address.startswith("ServiceBinding/"):
            raise UsageError(
                f"{address}: output shows the credentials of ServiceBinding addresses only"
            )
        binding = state.get(address)
        if binding is None:
            raise UsageError(
                f"{address} is not in the state (see `catalogctl state list ServiceBinding/`)"
            )
        outputs = [_secret_of(state, binding)]
        if outputs[0].keys is None:
            raise UsageError(f"{address}: no credentials to show: {outputs[0].missing}")
    else:
        outputs = [
            _secret_of(state, state.resources[a])
            for a in state.addresses()
            if a.startswith("ServiceBinding/")
        ]
    show_secrets = bool(params["show_secrets"])
    if show_secrets and any(o.keys for o in outputs):
        from catalogctl.cli.session import build_session

        session = build_session(console, params, params["namespace"])
        for out in outputs:
            if out.keys is not None:
                _read_values(session.cluster, out)
    if fmt == "json":
        console.out(json.dumps(render_json(outputs, show_secrets), indent=2, sort_keys=True))
        return 0
    if not outputs:
        console.out("No bindings in the state.")
        return 0
    console.out(render_human(outputs, show_secrets))
    if not show_secrets and any(o.keys for o in outputs):
        console.err("Values are hidden; pass --show-secrets to read them from the cluster.")
    return 0
