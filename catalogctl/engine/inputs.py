"""Read and check the user's desired state: YAML, schema, references, graph.

This is the one entry point commands use, so ``validate``, ``graph``, ``plan``
and ``apply`` reject bad input identically, before any broker or cluster call.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from catalogctl.errors import Problem, ValidationFailed
from catalogctl.graph import ResourceGraph, build_graph
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired
from catalogctl.model.loader import load_documents
from catalogctl.model.source import read_sources


@dataclass(frozen=True)
class Inputs:
    """A validated desired state and its dependency graph."""

    desired: Desired
    graph: ResourceGraph


def _restriction_problems(desired: Desired) -> list[Problem]:
    from catalogctl.providers.osb.selectors import parse_restrictions

    problems = []
    for res, broker in desired.of_type(Broker):
        restrictions = broker.spec.catalog_restrictions
        if restrictions is None:
            continue
        for field, values in (("serviceClass", restrictions.service_class), ("servicePlan", restrictions.service_plan)):
            for i, value in enumerate(values):
                try:
                    parse_restrictions([value])
                except ValueError as exc:
                    problems.append(res.problem(("spec", "catalogRestrictions", field, i), str(exc)))
    return problems


def load_inputs(
    paths: Iterable[str], default_namespace: str = "default", strict_kinds: bool = False
) -> Inputs:
    """Load, validate and graph; raise ValidationFailed listing every problem."""
    documents, problems = read_sources(paths)
    desired, more = load_documents(documents, default_namespace, strict_kinds)
    problems.extend(more)
    problems.extend(_restriction_problems(desired))
    graph, cycles = build_graph(desired)
    problems.extend(cycles)
    if problems:
        raise ValidationFailed(problems)
    return Inputs(desired, graph)
