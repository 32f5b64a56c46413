"""``labelSelector`` and ``fieldSelector`` parsing and matching, with the apiserver's rules.

Label selectors support ``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key`` (and
``>``/``<``).
Field selectors accept only the labels the type's conversion function knows; anything else is a
400 whose text depends on whether the type registers its own conversion (Secrets, Namespaces) or
uses the default one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from tests.kube.errors import ApiError, bad_request
from tests.kube.resources import ResourceType

Matcher = Callable[[dict[str, Any]], bool]

_SET_OP = re.compile(r"^\s*(\S+?)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP_OP = re.compile(r"^\s*([^!=<>\s]+)\s*(==|!=|=|>|<)\s*(\S*)\s*$")
_KEY = re.compile(r"^\s*(!?)\s*([^!=<>\s(),]+)\s*$")


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside parentheses, so ``a in (x,y),b`` has two requirements."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _label_requirement(req: str) -> Callable[[dict[str, str]], bool]:
    m = _SET_OP.match(req)
    if m:
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: key in labels and labels[key] in values
        return lambda labels: key not in labels or labels[key] not in values
    m = _CMP_OP.match(req)
    if m:
        key, op, value = m.groups()
        if op in ("=", "=="):
            return lambda labels: labels.get(key) == value
        if op == "!=":
            return lambda labels: labels.get(key) != value
        try:
            bound = int(value)
        except ValueError:
            raise _label_error(
                req, "for 'Gt', 'Lt' operators, the value must be an integer"
            ) from None
        if op == ">":
            return lambda labels: key in labels and _int_or_none(labels[key]) is not None and (
                int(labels[key]) > bound)
        return lambda labels: key in labels and _int_or_none(labels[key]) is not None and (
            int(labels[key]) < bound)
    m = _KEY.match(req)
    if m:
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise _label_error(req, "found unexpected token")


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _label_error(req: str, why: str) -> ApiError:
    return bad_request(f"unable to parse requirement: {why}: {req.strip()!r}")


def parse_label_selector(text: str | None) -> Matcher:
    """Compile a label selector; an empty one matches everything."""
    if not text:
        return lambda obj: True
    reqs = [_label_requirement(r) for r in _split_top_level(text)]

    def match(obj: dict[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r(labels) for r in reqs)

    return match


def _field_value(obj: dict[str, Any], label: str) -> str:
    meta = obj.get("metadata") or {}
    if label == "metadata.name":
        return str(meta.get("name", ""))
    if label == "metadata.namespace":
        return str(meta.get("namespace", ""))
    if label == "type":
        return str(obj.get("type", ""))
    if label == "status.phase":
        return str((obj.get("status") or {}).get("phase", ""))
    return ""


def _unsupported_field(rt: ResourceType, label: str) -> ApiError:
    if rt.field_labels is None:
        return bad_request(
            f'"{label}" is not a known field selector: only "metadata.name", "metadata.namespace"'
        )
    return bad_request(f"field label not supported: {label}")


def parse_field_selector(text: str | None, rt: ResourceType) -> Matcher:
    """Compile a field selector against the labels ``rt`` supports."""
    if not text:
        return lambda obj: True
    allowed = {"metadata.name", "metadata.namespace", *(rt.field_labels or ())}
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for req in _split_top_level(text):
        m = re.match(r"^\s*([^!=\s]+)\s*(==|!=|=)\s*(.*?)\s*$", req)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{req}'")
        label, op, value = m.groups()
        if label not in allowed:
            raise _unsupported_field(rt, label)
        checks.append(_field_check(label, value, negate=op == "!="))
    return lambda obj: all(c(obj) for c in checks)


def _field_check(label: str, value: str, negate: bool) -> Callable[[dict[str, Any]], bool]:
    def check(obj: dict[str, Any]) -> bool:
        return (_field_value(obj, label) == value) != negate

    return check

