"""Block-style YAML text for Kubernetes objects, without PyYAML's representer.

:class:`DirectoryCluster` writes a file per binding Secret, on a worker thread
while the apply's event loop runs.  ``yaml.dump`` spends ~120 us of Python per
Secret in its representer and resolver (even with libyaml emitting), all of it
holding the GIL the loop needs; this module writes the same kind of text in a
fraction of that.

It covers what Kubernetes objects built by catalogctl hold: mappings with
string keys, sequences, ASCII strings, ints, bools and null.  A string is
written plain only when it matches a conservative pattern that no YAML 1.1 or
1.2 resolver reads as anything but that string (it starts with a letter or
``_``, holds no spaces, quotes or indicators, and is not a bool or null
word); every other string is written as a JSON string, which is a valid YAML
double-quoted scalar.  Anything else — floats, timestamps a loader produced,
non-ASCII text, non-string keys — goes through ``yaml.dump`` instead, so the
output always reads back (``yaml.safe_load``) as the object given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["dump_yaml"]

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: Strings safe to write plain: no resolver turns these into a non-string.
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-/+=]*").fullmatch

#: Plain words YAML 1.1 (PyYAML) or 1.2 read as bool or null.
_RESERVED = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null"})


class _Unsupported(Exception):
    """A value this emitter does not write; the caller falls back to PyYAML."""


def dump_yaml(obj: Mapping[str, Any]) -> str:
    """``obj`` as block-style YAML text that ``yaml.safe_load`` reads back equal."""
    lines: list[str] = []
    try:
        _mapping(obj, "", lines)
    except _Unsupported:
        return str(yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False))
    lines.append("")
    return "\n".join(lines)


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        if _PLAIN(value) and value.lower() not in _RESERVED:
            return value
        if not value.isascii():
            raise _Unsupported
        return json.dumps(value)
    if value is None or type(value) is bool:
        return json.dumps(value)  # null, true, false
    if type(value) is int:
        return str(value)
    raise _Unsupported


def _key(key: Any) -> str:
    # YAML limits implicit keys to 1024 characters.
    if not isinstance(key, str) or len(key) > 1000:
        raise _Unsupported
    return _scalar(key)


def _mapping(obj: Mapping[str, Any], indent: str, lines: list[str]) -> None:
    for key, value in obj.items():
        head = f"{indent}{_key(key)}:"
        if isinstance(value, Mapping):
            if value:
                lines.append(head)
                _mapping(value, indent + "  ", lines)
            else:
                lines.append(head + " {}")
        elif isinstance(value, list):
            if value:
                lines.append(head)
                _sequence(value, indent, lines)  # indentless, as kubectl and PyYAML write it
            else:
                lines.append(head + " []")
        else:
            lines.append(f"{head} {_scalar(value)}")


def _sequence(items: list[Any], indent: str, lines: list[str]) -> None:
    for item in items:
        if isinstance(item, Mapping) and item:
            start = len(lines)
            _mapping(item, indent + "  ", lines)
            lines[start] = f"{indent}- {lines[start][len(indent) + 2 :]}"
        elif isinstance(item, list) and item:
            start = len(lines)
            _sequence(item, indent + "  ", lines)
            lines[start] = f"{indent}- {lines[start][len(indent) + 2 :]}"
        elif isinstance(item, Mapping):
            lines.append(f"{indent}- {{}}")
        elif isinstance(item, list):
            lines.append(f"{indent}- []")
        else:
            lines.append(f"{indent}- {_scalar(item)}")
