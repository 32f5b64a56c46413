"""The async parallel walk over many random DAGs (fixed seeds).

Properties: a node starts only after every dependency succeeded; a failure
skips exactly its descendants and nothing else; independent branches finish;
a set ``stop`` event prevents new starts; every node ends in exactly one
outcome.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import pytest

from catalogctl.graph import ResourceGraph, walk
from catalogctl.model.address import Address
from tests.graph.test_dag_properties import random_dag

SEEDS = range(60)


class Boom(Exception):
    pass


@dataclass
class Recorder:
    """A work function that records starts/ends and fails chosen nodes."""

    graph: ResourceGraph
    failing: set[Address] = field(default_factory=set)
    delays: dict[Address, float] = field(default_factory=dict)
    started: list[Address] = field(default_factory=list)
    finished: list[Address] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    violations: list[str] = field(default_factory=list)
    on_finish: list[object] = field(default_factory=list)

    async def __call__(self, node: Address) -> None:
        for dep in self.graph.dependencies(node):
            if dep not in self.finished or dep in self.failing:
                self.violations.append(f"{node} started before {dep} succeeded")
        self.started.append(node)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delays.get(node, 0))
            if node in self.failing:
                raise Boom(str(node))
        finally:
            self.running -= 1
            self.finished.append(node)
            for hook in self.on_finish:
                hook(node)  # type: ignore[operator]


def closure(graph: ResourceGraph, roots: set[Address]) -> set[Address]:
    out: set[Address] = set()
    for r in roots:
        out |= graph.descendants(r)
    return out


def scenario(seed: int, fail_rate: float) -> tuple[ResourceGraph, Recorder]:
    graph, _ = random_dag(seed)
    rng = random.Random(seed * 7 + 1)
    nodes = graph.nodes
    failing = {n for n in nodes if rng.random() < fail_rate}
    delays = {n: rng.choice([0, 0, 0.0005, 0.001]) for n in nodes}
    return graph, Recorder(graph, failing, delays)


@pytest.mark.parametrize("seed", SEEDS)
def test_every_node_runs_after_its_dependencies_when_all_succeed(seed: int) -> None:
    graph, rec = scenario(seed, 0.0)
    result = asyncio.run(walk(graph, rec))
    assert rec.violations == []
    assert sorted(result.succeeded) == sorted(graph.nodes)
    assert len(result.succeeded) == len(set(result.succeeded))
    assert result.failed == {} and result.skipped == {} and result.not_started == []
    assert result.ok
    assert sorted(rec.started) == sorted(graph.nodes)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_failure_skips_exactly_its_descendants(seed: int) -> None:
    graph, rec = scenario(seed, 0.15)
    result = asyncio.run(walk(graph, rec))
    assert rec.violations == []
    # A failing node runs (and fails) unless an upstream failure skipped it first.
    doomed = closure(graph, rec.failing)
    ran_and_failed = rec.failing - doomed
    assert set(result.failed) == ran_and_failed
    assert all(isinstance(e, Boom) for e in result.failed.values())
    assert set(result.skipped) == doomed
    for node, cause in result.skipped.items():
        assert cause in result.failed
        assert node in graph.descendants(cause)
    # Independent branches finish: everything else succeeded.
    assert set(result.succeeded) == set(graph.nodes) - doomed - ran_and_failed
    assert set(rec.started) == set(result.succeeded) | ran_and_failed
    assert result.not_started == []
    assert result.ok is (not rec.failing)


@pytest.mark.parametrize("seed", SEEDS)
def test_outcomes_partition_the_nodes(seed: int) -> None:
    graph, rec = scenario(seed, 0.25)
    stop = asyncio.Event()
    rng = random.Random(seed)
    limit = rng.randrange(0, len(graph) + 1)

    def maybe_stop(_node: object) -> None:
        if len(rec.finished) >= limit:
            stop.set()

    rec.on_finish.append(maybe_stop)
    if limit == 0:
        stop.set()
    result = asyncio.run(walk(graph, rec, stop=stop))
    buckets = [
        list(result.succeeded),
        list(result.failed),
        list(result.skipped),
        list(result.not_started),
    ]
    flat = [n for b in buckets for n in b]
    assert len(flat) == len(set(flat)), "a node is reported twice"
    assert set(flat) == set(graph.nodes), "a node is reported nowhere"


@pytest.mark.parametrize("seed", SEEDS)
def test_stop_prevents_new_starts_and_running_nodes_finish(seed: int) -> None:
    graph, rec = scenario(seed, 0.0)
    stop = asyncio.Event()
    stopped_at: list[int] = []
    limit = max(1, len(graph) // 3)

    def maybe_stop(_node: object) -> None:
        if len(rec.finished) >= limit and not stop.is_set():
            stop.set()
            stopped_at.append(len(rec.started))

    rec.on_finish.append(maybe_stop)
    result = asyncio.run(walk(graph, rec, stop=stop))
    if stopped_at:
        # Nothing started after the stop; what was running completed.
        assert len(rec.started) == stopped_at[0]
        assert sorted(rec.finished) == sorted(rec.started)
        assert set(result.succeeded) == set(rec.started)
        assert set(result.not_started) == set(graph.nodes) - set(rec.started)
        assert not result.ok or not result.not_started
    else:
        assert sorted(result.succeeded) == sorted(graph.nodes)


def test_independent_branches_run_in_parallel() -> None:
    graph = ResourceGraph()
    roots = [Address("ServiceInstance", "a", f"i{i}") for i in range(8)]
    for r in roots:
        graph.add_node(r)
    rec = Recorder(graph, delays={r: 0.01 for r in roots})
    result = asyncio.run(walk(graph, rec))
    assert rec.max_running == 8
    assert sorted(result.succeeded) == sorted(roots)


def test_diamond_waits_for_both_parents_and_a_failed_parent_skips_the_join() -> None:
    top = Address("ClusterServiceBroker", "", "b")
    left = Address("ServiceInstance", "a", "left")
    right = Address("ServiceInstance", "a", "right")
    join = Address("ServiceBinding", "a", "join")
    graph = ResourceGraph()
    for before, after in ((top, left), (top, right), (left, join), (right, join)):
        graph.add_edge(before, after)
    rec = Recorder(graph, delays={left: 0.001, right: 0.005})
    result = asyncio.run(walk(graph, rec))
    assert rec.started.index(join) > rec.finished.index(right)
    assert result.succeeded[-1] == join

    rec = Recorder(graph, failing={right}, delays={left: 0.005})
    result = asyncio.run(walk(graph, rec))
    assert set(result.succeeded) == {top, left}
    assert result.failed.keys() == {right}
    assert result.skipped == {join: right}
    assert join not in rec.started


def test_deletion_walks_the_reversed_graph() -> None:
    graph, pairs = random_dag(3)
    while not pairs:  # pragma: no cover - seed 3 has edges; guard for clarity
        graph, pairs = random_dag(len(pairs) + 100)
    rev = graph.reversed()
    rec = Recorder(rev)
    result = asyncio.run(walk(rev, rec))
    assert rec.violations == []
    done = {a: i for i, a in enumerate(rec.finished)}
    start = {a: i for i, a in enumerate(rec.started)}
    for before, after in pairs:
        # the dependent is removed before what it needs is started
        assert done[after] < len(rec.finished)
        assert rec.finished.index(after) < rec.finished.index(before)
        assert start[before] > -1
    assert sorted(result.succeeded) == sorted(graph.nodes)


def test_cancellation_of_work_propagates() -> None:
    graph = ResourceGraph()
    node = Address("ServiceInstance", "a", "x")
    graph.add_node(node)

    async def cancelled(_node: Address) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(walk(graph, cancelled))


def test_nodes_that_can_never_start_are_reported_not_dropped() -> None:
    """A graph with a cycle (build_graph rejects those, but walk is generic) must
    not report success for work that never ran."""
    a, b, c, d = (Address("ServiceInstance", "x", n) for n in "abcd")
    graph = ResourceGraph()
    graph.add_edge(a, b)
    graph.add_edge(b, c)
    graph.add_edge(c, b)
    graph.add_edge(c, d)
    rec = Recorder(graph)
    result = asyncio.run(walk(graph, rec))
    assert result.succeeded == [a]
    assert sorted(result.not_started) == [b, c, d]
    assert not result.ok
