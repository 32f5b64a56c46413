"""``catalogctl validate``: check input without contacting brokers or clusters."""

from __future__ import annotations

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import input_options


@click.command()
@input_options
@click.pass_context
def validate(
    ctx: click.Context, filenames: tuple[str, ...], namespace: str, strict_kinds: bool
) -> None:
    """Check desired-state YAML and report every problem.

    Reads files, directories (recursively, *.yaml and *.yml, sorted) or - for
    stdin. Problems are printed as file:line:column: resource: field: message.
    Makes no broker or cluster call. Exit 0 when valid, 1 otherwise.
    """
    from catalogctl.engine.inputs import load_inputs

    console = console_of(ctx)
    inputs = load_inputs(filenames, namespace, strict_kinds)
    for obj in inputs.desired.ignored:
        console.err(f"{obj.file}:{obj.line}: ignored {obj} (not managed by catalogctl)")
    counts: dict[str, int] = {}
    for address in inputs.desired.resources:
        counts[address.kind] = counts.get(address.kind, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    n = len(inputs.desired)
    console.out(
        f"Valid: {n} resource{'s' if n != 1 else ''}" + (f" ({summary})." if summary else ".")
    )
