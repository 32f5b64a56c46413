"""A display tree of one resource's change, computed with deepdiff.

deepdiff decides *what* differs, type-strictly (``1`` vs ``true`` vs ``1.0``
are changes, as they are to a broker), and aligns lists (which elements were
inserted or removed); this module only turns its report into a tree the
renderers walk.  Input values are masked pairs from :mod:`.values`, so no node
ever holds a secret.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from catalogctl.plan.model import JSONPath


class Status(StrEnum):
    """What happens to one attribute (not to the whole resource)."""

    CREATE = "create"
    DELETE = "delete"
    UPDATE = "update"
    NOOP = "no-op"


@dataclass(frozen=True)
class Node:
    """One attribute, map entry or list element in the display tree.

    ``children`` is ``None`` for a leaf (rendered as one value or as
    ``before -> after``) and a tuple for a container whose entries are
    diffed one by one; ``key`` is ``None`` for list elements.
    """

    key: str | int | None
    status: Status
    before: Any
    after: Any
    path: JSONPath
    brackets: str = ""  # "{}" or "[]" for containers
    children: tuple[Node, ...] | None = None


@dataclass
class _Report:
    """What deepdiff found, indexed for the tree walk."""

    changed_before: set[JSONPath] = field(default_factory=set)
    changed_after: set[JSONPath] = field(default_factory=set)
    removed: dict[JSONPath, set[int]] = field(default_factory=dict)
    added: dict[JSONPath, set[int]] = field(default_factory=dict)


def _prefixes(path: Iterable[Any]) -> list[JSONPath]:
    steps = tuple(path)
    return [steps[:i] for i in range(len(steps) + 1)]


def _report(before: Any, after: Any) -> _Report:
    """Run deepdiff once and index every changed path by each side's prefixes."""
    from deepdiff import DeepDiff  # lazy: keeps `catalogctl --help` fast

    # threshold_to_diff_deeper=0: always descend, never report a whole map as
    # replaced because most of its keys changed (we show keys one by one).
    diff = DeepDiff(before, after, view="tree", threshold_to_diff_deeper=0)
    rep = _Report()
    for report_type, items in diff.items():
        for item in items:
            p1 = tuple(item.path(output_format="list"))
            p2 = tuple(item.path(use_t2=True, output_format="list"))
            # An added item has no position in `before` (nor a removed one in
            # `after`): there only its parent counts as changed.
            if report_type.endswith("_added"):
                p1 = p1[:-1]
            elif report_type.endswith("_removed"):
                p2 = p2[:-1]
            rep.changed_before.update(_prefixes(p1))
            rep.changed_after.update(_prefixes(p2))
            if report_type == "iterable_item_removed" and p1 and isinstance(p1[-1], int):
                rep.removed.setdefault(p1[:-1], set()).add(p1[-1])
            elif report_type == "iterable_item_added" and p2 and isinstance(p2[-1], int):
                rep.added.setdefault(p2[:-1], set()).add(p2[-1])
    return rep


def diff_tree(before: Any, after: Any) -> Node:
    """The root node of a resource change (``before``/``after`` may be None)."""
    if before is None and after is None:
        return Node(None, Status.NOOP, None, None, ())
    if before is None:
        return _whole(None, Status.CREATE, after, ())
    if after is None:
        return _whole(None, Status.DELETE, before, ())
    return _pair(None, before, after, (), (), _report(before, after))


def _brackets(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return ""


def _whole(key: str | int | None, status: Status, value: Any, path: JSONPath) -> Node:
    """A subtree that exists on one side only: every entry shares its status."""
    before = value if status is Status.DELETE else None
    after = value if status is Status.CREATE else None
    if isinstance(value, dict):
        kids = tuple(_whole(k, status, value[k], (*path, k)) for k in sorted(value, key=str))
        return Node(key, status, before, after, path, "{}", kids)
    if isinstance(value, list):
        kids = tuple(_whole(None, status, v, (*path, i)) for i, v in enumerate(value))
        return Node(key, status, before, after, path, "[]", kids)
    return Node(key, status, before, after, path)


def _pair(
    key: str | int | None,
    before: Any,
    after: Any,
    p1: JSONPath,
    p2: JSONPath,
    rep: _Report,
) -> Node:
    """A value present on both sides; ``p1``/``p2`` are its path in each."""
    changed = p1 in rep.changed_before or p2 in rep.changed_after
    status = Status.UPDATE if changed else Status.NOOP
    shape = _brackets(before)
    if not changed or not shape or shape != _brackets(after):
        return Node(key, status, before, after, p2)
    if isinstance(before, dict):
        kids = tuple(_map_entry(k, before, after, p1, p2, rep) for k in _keys(before, after))
    else:
        kids = _list_entries(before, after, p1, p2, rep)
    return Node(key, status, before, after, p2, shape, kids)


def _keys(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return sorted({*before, *after}, key=str)


def _map_entry(
    key: str,
    before: dict[str, Any],
    after: dict[str, Any],
    p1: JSONPath,
    p2: JSONPath,
    rep: _Report,
) -> Node:
    if key not in after:
        return _whole(key, Status.DELETE, before[key], (*p1, key))
    if key not in before:
        return _whole(key, Status.CREATE, after[key], (*p2, key))
    return _pair(key, before[key], after[key], (*p1, key), (*p2, key), rep)


def _list_entries(
    before: list[Any], after: list[Any], p1: JSONPath, p2: JSONPath, rep: _Report
) -> tuple[Node, ...]:
    """Align two lists from deepdiff's removed/added indices.

    Elements deepdiff did not report as removed or added are paired in order
    (equal, or changed in place); removals come before additions at the same
    position, as in a unified diff.
    """
    removed = rep.removed.get(p1, set())
    added = rep.added.get(p2, set())
    out: list[Node] = []
    i = j = 0
    while i < len(before) or j < len(after):
        if i < len(before) and (i in removed or j >= len(after)):
            out.append(_whole(None, Status.DELETE, before[i], (*p1, i)))
            i += 1
        elif j < len(after) and (j in added or i >= len(before)):
            out.append(_whole(None, Status.CREATE, after[j], (*p2, j)))
            j += 1
        else:
            out.append(_pair(None, before[i], after[j], (*p1, i), (*p2, j), rep))
            i += 1
            j += 1
    return tuple(out)
