"""Apply-step graphs: create/update steps in dependency order, destroy steps reversed.

A replaced resource has both a destroy and an apply step; the destroy step of
anything that depends on it runs first, so bindings are unbound before their
instance is deprovisioned and re-created after it is provisioned again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

Step = tuple[str, str]  # (phase, address); phase is "destroy" or "apply"


class StepGraph:
    """A DAG of apply steps with the interface :func:`catalogctl.graph.walk.walk` needs."""

    def __init__(self) -> None:
        self._g: nx.DiGraph = nx.DiGraph()

    @classmethod
    def build(
        cls,
        destroy: Iterable[str],
        apply: Iterable[str],
        depends_on: Mapping[str, Iterable[str]],
        previously: Mapping[str, Iterable[str]] | None = None,
    ) -> StepGraph:
        """``previously`` holds what resources depended on before this run (from state).

        A resource that is updated away from something being destroyed (a
        PodMapping moving to a binding's new Secret) is updated first, so the
        workload never points at a deleted Secret, unless that would make a
        cycle (the same binding replaced in the same run), where the plain
        order stands.
        """
        graph = cls()
        destroy_set, apply_set = set(destroy), set(apply)
        for a in destroy_set:
            graph._g.add_node(("destroy", a))
        for a in apply_set:
            graph._g.add_node(("apply", a))
            if a in destroy_set:
                graph._g.add_edge(("destroy", a), ("apply", a))
        for a, deps in depends_on.items():
            for d in deps:
                if a in apply_set and d in apply_set:
                    graph._g.add_edge(("apply", d), ("apply", a))
                if a in destroy_set and d in destroy_set:
                    graph._g.add_edge(("destroy", a), ("destroy", d))
        for a, deps in (previously or {}).items():
            if a not in apply_set or a in destroy_set:
                continue
            for d in deps:
                if d in destroy_set and not nx.has_path(graph._g, ("destroy", d), ("apply", a)):
                    graph._g.add_edge(("apply", a), ("destroy", d))
        return graph

    @property
    def nodes(self) -> list[Step]:
        return list(
            nx.lexicographical_topological_sort(self._g, key=lambda s: (s[0] != "destroy", s[1]))
        )

    def dependencies(self, node: Step) -> list[Step]:
        return sorted(self._g.predecessors(node))

    def dependents(self, node: Step) -> list[Step]:
        return sorted(self._g.successors(node))

    def descendants(self, node: Step) -> set[Step]:
        return set(nx.descendants(self._g, node))

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())
