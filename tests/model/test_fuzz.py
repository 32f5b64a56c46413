"""Mutated manifests never crash loading: every outcome is problems or a Desired.

Valid manifests get values replaced by other YAML types and odd strings, or
keys deleted, with fixed seeds; load, restriction checks and graph building
must return problems (each rendered with a position), never raise.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalogctl.engine.inputs import _restriction_problems
from catalogctl.graph import build_graph
from catalogctl.model.loader import load_documents
from catalogctl.model.source import parse_text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "tests" / "model" / "manifests").glob("*.yaml")) + sorted(
    (ROOT / "examples").rglob("*.yaml")
)
BASE = [doc for path in SOURCES for doc in yaml.safe_load_all(path.read_text())]

REPLACEMENTS: list[Any] = [
    None, 0, -1, 1.5, True, "", "x", "Bad_Name", "a/b", "..", "/abs", [], [1], [None], [{}],
    {}, {"a": 1}, "é", "1h", "0", "http://[::1", "ftp://x", "-----BEGIN CERTIFICATE-----\nü\n"
    "-----END CERTIFICATE-----", "name in (", "spec.free=maybe", "*", "a" * 300,
]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from _paths(value, (*prefix, i))


def _mutate(rng: random.Random) -> list[Any]:
    docs = copy.deepcopy(BASE)
    for _ in range(rng.randint(1, 4)):
        doc = rng.choice(docs)
        path = rng.choice(list(_paths(doc)))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        if rng.random() < 0.2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
    return docs


@pytest.mark.parametrize("seed", range(10))
def test_mutated_manifests_give_problems_not_exceptions(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(25):
        text = yaml.safe_dump_all(_mutate(rng), allow_unicode=True)
        docs, problems = parse_text(text, "f.yaml")
        desired, more = load_documents(docs)
        problems += more + _restriction_problems(desired)
        _graph, cycles = build_graph(desired)
        for problem in problems + cycles:
            rendered = problem.render()
            assert rendered.startswith("f.yaml:")
            assert problem.line >= 1 and problem.column >= 1, rendered
