"""Limits on what one input may cost to read: size, nesting, alias expansion.

Desired-state files come from pull requests, so a hostile one must not be able
to exhaust a CI runner.  YAML aliases make that cheap: ten nested anchors of ten
aliases each (under a kilobyte) stand for ten billion nodes once expanded.  The
composer shares an aliased node instead of copying it, so the blow-up happens
only when the node tree is turned into plain values; Kubernetes' own YAML
reader refuses such documents, and so does this one.

Each limit is reported as a positioned :class:`~catalogctl.errors.Problem`:

* :data:`MAX_TEXT_BYTES` per file (or stdin), checked while reading, and
  :data:`MAX_DOCUMENT_BYTES` per document, checked on the text before parsing;
* :data:`MAX_DEPTH` levels of nesting and :data:`MAX_EXPANDED_NODES` nodes per
  document with every alias expanded, counted by :class:`NodeBudget` while the
  nodes are turned into values, so a bomb stops after at most that many nodes.
  An alias to a node that contains it (a recursive document) nests without
  end, so the depth limit stops it too; :func:`explain` then names the anchor
  at fault.

JSON input read outside the YAML reader (saved plan files) goes through
:func:`load_json`, with the same size and nesting limits (JSON has no aliases).
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

import yaml

from catalogctl.errors import Problem

#: Bytes of one file (or of stdin).  Ten thousand resources take about 4 MiB.
MAX_TEXT_BYTES = 32 * 1024 * 1024
#: Bytes of one YAML document: a Kubernetes object is at most about 1.5 MiB
#: (etcd's limit), and catalogctl's resources are a few kilobytes.
MAX_DOCUMENT_BYTES = 2 * 1024 * 1024
#: Levels of nesting (mappings and lists) in one document.  Real resources
#: nest a dozen levels at most; libyaml itself stops at 1,000.
MAX_DEPTH = 100
#: Nodes in one document with every alias expanded.  A resource has tens of
#: nodes; turning this many into values takes about a quarter of a second and
#: some 50 MB at worst.
MAX_EXPANDED_NODES = 500_000

_DOCUMENT_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.MULTILINE)
#: A document that is a ``kind: List`` (or a typed ``*List``, as YAML at the top level or
#: as JSON): its objects are its items, so the per-document size limit, which is about
#: one object, does not apply to it as a whole (the per-file and node limits still do).
_LIST_KIND = re.compile(
    r"""^(?:kind:[ \t]*["']?|[ \t]*"kind"[ \t]*:[ \t]*")[A-Za-z]*List["']?[ \t]*,?[ \t]*\r?$""",
    re.MULTILINE,
)


class InputTooLarge(Exception):
    """An input exceeds a limit; ``problem`` says which, and where."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _line_of(text: str | bytes, index: int) -> int:
    if isinstance(text, bytes):
        return text.count(b"\n", 0, index) + 1
    return text.count("\n", 0, index) + 1


def _mib(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB"


def _too_large_file(file: str, line: int) -> Problem:
    return Problem(
        file,
        line,
        1,
        "",
        "",
        f"input is larger than {_mib(MAX_TEXT_BYTES)} (the limit per file); "
        "split it into several files",
    )


def read_text(path: Path) -> str:
    """A file's UTF-8 text, reading no more than :data:`MAX_TEXT_BYTES` (+1) of it.

    Raises InputTooLarge past the limit, OSError or UnicodeDecodeError as reading does.
    """
    with open(path, "rb") as fh:
        data = fh.read(MAX_TEXT_BYTES + 1)
    if len(data) > MAX_TEXT_BYTES:
        raise InputTooLarge(_too_large_file(str(path), _line_of(data, MAX_TEXT_BYTES)))
    return data.decode("utf-8")


def text_problem(text: str, file: str) -> Problem | None:
    """A problem when ``text`` (one file) or one of its documents is too large, else None.

    Documents are told apart by their ``---``/``...`` markers at the start of a
    line, which YAML forbids inside any scalar, so this needs no parsing.
    """
    if len(text) > MAX_TEXT_BYTES:
        return _too_large_file(file, _line_of(text, MAX_TEXT_BYTES))
    if len(text) <= MAX_DOCUMENT_BYTES:
        return None
    start = 0
    for marker in (*_DOCUMENT_MARKER.finditer(text), None):
        end = marker.start() if marker is not None else len(text)
        if end - start > MAX_DOCUMENT_BYTES and not _LIST_KIND.search(text, start, end):
            return Problem(
                file,
                _line_of(text, start),
                1,
                "",
                "",
                f"YAML document is larger than {_mib(MAX_DOCUMENT_BYTES)} (the limit per document)",
            )
        if marker is not None:
            start = marker.end()
    return None


def _at(file: str, node: yaml.Node, message: str) -> Problem:
    mark = node.start_mark
    return Problem(file, mark.line + 1, mark.column + 1, "", "", message)


_TOO_DEEP = f"nesting is deeper than {MAX_DEPTH} levels"
_RECURSIVE = "an alias inside the node anchored here refers back to it (a recursive document)"
_TOO_MANY = (
    f"this document holds more than {MAX_EXPANDED_NODES:,} nodes with its aliases expanded "
    "(the limit per document)"
)


class NodeBudget:
    """Counts one document's nodes and nesting as they are turned into values.

    The converter calls :meth:`enter` for each mapping or list it is about to
    convert (aliased ones again each time they are reached) and :meth:`leave`
    when done with it; both are a few attribute operations, as they run for
    every node of every document read.
    """

    __slots__ = ("depth", "file", "nodes")

    def __init__(self, file: str) -> None:
        self.file = file
        self.depth = 0
        self.nodes = 0

    def enter(self, node: yaml.Node) -> None:
        """Count ``node``'s children; raise InputTooLarge past a limit."""
        self.depth += 1
        self.nodes += len(node.value)
        if self.depth > MAX_DEPTH:
            raise InputTooLarge(_at(self.file, node, _TOO_DEEP))
        if self.nodes > MAX_EXPANDED_NODES:
            raise InputTooLarge(_at(self.file, node, _TOO_MANY))

    def leave(self) -> None:
        self.depth -= 1


def explain(root: yaml.Node, file: str) -> Problem | None:
    """The node at fault in a document :class:`NodeBudget` refused, or None.

    Walks the composed nodes, where each aliased node is held once, so it costs
    what the text holds: the first node found whose alias expansion alone
    passes the limit (an anchor of the bomb), an alias inside the node it
    refers to, or a node nested too deep.  Iterative: a deep document cannot
    exhaust the interpreter's stack here.
    """
    finished: dict[int, int] = {}  # id(node) -> expanded size
    on_path: set[int] = set()
    # [node, children, index of the next child, expanded size so far]
    stack: list[list[Any]] = []

    def push(node: yaml.Node) -> Problem | None:
        if len(stack) >= MAX_DEPTH:
            return _at(file, node, _TOO_DEEP)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = list(node.value)
        on_path.add(id(node))
        stack.append([node, children, 0, 1])
        return None

    if not isinstance(root, yaml.CollectionNode):
        return None
    found = push(root)
    while stack and found is None:
        frame = stack[-1]
        node, children, i = frame[0], frame[1], frame[2]
        if i < len(children):
            frame[2] = i + 1
            child = children[i]
            if not isinstance(child, yaml.CollectionNode):
                frame[3] += 1
            elif id(child) in on_path:
                found = _at(file, child, _RECURSIVE)
            elif id(child) in finished:
                frame[3] += finished[id(child)]
            else:
                found = push(child)
            continue
        stack.pop()
        on_path.discard(id(node))
        size = frame[3]
        if size > MAX_EXPANDED_NODES:
            return _at(
                file,
                node,
                f"this node holds more than {MAX_EXPANDED_NODES:,} nodes with its aliases "
                "expanded (the limit per document)",
            )
        finished[id(node)] = size
        if stack:
            stack[-1][3] += size
    return found


# --------------------------------------------------------------------------- JSON

_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _json_depth_problem(text: str, file: str) -> Problem | None:
    """Where ``text`` nests deeper than :data:`MAX_DEPTH`, or None; strings are skipped."""
    brackets = _JSON_BRACKET.findall(_JSON_STRING.sub('""', text))
    depths = accumulate(1 if b in "[{" else -1 for b in brackets)
    nth = next((n for n, depth in enumerate(depths) if depth > MAX_DEPTH), None)
    if nth is None:
        return None
    # The same bracket in the original text: the nth outside a string.
    tokens = (m for m in _JSON_TOKEN.finditer(text) if m.group()[0] != '"')
    pos = next(m for n, m in enumerate(tokens) if n == nth).start()
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Problem(file, _line_of(text, pos), column, "", "", _TOO_DEEP)


def load_json(text: str, file: str) -> Any:
    """``json.loads`` with the size and nesting limits of YAML input.

    Raises InputTooLarge (positioned), or ValueError as ``json.loads`` does.
    """
    if len(text) > MAX_TEXT_BYTES:
        raise InputTooLarge(_too_large_file(file, _line_of(text, MAX_TEXT_BYTES)))
    problem = _json_depth_problem(text, file)
    if problem is not None:
        raise InputTooLarge(problem)
    return json.loads(text)
