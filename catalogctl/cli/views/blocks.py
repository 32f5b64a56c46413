"""HCL-like rendering of a display tree (see :mod:`.diff`).

The layout is Terraform's because users already read it fluently: a 4-wide
action column on every line, 4 spaces per nesting level, ``=`` aligned among
the attributes shown in a block, unchanged entries collapsed into one
``# (N unchanged ... hidden)`` comment, removals ending in ``-> null``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalogctl.cli.views.diff import Node, Status
from catalogctl.cli.views.style import Painter
from catalogctl.cli.views.values import Sensitive, format_key, format_scalar
from catalogctl.plan.model import JSONPath

SYMBOLS = {Status.CREATE: "+", Status.DELETE: "-", Status.UPDATE: "~", Status.NOOP: ""}
INDENT = "    "


@dataclass(frozen=True)
class _Ctx:
    paint: Painter
    replace: frozenset[JSONPath]


def resource_block(
    symbol: str,
    kind: str,
    name: str,
    root: Node,
    paint: Painter,
    replace_paths: tuple[JSONPath, ...] = (),
) -> list[str]:
    """``<symbol> Kind "name" {`` ... ``}`` for one resource."""
    ctx = _Ctx(paint, frozenset(tuple(p) for p in replace_paths))
    header = paint.symbol_column(symbol) + f"{kind} {format_scalar(name)} {{"
    return [header, *_root_body(root, ctx), INDENT + "}"]


def _root_body(root: Node, ctx: _Ctx) -> list[str]:
    if root.children is not None:
        return _children(root, 1, ctx, top=True)
    if root.status is Status.NOOP:
        # Nothing differs after masking: say how much is hidden, show nothing.
        value = root.after if isinstance(root.after, dict) else {}
        return [_hidden_line(len(value), "attribute", 1, ctx)] if value else []
    # A whole-resource marker, e.g. after == (known after apply).
    side = root.after if root.status is not Status.DELETE else root.before
    line = INDENT + ctx.paint.symbol_column(SYMBOLS[root.status]) + format_scalar(side)
    return [line]


def _children(node: Node, level: int, ctx: _Ctx, *, top: bool = False) -> list[str]:
    if node.brackets == "[]" and node.status is Status.UPDATE:
        return _list_children(node, level, ctx)
    kids = node.children or ()
    visible = [k for k in kids if k.status is not Status.NOOP and not _absent(k)]
    width = max((len(format_key(k.key)) for k in visible if k.key is not None), default=0)
    lines: list[str] = []
    for kid in visible:
        # "-> null" marks the top of what disappears, not every entry inside it.
        arrow = (
            kid.status is Status.DELETE
            and kid.key is not None
            and (top or node.status is not Status.DELETE)
        )
        lines.extend(_node(kid, level, width, ctx, null_arrow=arrow))
    hidden = sum(1 for k in kids if k.status is Status.NOOP)
    if hidden:
        lines.append(_hidden_line(hidden, "attribute", level, ctx))
    return lines


def _list_children(node: Node, level: int, ctx: _Ctx) -> list[str]:
    """Changed list elements with one unchanged neighbour each side as context.

    Order matters in a list, so an insertion is shown between the elements it
    goes between; longer unchanged runs collapse where they are.
    """
    kids = node.children or ()
    changed = [k.status is not Status.NOOP for k in kids]
    lines: list[str] = []
    run = 0
    for i, kid in enumerate(kids):
        near = changed[i] or any(changed[j] for j in (i - 1, i + 1) if 0 <= j < len(kids))
        if not near:
            run += 1
            continue
        if run:
            lines.append(_hidden_line(run, "element", level, ctx))
            run = 0
        lines.extend(_node(kid, level, 0, ctx, null_arrow=False))
    if run:
        lines.append(_hidden_line(run, "element", level, ctx))
    return lines


def _absent(node: Node) -> bool:
    """A null attribute being created or destroyed says nothing: leave it out."""
    if node.key is None or node.children is not None:
        return False
    side = node.after if node.status is Status.CREATE else node.before
    return node.status in (Status.CREATE, Status.DELETE) and side is None


def _hidden_line(count: int, noun: str, level: int, ctx: _Ctx) -> str:
    plural = "" if count == 1 else "s"
    return INDENT * level + INDENT + ctx.paint.dim(f"# ({count} unchanged {noun}{plural} hidden)")


def _node(node: Node, level: int, width: int, ctx: _Ctx, *, null_arrow: bool) -> list[str]:
    prefix = INDENT * level + ctx.paint.symbol_column(SYMBOLS[node.status])
    key = "" if node.key is None else format_key(node.key).ljust(width) + " = "
    comma = "," if node.key is None else ""
    arrow = " -> null" if null_arrow else ""
    forces = " " + ctx.paint("# forces replacement", fg="red") if node.path in ctx.replace else ""
    if node.children is not None:
        opening, closing = node.brackets[0], node.brackets[1]
        if not node.children:
            return [prefix + key + opening + closing + arrow + comma + forces]
        lines = [prefix + key + opening + forces]
        lines.extend(_children(node, level + 1, ctx))
        lines.append(INDENT * level + INDENT + closing + arrow + comma)
        return lines
    value = _leaf_value(node, level)
    value[-1] += arrow + comma
    value[0] = prefix + key + value[0] + forces
    return value


def _leaf_value(node: Node, level: int) -> list[str]:
    """The text after ``key = `` (possibly several lines for a type change)."""
    if node.status in (Status.CREATE, Status.NOOP):
        return _plain(node.after, level)
    if node.status is Status.DELETE:
        return _plain(node.before, level)
    if isinstance(node.before, Sensitive) and isinstance(node.after, Sensitive):
        return _plain(node.after, level)  # changed or not, both sides stay hidden
    old, new = _plain(node.before, level), _plain(node.after, level)
    return [*old[:-1], old[-1] + " -> " + new[0], *new[1:]]


def _plain(value: Any, level: int) -> list[str]:
    """A value without diff symbols (used on either side of a type change)."""
    if isinstance(value, dict) and value:
        width = max(len(format_key(k)) for k in value)
        lines = ["{"]
        for k in sorted(value, key=str):
            sub = _plain(value[k], level + 1)
            sub[0] = INDENT * (level + 1) + INDENT + format_key(k).ljust(width) + " = " + sub[0]
            lines.extend(sub)
        return [*lines, INDENT * level + INDENT + "}"]
    if isinstance(value, list) and value:
        lines = ["["]
        for item in value:
            sub = _plain(item, level + 1)
            sub[0] = INDENT * (level + 1) + INDENT + sub[0]
            sub[-1] += ","
            lines.extend(sub)
        return [*lines, INDENT * level + INDENT + "]"]
    if isinstance(value, dict):
        return ["{}"]
    if isinstance(value, list):
        return ["[]"]
    return [format_scalar(value)]
