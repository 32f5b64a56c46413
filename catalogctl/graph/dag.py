"""The resource dependency graph: networkx behind a small domain class.

Edges point from what must exist first to what needs it (broker → instance →
binding → binding Secret → PodMapping).  Deletion walks the same graph
reversed.  Keeping networkx behind this class means the rest of catalogctl
speaks addresses, not graph-library calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import networkx as nx

from catalogctl.model.address import KNOWN_KINDS, Address

_KIND_RANK = {kind: i for i, kind in enumerate(KNOWN_KINDS)}


def _sort_key(address: Address) -> tuple[int, str, str]:
    return (_KIND_RANK.get(address.kind, len(_KIND_RANK)), address.namespace, address.name)


@dataclass(frozen=True)
class Edge:
    """Why ``after`` depends on ``before``: the field of ``after`` that refers to it."""

    before: Address
    after: Address
    field: tuple[str | int, ...] = ()


class ResourceGraph:
    """A directed acyclic graph of resource addresses (cycles are reported, not allowed)."""

    def __init__(self) -> None:
        self._g: nx.DiGraph = nx.DiGraph()

    # -- building -------------------------------------------------------------
    def add_node(self, address: Address) -> None:
        self._g.add_node(address)

    def add_edge(self, before: Address, after: Address, field: tuple[str | int, ...] = ()) -> None:
        """Record that ``after`` needs ``before`` to exist first."""
        self._g.add_edge(before, after, field=field)

    # -- queries --------------------------------------------------------------
    def __contains__(self, address: object) -> bool:
        return address in self._g

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())

    @property
    def nodes(self) -> list[Address]:
        return sorted(self._g.nodes, key=_sort_key)

    def edges(self) -> Iterator[Edge]:
        for before, after, data in sorted(
            self._g.edges(data=True), key=lambda e: (_sort_key(e[0]), _sort_key(e[1]))
        ):
            yield Edge(before, after, data.get("field", ()))

    def edge(self, before: Address, after: Address) -> Edge:
        return Edge(before, after, self._g.edges[before, after].get("field", ()))

    def dependencies(self, address: Address) -> list[Address]:
        """Direct dependencies (what must exist before ``address``)."""
        return sorted(self._g.predecessors(address), key=_sort_key)

    def dependents(self, address: Address) -> list[Address]:
        """Direct dependents (what needs ``address``)."""
        return sorted(self._g.successors(address), key=_sort_key)

    def ancestors(self, address: Address) -> set[Address]:
        return set(nx.ancestors(self._g, address))

    def descendants(self, address: Address) -> set[Address]:
        return set(nx.descendants(self._g, address))

    def find_cycles(self) -> list[list[Address]]:
        """Every elementary cycle, each rotated to start at its smallest address."""
        if nx.is_directed_acyclic_graph(self._g):
            return []  # the common case, in linear time; cycle enumeration is not
        cycles = []
        for cycle in nx.simple_cycles(self._g):
            start = min(range(len(cycle)), key=lambda i: _sort_key(cycle[i]))
            cycles.append(cycle[start:] + cycle[:start])
        return sorted(cycles, key=lambda c: [_sort_key(a) for a in c])

    def creation_order(self) -> list[Address]:
        """A deterministic topological order; raises ValueError on a cycle."""
        try:
            return list(nx.lexicographical_topological_sort(self._g, key=_sort_key))
        except nx.NetworkXUnfeasible as exc:
            raise ValueError("the dependency graph has a cycle") from exc

    def deletion_order(self) -> list[Address]:
        """Creation order reversed: dependents are removed before what they need."""
        return list(reversed(self.creation_order()))

    def reversed(self) -> ResourceGraph:
        """The graph with every edge flipped, for walking deletions in parallel."""
        other = ResourceGraph()
        other._g = self._g.reverse(copy=True)
        return other

    def subgraph(self, addresses: Iterable[Address]) -> ResourceGraph:
        other = ResourceGraph()
        other._g = self._g.subgraph(addresses).copy()
        return other

    def with_dependencies(self, targets: Iterable[Address]) -> set[Address]:
        """The targets plus everything they depend on (``--target`` semantics)."""
        keep: set[Address] = set()
        for target in targets:
            if target in self._g:
                keep.add(target)
                keep |= self.ancestors(target)
        return keep
