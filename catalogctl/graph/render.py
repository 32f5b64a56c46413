"""Text renderings of the graph: Graphviz DOT and Mermaid."""

from __future__ import annotations

from catalogctl.graph.dag import ResourceGraph
from catalogctl.model.address import Address


def to_dot(graph: ResourceGraph) -> str:
    lines = ["digraph catalogctl {", "  rankdir=LR;", "  node [shape=box];"]
    for node in graph.nodes:
        lines.append(f'  "{node}" [label="{node.kind}\\n{_short(node)}"];')
    for edge in graph.edges():
        lines.append(f'  "{edge.before}" -> "{edge.after}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _short(node: Address) -> str:
    return f"{node.namespace}/{node.name}" if node.namespace else node.name


def to_mermaid(graph: ResourceGraph) -> str:
    ids = {node: f"n{i}" for i, node in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        lines.append(f'  {ident}["{node.kind}<br/>{_short(node)}"]')
    for edge in graph.edges():
        lines.append(f"  {ids[edge.before]} --> {ids[edge.after]}")
    return "\n".join(lines) + "\n"
