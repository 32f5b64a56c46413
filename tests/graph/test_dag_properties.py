"""ResourceGraph over many random DAGs (fixed seeds): order, reversal, cycles, targets."""

from __future__ import annotations

import random

import pytest

from catalogctl.graph import ResourceGraph
from catalogctl.model.address import KNOWN_KINDS, Address

SEEDS = range(60)


def random_addresses(rng: random.Random, n: int) -> list[Address]:
    out: set[Address] = set()
    while len(out) < n:
        kind = rng.choice(KNOWN_KINDS)
        ns = "" if kind == "ClusterServiceBroker" else rng.choice(["a", "b", "c"])
        out.add(Address(kind, ns, f"n{rng.randrange(10 * n)}"))
    nodes = sorted(out)
    rng.shuffle(nodes)
    return nodes


def random_dag(seed: int) -> tuple[ResourceGraph, list[tuple[Address, Address]]]:
    """A DAG whose edges follow a hidden random order, so any shape can appear."""
    rng = random.Random(seed)
    n = rng.randrange(1, 40)
    nodes = random_addresses(rng, n)  # hidden topological order = list order
    density = rng.choice([0.0, 0.05, 0.15, 0.4])
    graph = ResourceGraph()
    for node in rng.sample(nodes, len(nodes)):  # insertion order must not matter
        graph.add_node(node)
    pairs = []
    for i in range(n):
        for j in range(i + 1, n):
            if rng.random() < density:
                graph.add_edge(nodes[i], nodes[j], ("spec", i))
                pairs.append((nodes[i], nodes[j]))
    return graph, pairs


@pytest.mark.parametrize("seed", SEEDS)
def test_creation_order_respects_every_edge_and_deletion_reverses_it(seed: int) -> None:
    graph, pairs = random_dag(seed)
    order = graph.creation_order()
    assert sorted(order) == sorted(graph.nodes)
    position = {a: i for i, a in enumerate(order)}
    for before, after in pairs:
        assert position[before] < position[after]
    deletion = graph.deletion_order()
    assert deletion == order[::-1]
    rev = graph.reversed()
    rev_position = {a: i for i, a in enumerate(rev.creation_order())}
    for before, after in pairs:
        assert rev_position[after] < rev_position[before]
    assert graph.find_cycles() == []


@pytest.mark.parametrize("seed", SEEDS)
def test_creation_order_is_deterministic_whatever_the_insertion_order(seed: int) -> None:
    graph, pairs = random_dag(seed)
    rng = random.Random(seed + 1000)
    other = ResourceGraph()
    for node in rng.sample(graph.nodes, len(graph.nodes)):
        other.add_node(node)
    for before, after in rng.sample(pairs, len(pairs)):
        other.add_edge(before, after)
    assert other.creation_order() == graph.creation_order()


@pytest.mark.parametrize("seed", SEEDS)
def test_independent_nodes_come_in_kind_order(seed: int) -> None:
    """With no edges, creation follows the kind order brokers → … → PodMappings."""
    rng = random.Random(seed)
    graph = ResourceGraph()
    nodes = random_addresses(rng, rng.randrange(1, 30))
    for node in nodes:
        graph.add_node(node)
    rank = {kind: i for i, kind in enumerate(KNOWN_KINDS)}
    order = graph.creation_order()
    assert order == sorted(nodes, key=lambda a: (rank[a.kind], a.namespace, a.name))


@pytest.mark.parametrize("seed", SEEDS)
def test_a_back_edge_makes_a_cycle_that_is_found_and_named(seed: int) -> None:
    graph, pairs = random_dag(seed)
    rng = random.Random(seed)
    if not pairs:
        a = graph.nodes[0]
        graph.add_edge(a, a)  # a self-loop is the smallest cycle
        back = (a, a)
    else:
        # Close a path: pick an edge u→v and add v→…→u via the edge's reverse.
        u, v = rng.choice(pairs)
        graph.add_edge(v, u, ("spec", "back"))
        back = (v, u)
    cycles = graph.find_cycles()
    assert cycles, "a cycle must be found"
    for cycle in cycles:
        # every consecutive pair (and the wrap-around) is an edge
        for i, node in enumerate(cycle):
            nxt = cycle[(i + 1) % len(cycle)]
            assert nxt in graph.dependents(node)
        # rotated to start at its smallest address
        rank = {a: (KNOWN_KINDS.index(a.kind), a.namespace, a.name) for a in cycle}
        assert cycle[0] == min(cycle, key=rank.__getitem__)
    assert any(
        back[1] in cycle and back[0] in cycle for cycle in cycles
    ), "the cycle through the back edge is reported"
    with pytest.raises(ValueError, match="cycle"):
        graph.creation_order()


@pytest.mark.parametrize("seed", SEEDS)
def test_with_dependencies_is_targets_plus_ancestors(seed: int) -> None:
    graph, pairs = random_dag(seed)
    rng = random.Random(seed)
    targets = rng.sample(graph.nodes, min(3, len(graph.nodes)))
    keep = graph.with_dependencies([*targets, Address("Secret", "zz", "absent")])
    # brute-force ancestors from the edge list
    expected = set(targets)
    changed = True
    while changed:
        changed = False
        for before, after in pairs:
            if after in expected and before not in expected:
                expected.add(before)
                changed = True
    assert keep == expected
    sub = graph.subgraph(keep)
    assert set(sub.nodes) == keep
    assert {(e.before, e.after) for e in sub.edges()} == {
        (b, a) for b, a in pairs if b in keep and a in keep
    }


@pytest.mark.parametrize("seed", SEEDS)
def test_descendants_match_a_brute_force_closure(seed: int) -> None:
    graph, pairs = random_dag(seed)
    for node in graph.nodes:
        reach: set[Address] = set()
        frontier = [node]
        while frontier:
            cur = frontier.pop()
            for before, after in pairs:
                if before == cur and after not in reach:
                    reach.add(after)
                    frontier.append(after)
        assert graph.descendants(node) == reach
