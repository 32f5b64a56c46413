"""Apply-step graphs: create/update steps in dependency order, destroy steps reversed.

A replaced resource has both a destroy and an apply step; the destroy step of
anything that depends on it runs first, so bindings are unbound before their
instance is deprovisioned and re-created after it is provisioned again.

A binding rotated create-before-destroy has an apply step (the new bind) and
a retire step (the old binding's unbind) that runs after the apply steps of
everything made from it: its Secret is rewritten and its workloads rolled
before the credentials they held are revoked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

Step = tuple[str, str]  # (phase, address); phase is "destroy", "apply" or "retire"


def _step_key(step: Step) -> tuple[bool, str]:
    return (step[0] != "destroy", step[1])


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
        retire: Iterable[str] = (),
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
        # Nodes and edges are added in bulk: networkx's per-call bookkeeping
        # is paid once, not once per step.
        nodes: list[Step] = [("destroy", a) for a in destroy_set]
        nodes += [("apply", a) for a in apply_set]
        edges: list[tuple[Step, Step]] = [
            (("destroy", a), ("apply", a)) for a in apply_set if a in destroy_set
        ]
        for a, deps in depends_on.items():
            for d in deps:
                if a in apply_set and d in apply_set:
                    edges.append((("apply", d), ("apply", a)))
                if a in destroy_set and d in destroy_set:
                    edges.append((("destroy", a), ("destroy", d)))
        graph._g.add_nodes_from(nodes)
        graph._g.add_edges_from(edges)
        for a, deps in (previously or {}).items():
            if a not in apply_set or a in destroy_set:
                continue
            for d in deps:
                if d in destroy_set and not nx.has_path(graph._g, ("destroy", d), ("apply", a)):
                    graph._g.add_edge(("apply", a), ("destroy", d))
        for a in retire:
            # Nothing depends on a retire step, so these edges make no cycle.
            made_from = [("apply", a)] if a in apply_set else []
            if made_from:
                made_from += [s for s in nx.descendants(graph._g, made_from[0]) if s[0] == "apply"]
            graph._g.add_node(("retire", a))
            graph._g.add_edges_from((step, ("retire", a)) for step in made_from)
        return graph

    @property
    def nodes(self) -> list[Step]:
        """Every step, destroys first, then by address (not a dependency order: see ``order``).

        The walk needs a deterministic order only, and sorting is a fraction
        of a topological sort's cost on the way to an apply's first request.
        """
        return sorted(self._g.nodes, key=_step_key)

    @property
    def order(self) -> list[Step]:
        """Every step in a dependency order, ties broken like ``nodes``."""
        return list(nx.lexicographical_topological_sort(self._g, key=_step_key))

    def dependencies(self, node: Step) -> list[Step]:
        return sorted(self._g.predecessors(node))

    def dependents(self, node: Step) -> list[Step]:
        return sorted(self._g.successors(node))

    def descendants(self, node: Step) -> set[Step]:
        return set(nx.descendants(self._g, node))

    def __len__(self) -> int:
        return int(self._g.number_of_nodes())
