"""Dependency graph of resources: build, order, cycles, parallel walk."""

from catalogctl.graph.build import build_graph
from catalogctl.graph.dag import Edge, ResourceGraph
from catalogctl.graph.walk import WalkResult, walk

__all__ = ["Edge", "ResourceGraph", "WalkResult", "build_graph", "walk"]
