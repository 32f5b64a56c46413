"""``catalogctl graph``: print the dependency graph."""

from __future__ import annotations

import click

from catalogctl.cli.console import console_of
from catalogctl.cli.options import input_options


@click.command()
@input_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dot", "mermaid", "order"]),
    default="dot",
    show_default=True,
    help="dot (Graphviz), mermaid, or order (creation order, one address a line).",
)
@click.pass_context
def graph(
    ctx: click.Context, filenames: tuple[str, ...], namespace: str, strict_kinds: bool, fmt: str
) -> None:
    """Print the dependency graph (DOT or Mermaid).

    Edges run from what must exist first: broker -> instance -> binding ->
    binding Secret -> PodMapping. Deletion walks them in reverse.
    """
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.graph.render import to_dot, to_mermaid

    g = load_inputs(filenames, namespace, strict_kinds).graph
    console = console_of(ctx)
    if fmt == "dot":
        console.out(to_dot(g), nl=False)
    elif fmt == "mermaid":
        console.out(to_mermaid(g), nl=False)
    else:
        for address in g.creation_order():
            console.out(str(address))
