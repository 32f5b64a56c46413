"""YAML documents that remember where every field came from.

PyYAML's composer gives nodes with marks; we turn them into plain Python values
and keep a map from each field path to its ``file:line:column`` so that every
validation message, even one raised long after parsing (a JSON-schema error in
``spec.parameters.size``), can point at the user's line.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from catalogctl.errors import Problem
from catalogctl.model import limits

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


PathKey = tuple[str | int, ...]

STDIN = "-"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in a named file."""

    file: str
    line: int
    column: int


#: 1-based (line, column) of a field; the file is the document's.
Mark = tuple[int, int]


class FileMarks:
    """Where each field of each document in one file's text was written, found on first use.

    Marks are read only to report a problem, so they are not recorded while
    parsing: the text is kept and parsed again, once for the whole file, when
    one of its documents is first asked where a field is.
    """

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self._by_index: dict[int, dict[PathKey, Mark]] | None = None

    def of(self, index: int) -> dict[PathKey, Mark]:
        """The marks of the document numbered ``index`` (as ``Document.index`` counts)."""
        if self._by_index is None:
            self._by_index = {}
            try:
                for i, node in _document_nodes(self.text):
                    converter = _Converter(self.file, marks=True)
                    converter.convert(node, ())
                    self._by_index[i] = converter.marks
            except (yaml.YAMLError, limits.InputTooLarge):
                pass  # the first read stopped at the same error, with the same documents
        return self._by_index.get(index, {})


@dataclass
class Document:
    """One YAML document: its plain value, and where its fields were written."""

    file: str
    index: int
    data: Any
    start: Position
    #: Keys written twice in one mapping: (path, position of the repeat, of the first).
    duplicate_keys: tuple[tuple[PathKey, Position, Position], ...] = ()
    #: The text it was read from, for :meth:`position_of`; None for one built in code.
    source: FileMarks | None = field(default=None, repr=False, compare=False)
    #: Where this object sits inside the document it was written in: ``()`` for a
    #: document of its own, ``("items", i)`` for an item of a ``kind: List`` (whose
    #: ``start`` is then the list's; :attr:`origin` is the item's own).
    prefix: PathKey = ()

    @property
    def origin(self) -> Position:
        """Where this object starts: the document's start, or a list item's own line.

        A list item's line is looked up only when asked for (to report a
        problem): finding it needs the file's marks, a second parse.
        """
        if not self.prefix:
            return self.start
        mark = self.marks.get(self.prefix)
        return Position(self.file, *mark) if mark is not None else self.start

    @property
    def marks(self) -> dict[PathKey, Mark]:
        """(line, column) of every field path (list items included)."""
        return self.source.of(self.index) if self.source is not None else {}

    def position_of(self, path: Iterable[str | int]) -> Position:
        """Position of ``path``, or of its nearest existing parent.

        A missing field has no node of its own, so the message points at the
        mapping that should have held it.
        """
        marks = self.marks
        key = (*self.prefix, *path)
        while len(key) > len(self.prefix):
            mark = marks.get(key)
            if mark is not None:
                return Position(self.file, *mark)
            key = key[:-1]
        return self.origin


def _mark(node: yaml.Node) -> Mark:
    mark = node.start_mark
    return (mark.line + 1, mark.column + 1)


def _position(file: str, node: yaml.Node) -> Position:
    return Position(file, *_mark(node))


def _document_nodes(text: str) -> Iterator[tuple[int, yaml.Node]]:
    """(index, root node) of each document that holds something; indexes count them all.

    ``---`` followed by nothing or only comments is skipped, as kubectl allows.
    """
    for index, node in enumerate(yaml.compose_all(text, Loader=_Loader)):
        if node is not None and not _is_empty(node):
            yield index, node


class _Converter:
    """Turns a node tree into plain values, noting duplicate keys (and marks if asked).

    Without marks a duplicate key is only noted (``found_duplicate``); the
    document is then converted again with marks to say where both copies are.
    """

    def __init__(self, file: str, *, marks: bool = False) -> None:
        self.file = file
        self.track = marks
        self.marks: dict[PathKey, Mark] = {}
        self.duplicates: list[tuple[PathKey, Position, Position]] = []
        self.found_duplicate = False
        self.budget = limits.NodeBudget(file)
        # Per document: a constructor remembers every node it has built (for
        # anchors) until its document ends, so a shared one would keep them all.
        self.constructor = yaml.constructor.SafeConstructor()

    def convert(self, node: yaml.Node, path: PathKey) -> Any:
        kind = node.__class__
        if kind is yaml.ScalarNode and node.tag == _STR_TAG:
            # Most scalars are strings: skip the constructor's dispatch.
            return node.value
        track = self.track
        if kind is yaml.MappingNode:
            self.budget.enter(node)
            result: dict[str, Any] = {}
            merges: list[dict[str, Any]] = []
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    # ``<<: *base`` or ``<<: [*a, *b]``: keys written in this
                    # mapping win, then earlier merged mappings (YAML merge rules).
                    value = self.convert(value_node, path)
                    sources = value if isinstance(value, list) else [value]
                    merges.extend(m for m in sources if isinstance(m, dict))
                    continue
                if key_node.tag == _STR_TAG and key_node.__class__ is yaml.ScalarNode:
                    key = key_node.value
                else:
                    raw_key = self.constructor.construct_object(key_node, deep=True)
                    key = raw_key if isinstance(raw_key, str) else str(raw_key)
                child = (*path, key) if track else path
                if key in result:
                    # Reported by the loader, which knows the resource's address.
                    self.found_duplicate = True
                    if track:
                        line, column = self.marks.get(child, _mark(node))
                        first = Position(self.file, line, column)
                        self.duplicates.append((child, _position(self.file, key_node), first))
                    continue
                if track:
                    self.marks[child] = _mark(key_node)
                result[key] = self.convert(value_node, child)
            for merged in merges:
                for k, v in merged.items():
                    result.setdefault(k, v)
            self.budget.leave()
            return result
        if kind is yaml.SequenceNode:
            self.budget.enter(node)
            if not track:
                items = [self.convert(item, path) for item in node.value]
            else:
                items = []
                for i, item in enumerate(node.value):
                    child = (*path, i)
                    self.marks[child] = _mark(item)
                    items.append(self.convert(item, child))
            self.budget.leave()
            return items
        value = self.constructor.construct_object(node, deep=True)
        if not isinstance(value, str | int | float | bool | type(None)):
            # Timestamps and binary scalars stay in their written form: the
            # Kubernetes API treats them as strings too.
            return node.value
        return value


def parse_text(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse a multi-document YAML text; empty documents are skipped."""
    problems: list[Problem] = []
    documents: list[Document] = []
    source = FileMarks(file, text)
    too_large = limits.text_problem(text, file)
    if too_large is not None:
        return documents, [too_large]
    try:
        for index, node in _document_nodes(text):
            converter = _Converter(file)
            try:
                data = converter.convert(node, ())
            except limits.InputTooLarge as exc:
                problems.append(limits.explain(node, file) or exc.problem)
                break
            if converter.found_duplicate:
                converter = _Converter(file, marks=True)
                converter.convert(node, ())
            documents.append(
                Document(
                    file, index, data, _position(file, node), tuple(converter.duplicates), source
                )
            )
    except yaml.MarkedYAMLError as exc:
        line, column = _error_position(exc, text)
        problems.append(
            Problem(file, line, column, "", "", f"YAML syntax error: {_syntax_message(exc, text)}")
        )
    except yaml.YAMLError as exc:
        problems.append(Problem(file, 1, 1, "", "", f"YAML syntax error: {exc}"))
    return documents, problems


def _is_empty(node: yaml.Node) -> bool:
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and node.value == ""
    )


def _at_end(mark: yaml.Mark | None, text: str) -> bool:
    return mark is not None and not text[mark.index :].strip()


def _open_at_end(exc: yaml.MarkedYAMLError, text: str) -> bool:
    """Whether the parser hit the end of the text inside a construct opened earlier."""
    return (
        bool(exc.context)
        and _at_end(exc.problem_mark, text)
        and exc.context_mark is not None
        and not _at_end(exc.context_mark, text)
    )


def _error_position(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int]:
    """1-based line and column to report; never a line past the end of the file."""
    mark = exc.problem_mark or exc.context_mark
    if _open_at_end(exc, text):
        mark = exc.context_mark
    elif _at_end(mark, text) and text.strip():
        # Nothing better known: the last character written.
        last = len(text.rstrip()) - 1
        line = text.count("\n", 0, last) + 1
        return line, last - (text.rfind("\n", 0, last) + 1) + 1
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def _syntax_message(exc: yaml.MarkedYAMLError, text: str) -> str:
    """The parser's complaint, with the construct it was reading and a hint for tabs."""
    what = exc.problem or exc.context or "invalid YAML"
    mark = exc.problem_mark
    at = text[mark.index : mark.index + 1] if mark is not None else ""
    if what == "found undefined alias" and mark is not None:
        # libyaml leaves the alias name out; the text at the mark has it.
        alias = re.match(r"\*([^\s,\[\]{}]+)", text[mark.index :])
        if alias:
            name = alias.group(1)
            what = f"found undefined alias {name!r} (no anchor &{name} before it)"
    elif at == "\t":
        what += " (a tab; YAML indentation must use spaces)"
    elif what.startswith("mapping values are not allowed"):
        what += " (a value containing ': ' must be quoted)"
    elif exc.context == "while parsing a flow node" and _at_end(mark, text):
        return "unexpected end of file: a '[' or '{' is never closed"
    ctx = exc.context_mark
    if (
        exc.problem
        and exc.context
        and ctx is not None
        and exc.context != "while scanning for the next token"
    ):
        if _open_at_end(exc, text):
            thing = re.sub(r"^while (parsing|scanning) an? ", "the ", exc.context)
            ending = (
                "unexpected end of file"
                if "end of stream" in what
                else f"{what} before the end of the file"
            )
            what = f"{ending}: {thing} that starts here is never closed"
        else:
            what += f" ({exc.context} that starts at line {ctx.line + 1}, column {ctx.column + 1})"
    return what


#: What a directory given to ``-f`` is read for, as kubectl does (JSON is YAML too).
INPUT_SUFFIXES = (".yaml", ".yml", ".json")


def expand_path(path: str) -> Iterator[Path]:
    """The files one ``-f`` argument names: itself, or a directory's YAML and JSON files, sorted."""
    p = Path(path)
    if p.is_dir():
        found = sorted(q for q in p.rglob("*") if q.suffix in INPUT_SUFFIXES and q.is_file())
        yield from found
    else:
        yield p


def read_sources(paths: Iterable[str]) -> tuple[list[Document], list[Problem]]:
    """Read ``-f`` arguments like kubectl: files, directories (recursive, sorted), ``-``."""
    documents: list[Document] = []
    problems: list[Problem] = []
    for arg in paths:
        if arg == STDIN:
            docs, probs = parse_text(sys.stdin.read(limits.MAX_TEXT_BYTES + 1), "<stdin>")
            documents.extend(docs)
            problems.extend(probs)
            continue
        if not os.path.exists(arg):
            problems.append(Problem(arg, 0, 0, "", "", "no such file or directory"))
            continue
        for file in expand_path(arg):
            name = str(file)
            try:
                text = limits.read_text(file)
            except limits.InputTooLarge as exc:
                problems.append(exc.problem)
                continue
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(Problem(name, 0, 0, "", "", f"cannot read file: {exc}"))
                continue
            docs, probs = parse_text(text, name)
            documents.extend(docs)
            problems.extend(probs)
    return documents, problems
