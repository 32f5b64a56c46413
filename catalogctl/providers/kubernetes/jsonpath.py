"""The subset of Kubernetes ``util/jsonpath`` that ``secretTransforms.addKey`` needs.

Service Catalog evaluated ``addKey.jsonPathExpression`` with the apiserver's
jsonpath *template* engine against the broker's credentials map and stored the
printed text.  Manifests written for it therefore use template syntax
(``{.a.b}``, ``"jdbc:{.host}:{.port}"``), not RFC 9535 JSONPath, and the printed
form follows Go's ``fmt.Fprint`` (a float64 port 5432 prints ``5432``; a nested
map prints ``map[k:v]``).  We reproduce exactly that for the constructs people
use and reject everything else with an error naming the construct, because a
silently different result would land in a workload's credentials.

Supported inside ``{...}``: an optional leading ``$``, ``.field``, ``['quoted']``
or ``["quoted"]`` fields, ``[n]`` (negative counts from the end), ``[*]`` and
``.*`` wildcards, and a quoted string literal (``{"\\n"}``).  Text outside
braces is copied literally.  Not supported: ``..`` recursive descent, filters
``[?()]``, slices ``[a:b]``, unions ``[a,b]``, ``range``/``end``.

Error messages name the expression and the path segment, never a value: the
input is a credentials map.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["JSONPathError", "evaluate_template", "go_format", "parse_template"]


class JSONPathError(ValueError):
    """The template cannot be parsed, or does not match the data's shape."""


@dataclass(frozen=True)
class _Field:
    name: str  # "*" for the wildcard


@dataclass(frozen=True)
class _Index:
    index: int | None  # None for [*]


_Step = _Field | _Index


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Expr:
    source: str
    steps: tuple[_Step, ...]


_Node = _Text | _Expr

# A field name runs until one of the jsonpath lexer's terminators (as in k8s util/jsonpath).
_FIELD_CHARS = re.compile(r"[^\s.,\[\]$@{}]+")
_INT = re.compile(r"-?\d+")


def parse_template(template: str) -> list[_Node]:
    """Split ``template`` into literal text and parsed ``{...}`` expressions."""
    nodes: list[_Node] = []
    pos = 0
    while pos < len(template):
        start = template.find("{", pos)
        if start < 0:
            nodes.append(_Text(template[pos:]))
            break
        if start > pos:
            nodes.append(_Text(template[pos:start]))
        end = _find_close(template, start)
        inner = template[start + 1 : end].strip()
        nodes.extend(_parse_action(inner, template))
        pos = end + 1
    return nodes


def _find_close(template: str, start: int) -> int:
    """Index of the ``}`` closing the brace at ``start``, skipping quoted text."""
    quote: str | None = None
    i = start + 1
    while i < len(template):
        ch = template[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "}":
            return i
        i += 1
    raise JSONPathError(f"jsonpath {template!r}: unclosed '{{'")


def _parse_action(inner: str, template: str) -> list[_Node]:
    if not inner:
        raise JSONPathError(f"jsonpath {template!r}: empty expression '{{}}'")
    if inner[0] == '"':
        if len(inner) < 2 or inner[-1] != '"':
            raise JSONPathError(f"jsonpath {template!r}: unterminated string literal")
        try:
            text = inner[1:-1].encode("latin-1", "backslashreplace").decode("unicode_escape")
        except UnicodeDecodeError as e:
            raise JSONPathError(f"jsonpath {template!r}: bad escape in string literal") from e
        return [_Text(text)]
    word = inner.split(None, 1)[0]
    if word in ("range", "end") or inner.startswith("range "):
        raise JSONPathError(f"jsonpath {template!r}: 'range'/'end' is not supported")
    return [_Expr(inner, _parse_path(inner, template))]


def _parse_path(expr: str, template: str) -> tuple[_Step, ...]:
    steps: list[_Step] = []
    pos = 1 if expr.startswith("$") else 0
    if pos == len(expr):
        return ()
    while pos < len(expr):
        ch = expr[pos]
        if expr.startswith("..", pos):
            raise JSONPathError(f"jsonpath {template!r}: recursive descent '..' is not supported")
        if ch == ".":
            pos += 1
            if pos < len(expr) and expr[pos] == "*":
                steps.append(_Field("*"))
                pos += 1
                continue
            m = _FIELD_CHARS.match(expr, pos)
            if m is None:
                if pos == len(expr) and not steps:
                    return ()  # "{.}" is the whole object
                raise JSONPathError(
                    f"jsonpath {template!r}: expected a field name at {expr[pos - 1 :]!r}"
                )
            steps.append(_Field(m.group(0)))
            pos = m.end()
        elif ch == "[":
            close = _bracket_end(expr, pos, template)
            body = expr[pos + 1 : close].strip()
            steps.append(_parse_bracket(body, template))
            pos = close + 1
        elif ch.isspace():
            raise JSONPathError(f"jsonpath {template!r}: only one path per '{{}}' is supported")
        else:
            raise JSONPathError(f"jsonpath {template!r}: unexpected {ch!r} in {expr!r}")
    return tuple(steps)


def _bracket_end(expr: str, start: int, template: str) -> int:
    quote: str | None = None
    for i in range(start + 1, len(expr)):
        ch = expr[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "]":
            return i
    raise JSONPathError(f"jsonpath {template!r}: unclosed '['")


def _parse_bracket(body: str, template: str) -> _Step:
    if body == "*":
        return _Index(None)
    if len(body) >= 2 and body[0] == body[-1] and body[0] in "'\"":
        return _Field(body[1:-1])
    if _INT.fullmatch(body):
        return _Index(int(body))
    if body.startswith("?"):
        raise JSONPathError(f"jsonpath {template!r}: filters '[?()]' are not supported")
    if ":" in body:
        raise JSONPathError(f"jsonpath {template!r}: slices '[a:b]' are not supported")
    if "," in body:
        raise JSONPathError(f"jsonpath {template!r}: unions '[a,b]' are not supported")
    raise JSONPathError(f"jsonpath {template!r}: unsupported subscript [{body}]")


def _describe(steps: tuple[_Step, ...], upto: int) -> str:
    out = ""
    for step in steps[:upto]:
        if isinstance(step, _Field):
            out += f".{step.name}"
        else:
            out += "[*]" if step.index is None else f"[{step.index}]"
    return out or "."


def _walk(value: Any, steps: tuple[_Step, ...], template: str) -> list[Any]:
    current = [value]
    for n, step in enumerate(steps):
        nxt: list[Any] = []
        for item in current:
            if isinstance(step, _Field):
                if step.name == "*":
                    if isinstance(item, dict):
                        nxt.extend(item[k] for k in sorted(item))
                    elif isinstance(item, list):
                        nxt.extend(item)
                    continue
                if not isinstance(item, dict):
                    raise JSONPathError(
                        f"jsonpath {template!r}: {_describe(steps, n)} is not an object, "
                        f"cannot read field {step.name!r}"
                    )
                if step.name not in item:
                    raise JSONPathError(
                        f"jsonpath {template!r}: {step.name} is not found "
                        f"(at {_describe(steps, n + 1)})"
                    )
                nxt.append(item[step.name])
            else:
                if not isinstance(item, list):
                    raise JSONPathError(
                        f"jsonpath {template!r}: {_describe(steps, n)} is not an array"
                    )
                if step.index is None:
                    nxt.extend(item)
                    continue
                idx = step.index + len(item) if step.index < 0 else step.index
                if not 0 <= idx < len(item):
                    raise JSONPathError(
                        f"jsonpath {template!r}: array index out of bounds at "
                        f"{_describe(steps, n + 1)} (length {len(item)})"
                    )
                nxt.append(item[idx])
        current = nxt
    return current


def evaluate_template(template: str, data: dict[str, Any]) -> str:
    """Render ``template`` against ``data`` exactly as ``kubectl -o jsonpath`` would.

    Several results of one expression (wildcards) are joined with a space, as
    the Go implementation prints them.
    """
    out: list[str] = []
    for node in parse_template(template):
        if isinstance(node, _Text):
            out.append(node.text)
        else:
            results = _walk(data, node.steps, template)
            out.append(" ".join(go_format(r) for r in results))
    return "".join(out)


def _go_float(value: float) -> str:
    """``fmt.Sprint(float64)``: shortest digits, %e when the exponent is < -4 or >= 6.

    (Go's ``%v`` is ``%g`` with the shortest precision, whose switch to
    exponent form happens at 1e+06, unlike ``encoding/json``'s 1e21.)
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    # Decimal point position relative to the first digit.
    point = len(digits) + exponent
    exp10 = point - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return prefix + ds + "0" * (point - len(ds))
    return f"{prefix}{ds[:point]}.{ds[point:]}"


def go_format(value: Any) -> str:
    """Print a JSON-decoded value the way Go's ``fmt.Fprint`` prints ``interface{}``.

    Numbers are float64 in Go (``encoding/json`` into ``interface{}``), so ints
    print through the float rules too; maps print sorted as ``map[k:v]``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    if isinstance(value, int | float):
        return _go_float(float(value))
    if isinstance(value, bytes):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_format(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_format(v) for v in value) + "]"
    return str(value)
