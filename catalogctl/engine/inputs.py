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
    #: The ``-f`` arguments it was read from, to name them in messages.
    sources: tuple[str, ...] = ()


def _restriction_problems(desired: Desired) -> list[Problem]:
    """Syntax and property names of every catalogRestrictions entry, each at its list item."""
    from catalogctl.providers.osb.selectors import (
        CLASS_PROPERTIES,
        CLUSTER_PLAN_PROPERTIES,
        NAMESPACED_PLAN_PROPERTIES,
        RestrictionSyntaxError,
        parse_restrictions,
    )

    problems = []
    for res, broker in desired.of_type(Broker):
        restrictions = broker.spec.catalog_restrictions
        if restrictions is None:
            continue
        plan_properties = (
            CLUSTER_PLAN_PROPERTIES if broker.cluster_scoped else NAMESPACED_PLAN_PROPERTIES
        )
        for field, values, allowed in (
            ("serviceClass", restrictions.service_class, CLASS_PROPERTIES),
            ("servicePlan", restrictions.service_plan, plan_properties),
        ):
            try:
                parse_restrictions(values, allowed_properties=allowed, field=field)
            except RestrictionSyntaxError as exc:
                for i, message in exc.errors:
                    # The field path already names the list item; keep the entry and why.
                    message = message.removeprefix(f"{field}[{i}] ")
                    problems.append(res.problem(("spec", "catalogRestrictions", field, i), message))
            except ValueError as exc:
                problems.append(res.problem(("spec", "catalogRestrictions", field), str(exc)))
    return problems


def load_inputs(
    paths: Iterable[str], default_namespace: str = "default", strict_kinds: bool = False
) -> Inputs:
    """Load, validate and graph; raise ValidationFailed listing every problem."""
    names = tuple(paths)
    documents, problems = read_sources(names)
    desired, more = load_documents(documents, default_namespace, strict_kinds)
    # The models hold the values now: the parsed YAML need not outlive the
    # loading (at 10,000 resources it is ~40,000 containers for the collector).
    del documents
    problems.extend(more)
    problems.extend(_restriction_problems(desired))
    graph, cycles = build_graph(desired)
    problems.extend(cycles)
    if problems:
        raise ValidationFailed(problems)
    return Inputs(desired, graph, names)
