"""Masking, redaction and value formatting shared by every plan view.

Every view (human text, JSON, Markdown, drift) starts from the same *masked
pair*: deep copies of a change's ``before``/``after`` in which each sensitive
path holds a :class:`Sensitive` marker and each unknown path an
:class:`Unknown` marker.  Keeping that rule in one place is what lets us promise
that no view can print a secret, even when a caller mistakenly leaves a real
value at a sensitive path: the marker replaces whatever was there.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalogctl.plan.model import JSONPath

SENSITIVE_TEXT = "(sensitive value)"
UNKNOWN_TEXT = "(known after apply)"


@dataclass(frozen=True)
class Sensitive:
    """Stands for a value that exists but must never be shown.

    ``changed`` is set on the *after* side when both sides hold a value and
    those values differ, so the diff can say "this secret changed" without
    carrying (or hashing) the secret itself.
    """

    changed: bool = False


@dataclass(frozen=True)
class Unknown:
    """Stands for a value that only apply will learn (ids, credentials).

    ``sensitive`` records that the value, once known, will be secret: the
    text views print ``(known after apply)`` either way, the JSON masks mark
    it in ``after_sensitive`` as Terraform does.
    """

    sensitive: bool = False


Marker = Sensitive | Unknown
_MISSING = object()


# -- path helpers -------------------------------------------------------------
def get_path(value: Any, path: JSONPath) -> Any:
    """The value at ``path``, or the private ``_MISSING`` sentinel."""
    cur = value
    for step in path:
        if not _can_step(cur, step):
            return _MISSING
        cur = cur[step]
    return cur


def _can_step(cur: Any, step: str | int) -> bool:
    if isinstance(cur, dict):
        return isinstance(step, str) and step in cur
    if isinstance(cur, list):
        return isinstance(step, int) and 0 <= step < len(cur)
    return False


def has_path(value: Any, path: JSONPath) -> bool:
    return value is not None and get_path(value, path) is not _MISSING


def _place(root: Any, path: JSONPath, marker: Marker, *, create: bool) -> Any:
    """Put ``marker`` at ``path`` inside ``root`` (mutated) and return the root.

    An :class:`Unknown` on the way is kept (a value nobody knows yet cannot
    leak) but remembers that it will be sensitive, for the JSON masks.
    Anything else in the way that is not a container is replaced by the
    marker, because a scalar sitting where a secret map was expected might be
    the secret.  Missing dict keys are created only when ``create`` is true
    (the "value exists but is not shown" case).
    """
    parent: Any = None
    key: str | int | None = None
    cur = root
    for step in (*path, None):
        if isinstance(cur, Unknown):
            return _replace(root, parent, key, _merge(cur, marker))
        if step is None:
            break
        if isinstance(cur, dict) and isinstance(step, str):
            if step not in cur:
                if not create:
                    return root
                cur[step] = {}
        elif not (isinstance(cur, list) and isinstance(step, int)):
            break  # a scalar, or a container of the wrong shape: hide it whole
        elif not 0 <= step < len(cur):
            return root
        parent, key, cur = cur, step, cur[step]
    return _replace(root, parent, key, marker)


def _merge(current: Unknown, marker: Marker) -> Unknown:
    return Unknown(sensitive=True) if isinstance(marker, Sensitive) else current


def _replace(root: Any, parent: Any, key: str | int | None, marker: Marker) -> Any:
    if parent is None or key is None:
        return marker
    parent[key] = marker
    return root


# -- the masked pair ----------------------------------------------------------
def default_sensitive_paths(kind: str, before: Any, after: Any) -> tuple[JSONPath, ...]:
    """Paths that are sensitive by the kind's nature, whatever the caller said.

    Secret ``data`` values and binding ``credentials`` are always secret; adding
    them here is defence in depth for callers (and drift entries, which carry
    no sensitive paths of their own).
    """
    paths: list[JSONPath] = []
    if kind == "ServiceBinding":
        paths.append(("credentials",))
    if kind == "Secret":
        for side in (before, after):
            data = side.get("data") if isinstance(side, dict) else None
            if isinstance(data, dict):
                paths.extend(("data", key) for key in data)
            elif data is not None:
                paths.append(("data",))
    return tuple(p for p in dict.fromkeys(paths) if has_path(before, p) or has_path(after, p))


def masked_pair(
    before: Any,
    after: Any,
    sensitive: Iterable[JSONPath],
    unknown: Iterable[JSONPath],
) -> tuple[Any, Any]:
    """Deep copies of ``before``/``after`` with markers at hidden paths.

    A sensitive path present on neither side is taken to exist on every side
    that exists (the model's "a value exists but must be hidden"), so it shows
    as ``(sensitive value)`` without looking like a change.  Present on one
    side only, it is an addition or a removal.
    """
    b = copy.deepcopy(before)
    a = copy.deepcopy(after)
    if a is not None:
        for path in unknown:
            a = _place(a, tuple(path), Unknown(), create=True)
    for raw_path in sensitive:
        path = tuple(raw_path)
        in_b, in_a = has_path(before, path), has_path(after, path)
        neither = not in_b and not in_a
        if b is not None and (in_b or neither):
            b = _place(b, path, Sensitive(), create=neither)
        if a is not None and (in_a or neither):
            changed = in_b and in_a and _differs(get_path(before, path), get_path(after, path))
            a = _place(a, path, Sensitive(changed), create=neither)
    return b, a


def _differs(left: Any, right: Any) -> bool:
    """Type-strict inequality (``1`` vs ``True`` differ), as the diff sees it."""
    return json.dumps(left, sort_keys=True, default=repr) != json.dumps(
        right, sort_keys=True, default=repr
    )


# -- JSON redaction and masks -------------------------------------------------
def redact(value: Any) -> Any:
    """A JSON value with markers removed: sensitive -> null, unknown -> omitted.

    Terraform's JSON plan omits unknown values from ``after`` (the mask says
    where they are); sensitive values become ``null`` because, unlike
    Terraform, a catalogctl plan never holds them at all.
    """
    if isinstance(value, Sensitive | Unknown):
        return None
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if not isinstance(v, Unknown)}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def mask(value: Any, marker: type[Sensitive] | type[Unknown]) -> Any:
    """Terraform's mask: same shape as ``value``, ``true`` where a marker sits.

    Known scalars are omitted from objects and ``false`` in arrays (whose
    positions cannot be omitted); a missing value masks to ``false``.
    """
    if isinstance(value, marker):
        return True
    if isinstance(value, Unknown) and marker is Sensitive:
        return value.sensitive
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            sub = mask(item, marker)
            if sub is not False:
                out[key] = sub
        return out
    if isinstance(value, list):
        return [mask(item, marker) for item in value]
    return False


# -- formatting ---------------------------------------------------------------
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def format_scalar(value: Any) -> str:
    """JSON-ish rendering: strings quoted, numbers and booleans bare, null.

    ``json.dumps`` escapes control characters, so a broker-supplied string
    cannot smuggle terminal escape sequences into the plan.
    """
    if isinstance(value, Sensitive):
        return SENSITIVE_TEXT
    if isinstance(value, Unknown):
        return UNKNOWN_TEXT
    if isinstance(value, bool | int | float | str) or value is None:
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(str(value), ensure_ascii=False)


def format_key(key: str | int) -> str:
    """Map keys bare when they look like identifiers, quoted otherwise."""
    text = str(key)
    return text if _IDENT.match(text) else json.dumps(text, ensure_ascii=False)


def clean_text(text: str) -> str:
    """Free text (reasons, details) with control characters made visible."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
