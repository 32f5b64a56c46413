"""Instance and binding parameters: merging, local schema validation, checksums, PATCH payloads.

Everything here is pure: Secrets are read by the caller and handed in as
:class:`SecretParameters`, so the functions can run during ``plan`` and in tests
without a cluster.

Sensitivity is tracked per *top-level key*: a key whose value came from a Secret
(``parametersFrom``) is sensitive, and no message, problem or redacted view
produced here ever contains its value.  That is the granularity Service Catalog
used (it stored such values as ``"<redacted>"``), and it is the granularity at
which keys are merged, so it is exact.

Removal of a parameter on update (:func:`parameters_patch`): OSB has no way to
say "unset this key".  A PATCH without ``parameters`` changes nothing, and the
spec asks platforms to send only what the user specified.  Service Catalog
re-sent *all* parameters whenever the checksum changed, which broke brokers
whose update schema rejects create-only keys (service-catalog #1488).  Silently
omitting a removed key would leave the broker with a value the YAML no longer
shows, a hidden drift that ``plan`` would never report.  So by default catalogctl
sends a removed key as JSON ``null``: the JSON Merge Patch (RFC 7396) spelling
of "remove", visible in the plan, and a broker that does not accept it answers
4xx, which by OSB leaves the instance unchanged.  ``removal="omit"`` is available
for brokers known to reject nulls; the caller must then surface the removal as a
warning.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

from catalogctl.errors import BrokerError, InputError
from catalogctl.providers.osb.catalog import ResolvedPlan, SchemaOperation

__all__ = [
    "MAX_SCHEMA_BYTES",
    "MergedParameters",
    "ParameterError",
    "ParameterProblem",
    "ParametersPatch",
    "SecretParameters",
    "UnusableSchemaError",
    "check_schema",
    "go_json_marshal",
    "merge_parameters",
    "parameters_checksum",
    "parameters_patch",
    "validate_for_plan",
    "validate_parameters",
]

MAX_SCHEMA_BYTES = 64 * 1024
"""OSB: schemas "MUST NOT be larger than 64kB" (measured as compact UTF-8 JSON)."""

REDACTED = "<redacted>"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class ParameterProblem:
    """One problem with parameters, positioned for mapping back to YAML.

    ``path`` is a readable JSON path rooted at ``parameters`` (``parameters.size``,
    ``parameters.nodes[0].name``); ``parts`` is the same path as keys/indices below
    the root, for programmatic lookup.  ``source`` says where the top-level key
    came from: ``"parameters"`` or ``"parametersFrom[i]"`` (point the user at that
    list item).  ``sensitive`` problems never carry a value in ``message``.
    """

    path: str
    message: str
    source: str = "parameters"
    sensitive: bool = False
    parts: tuple[str | int, ...] = ()

    def render(self) -> str:
        return f"{self.path}: {self.message}"


class ParameterError(InputError):
    """Parameters could not be merged; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[ParameterProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(p.render() for p in self.problems))


class UnusableSchemaError(BrokerError):
    """A broker-published JSON Schema cannot be used for local validation.

    Raised for schemas over 64 kB, with external ``$ref`` s, or that are not valid
    schemas for their declared draft; all three violate OSB, so the broker must be
    fixed.  Never contains user parameter values.
    """


@dataclass(frozen=True)
class SecretParameters:
    """One resolved ``parametersFrom[].secretKeyRef``: the raw Secret data value.

    ``index`` is the entry's position in ``parametersFrom`` (defaults to its
    position in the sequence passed to :func:`merge_parameters`).
    """

    secret_name: str
    key: str
    value: str | bytes = field(repr=False)
    index: int | None = None

    def describe(self, index: int) -> str:
        return f"parametersFrom[{index}] (secret {self.secret_name!r} key {self.key!r})"


@dataclass(frozen=True)
class MergedParameters:
    """The parameters to send, and which top-level keys are sensitive.

    ``sources`` maps every top-level key to ``"parameters"`` or
    ``"parametersFrom[i]"``.  Use :meth:`redacted` for anything shown or stored.
    """

    values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    sensitive_keys: frozenset[str] = frozenset()
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def as_dict(self) -> dict[str, Any]:
        """A plain (deep) copy of the values, for the request body."""
        result: dict[str, Any] = json.loads(json.dumps(dict(self.values)))
        return result

    def redacted(self) -> dict[str, Any]:
        """Values with every sensitive key's value replaced by ``"<redacted>"``."""
        return {k: (REDACTED if k in self.sensitive_keys else v) for k, v in self.values.items()}

    @property
    def checksum(self) -> str:
        """Service Catalog's ``parameterChecksum`` of the merged values (includes secrets)."""
        return parameters_checksum(self.values)


# --------------------------------------------------------------------------- paths


def _render_path(parts: Iterable[str | int], root: str = "parameters") -> str:
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _json_type_problems(
    value: Any, parts: tuple[str | int, ...], source: str, sensitive: bool
) -> list[ParameterProblem]:
    """Find values that have no JSON form (e.g. YAML dates), which would break every later step."""
    if value is None or isinstance(value, str | bool | int):
        return []
    if isinstance(value, float):
        if math.isfinite(value):
            return []
        what = "a non-finite number (NaN or infinity)"
    elif isinstance(value, Mapping):
        problems: list[ParameterProblem] = []
        for k, v in value.items():
            if not isinstance(k, str):
                problems.append(
                    ParameterProblem(
                        _render_path(parts), "object keys must be strings", source, sensitive, parts
                    )
                )
                continue
            problems += _json_type_problems(v, (*parts, k), source, sensitive)
        return problems
    elif isinstance(value, list | tuple):
        return [
            p
            for i, v in enumerate(value)
            for p in _json_type_problems(v, (*parts, i), source, sensitive)
        ]
    else:
        what = f"a {type(value).__name__} value (quote it in YAML to make it a string)"
    return [
        ParameterProblem(
            _render_path(parts), f"is {what}, which JSON cannot represent", source, sensitive, parts
        )
    ]


# --------------------------------------------------------------------------- merge


def merge_parameters(
    parameters: Mapping[str, Any] | None,
    parameters_from: Sequence[SecretParameters] = (),
) -> MergedParameters:
    """Merge inline ``parameters`` with each ``parametersFrom`` Secret value.

    Each Secret value must be a JSON object whose top-level keys are added; a key
    that is already present (inline or from an earlier Secret) is an error naming
    both sources, as in Service Catalog (no silent precedence).  Values of keys
    from Secrets are never put in messages.

    Raises :class:`ParameterError` with every problem found.
    """
    problems: list[ParameterProblem] = []
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    labels: dict[str, str] = {}
    sensitive: set[str] = set()

    for key, value in (parameters or {}).items():
        if not isinstance(key, str):
            problems.append(ParameterProblem("parameters", f"key {key!r} must be a string"))
            continue
        problems += _json_type_problems(value, (key,), "parameters", False)
        values[key] = value
        sources[key] = labels[key] = "parameters"

    for position, entry in enumerate(parameters_from):
        index = position if entry.index is None else entry.index
        source = f"parametersFrom[{index}]"
        label = entry.describe(index)
        raw = entry.value
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            decoded = json.loads(text)
        except UnicodeDecodeError:
            problems.append(
                ParameterProblem(source, f"{label}: the value is not UTF-8 text", source, True)
            )
            continue
        except json.JSONDecodeError as exc:
            problems.append(
                ParameterProblem(
                    source,
                    f"{label}: the value is not valid JSON "
                    f"({exc.msg} at line {exc.lineno} column {exc.colno})",
                    source,
                    True,
                )
            )
            continue
        if not isinstance(decoded, dict):
            problems.append(
                ParameterProblem(
                    source,
                    f"{label}: the value must be a JSON object, got {_json_kind(decoded)}",
                    source,
                    True,
                )
            )
            continue
        for key, value in decoded.items():
            if key in values:
                problems.append(
                    ParameterProblem(
                        _render_path((key,)),
                        f"top-level key {key!r} is set both in {labels[key]} and in {label}; "
                        "each key may come from one source only",
                        source,
                        True,
                        (key,),
                    )
                )
                continue
            values[key] = value
            sources[key] = source
            labels[key] = label
            sensitive.add(key)

    if problems:
        raise ParameterError(problems)
    return MergedParameters(
        MappingProxyType(values), frozenset(sensitive), MappingProxyType(sources)
    )


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


# --------------------------------------------------------------------------- schemas


def _external_refs(node: Any, path: str = "#") -> list[str]:
    found: list[str] = []
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            found.append(f"{path}/$ref={ref!r}")
        for key, child in node.items():
            found += _external_refs(child, f"{path}/{key}")
    elif isinstance(node, list):
        for i, child in enumerate(node):
            found += _external_refs(child, f"{path}/{i}")
    return found


def check_schema(schema: Mapping[str, Any], *, context: str = "") -> type[Any]:
    """Check a broker schema is usable and return the jsonschema validator class for it.

    The validator is chosen by ``$schema`` (draft-04, -06, -07, 2019-09, 2020-12;
    ``https`` and a trailing ``#`` are tolerated).  A schema without ``$schema``
    (OSB requires it, but brokers forget) or with an unknown one is validated as
    draft-04, the version every OSB platform must support.

    Raises :class:`UnusableSchemaError` for schemas over 64 kB, with ``$ref`` s that
    are not local (``#...``), or that are invalid under their draft.  ``context``
    (e.g. ``"broker 'b' plan 'p' instance create schema"``) prefixes messages.
    """
    prefix = f"{context}: " if context else ""
    if not isinstance(schema, Mapping):
        raise UnusableSchemaError(f"{prefix}the schema must be a JSON object")
    size = len(
        json.dumps(schema, separators=(",", ":"), ensure_ascii=False, default=dict).encode("utf-8")
    )
    if size > MAX_SCHEMA_BYTES:
        raise UnusableSchemaError(
            f"{prefix}the schema is {size} bytes; OSB limits schemas to 64 kB"
        )
    external = _external_refs(schema)
    if external:
        raise UnusableSchemaError(
            f"{prefix}the schema has external references ({', '.join(external[:3])}); "
            "OSB schemas must be self-contained, so it cannot be checked locally"
        )
    # jsonschema is imported only when a plan really publishes a schema.
    import jsonschema
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError

    declared = schema.get("$schema")
    cls: type[Any] = jsonschema.Draft4Validator
    if isinstance(declared, str):
        base = declared.strip().rstrip("#")
        swapped = (
            base.replace("https://", "http://", 1)
            if base.startswith("https://")
            else base.replace("http://", "https://", 1)
        )
        for candidate in (base, base + "#", swapped, swapped + "#"):
            found = validators.validator_for({"$schema": candidate}, default=None)
            if found is not None:
                cls = found
                break
    try:
        cls.check_schema(dict(schema))
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        raise UnusableSchemaError(
            f"{prefix}the schema is not a valid {cls.__name__.removesuffix('Validator')} "
            f"schema at {where}: {_truncate(exc.message)}"
        ) from None
    return cls


_SAFE_AT_ROOT = frozenset(
    {
        "required",
        "additionalProperties",
        "dependencies",
        "dependentRequired",
        "propertyNames",
        "unevaluatedProperties",
    }
)


def _truncate(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _value_free_message(error: ValidationError) -> str:
    """Describe a failure from the schema side only, for values that must not be shown."""
    kw = str(error.validator)
    expected = error.validator_value
    if kw in (
        "type",
        "format",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "multipleOf",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "uniqueItems",
    ):
        return f"the value does not satisfy {kw}: {_truncate(json.dumps(expected), 120)}"
    if kw in ("enum", "const"):
        return f"the value is not one of the allowed values ({kw})"
    return f"the value does not satisfy the schema's {kw!r} rule"


def validate_parameters(
    parameters: Mapping[str, Any] | None,
    schema: Mapping[str, Any] | None,
    *,
    sensitive_keys: Iterable[str] = (),
    sources: Mapping[str, str] | None = None,
    context: str = "",
) -> list[ParameterProblem]:
    """Validate parameters against a plan schema; return problems (empty = valid).

    ``schema=None`` (the broker published none) accepts anything.  Problems carry
    a path into ``parameters`` and the source of the top-level key.  When the
    failing value is (or contains) a sensitive key's value, the message is built
    from the schema alone.  Raises :class:`UnusableSchemaError` if the schema
    itself cannot be used (see :func:`check_schema`).
    """
    if schema is None:
        return []
    import referencing.exceptions

    cls = check_schema(schema, context=context)
    secret = frozenset(sensitive_keys)
    src = sources or {}
    validator = cls(dict(schema))
    instance = dict(parameters or {})
    problems: list[ParameterProblem] = []
    try:
        errors = sorted(
            validator.iter_errors(instance),
            key=lambda e: (list(map(str, e.absolute_path)), str(e.validator)),
        )
    except referencing.exceptions.Unresolvable as exc:
        prefix = f"{context}: " if context else ""
        raise UnusableSchemaError(
            f"{prefix}the schema has an unresolvable reference ({exc.__class__.__name__})"
        ) from None
    for error in errors:
        parts = tuple(p if isinstance(p, int) else str(p) for p in error.absolute_path)
        top = parts[0] if parts else None
        if isinstance(top, str):
            is_sensitive = top in secret
        else:
            is_sensitive = bool(secret) and str(error.validator) not in _SAFE_AT_ROOT
        message = _value_free_message(error) if is_sensitive else _truncate(error.message)
        source = src.get(top, "parameters") if isinstance(top, str) else "parameters"
        problems.append(
            ParameterProblem(
                _render_path(parts), message, source, isinstance(top, str) and top in secret, parts
            )
        )
    return problems


def validate_for_plan(
    plan: ResolvedPlan,
    operation: SchemaOperation,
    parameters: Mapping[str, Any] | MergedParameters | None,
) -> list[ParameterProblem]:
    """Validate against the plan's schema for ``operation`` (``instance_create``,
    ``instance_update`` or ``binding_create``).

    For ``instance_update`` pass the PATCH payload (:attr:`ParametersPatch.payload`),
    which is what the broker will validate: keys sent as ``null`` to remove them
    are left out of validation, since a schema cannot describe removal.
    """
    if isinstance(parameters, MergedParameters):
        values: Mapping[str, Any] = parameters.values
        sensitive: frozenset[str] = parameters.sensitive_keys
        sources: Mapping[str, str] = parameters.sources
    else:
        values, sensitive, sources = parameters or {}, frozenset(), {}
    if operation == "instance_update":
        values = {k: v for k, v in values.items() if v is not None}
    context = f"broker {plan.broker!r} plan {plan.offering.name}/{plan.plan.name} " + (
        operation.replace("_", " ") + " schema"
    )
    return validate_parameters(
        values,
        plan.schemas.for_operation(operation),
        sensitive_keys=sensitive,
        sources=sources,
        context=context,
    )


# --------------------------------------------------------------------------- checksum


def _go_float(value: float) -> str:
    """Format a float64 the way Go's encoding/json does (shortest round-trip digits)."""
    if not math.isfinite(value):
        raise ValueError("JSON cannot represent NaN or infinity")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(value)  # Python's repr: shortest digits, exponent at least 2 digits
        mantissa, _, exponent = text.partition("e")
        sign = exponent[0]
        digits = exponent[1:].lstrip("0") or "0"
        if sign == "-" and len(digits) == 1:
            return f"{mantissa}e-{digits}"  # Go trims e-07 to e-7
        return f"{mantissa}e{sign}{digits.zfill(2)}"
    text = format(Decimal(repr(value)), "f")
    # repr has the shortest digits, so the only trailing zeros are a bare ".0".
    return text.rstrip("0").rstrip(".") if "." in text else text


#: Text Go writes between the quotes as is: no quote, backslash, control
#: character, ``<>&``, line/paragraph separator or lone surrogate.
_GO_PLAIN = re.compile(r'[^"\\\x00-\x1f<>&\u2028\u2029\ud800-\udfff]*')

#: Integers a float64 holds exactly; Go prints them as their digits.
_EXACT_INT = 2**53


def _go_string(text: str) -> str:
    if _GO_PLAIN.fullmatch(text):
        return f'"{text}"'  # the common case, without a loop per character
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # Go replaces invalid UTF-8 (here: lone surrogates)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json_marshal(value: Any) -> str:
    """Serialise like Go's ``json.Marshal`` of a ``map[string]interface{}`` tree.

    Service Catalog decoded parameters into Go ``interface{}`` values, so every
    number is a float64 (``2`` and ``2.0`` both print ``2``; integers above 2**53
    lose precision exactly as they did there).  Keys are sorted, there is no
    whitespace, ``<``, ``>``, ``&``, U+2028 and U+2029 are ``\\u``-escaped, and
    control characters other than ``\\n``, ``\\r``, ``\\t`` use ``\\u00XX`` (the
    pre-Go-1.22 spelling Service Catalog was built with).
    """
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        if -_EXACT_INT <= value <= _EXACT_INT:
            return str(value)
        return _go_float(float(value))
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return _go_string(value)
    if isinstance(value, Mapping):
        items = []
        for key in sorted(value):
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, got {type(key).__name__}")
            items.append(f"{_go_string(key)}:{go_json_marshal(value[key])}")
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json_marshal(v) for v in value) + "]"
    raise TypeError(f"{type(value).__name__} values cannot be represented in JSON")


def parameters_checksum(parameters: Mapping[str, Any] | None) -> str:
    """Service Catalog's ``parameterChecksum``: sha256 hex of Go's ``json.Marshal``.

    Empty or missing parameters give ``""``.  The hash covers secret values too
    (that is how Service Catalog computed it, and it lets a Secret change be
    noticed); a checksum of a low-entropy secret can be brute-forced, so treat it
    as sensitive-adjacent and do not print it next to a secret's name.
    """
    if not parameters:
        return ""
    return hashlib.sha256(go_json_marshal(parameters).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- PATCH


@dataclass(frozen=True)
class ParametersPatch:
    """What to put in ``parameters`` of an update request, and why.

    ``payload`` is ``None`` when nothing changed: omit ``parameters`` entirely, so
    the broker "MUST NOT change the parameters".  Added and changed keys carry
    their new value; removed keys carry ``None`` (JSON null) under the default
    removal policy, or are absent under ``"omit"`` (then they are still listed in
    ``removed`` so the plan can warn).  ``sensitive_keys`` are the payload keys
    whose new values came from Secrets.
    """

    payload: Mapping[str, Any] | None
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    sensitive_keys: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.added or self.changed or self.removed)


def parameters_patch(
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | MergedParameters | None,
    *,
    removal: Literal["null", "omit"] = "null",
) -> ParametersPatch:
    """Compute the changed-keys-only ``parameters`` for a PATCH.

    ``old`` is what was last sent successfully (from state), ``new`` the desired
    merged parameters.  Keys are compared at the top level by their Go-JSON
    form, so ``2`` and ``2.0`` are equal (as in the checksum) and a change
    anywhere inside a nested object resends that whole top-level value.  See the
    module docstring for why removal defaults to ``null``.
    """
    if isinstance(new, MergedParameters):
        new_values: Mapping[str, Any] = new.values
        new_sensitive: frozenset[str] = new.sensitive_keys
    else:
        new_values, new_sensitive = new or {}, frozenset()
    old_values = old or {}
    added = tuple(sorted(k for k in new_values if k not in old_values))
    changed = tuple(
        sorted(
            k
            for k in new_values
            if k in old_values and go_json_marshal(new_values[k]) != go_json_marshal(old_values[k])
        )
    )
    removed = tuple(sorted(k for k in old_values if k not in new_values))
    payload: dict[str, Any] = {k: new_values[k] for k in (*added, *changed)}
    if removal == "null":
        payload.update(dict.fromkeys(removed))
    if not payload:
        return ParametersPatch(None, added, changed, removed, frozenset())
    return ParametersPatch(
        MappingProxyType(payload),
        added,
        changed,
        removed,
        frozenset(k for k in payload if k in new_sensitive),
    )
