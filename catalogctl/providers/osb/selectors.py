"""``catalogRestrictions``: Service Catalog's label-selector filter over a broker catalog.

A broker spec may carry::

    catalogRestrictions:
      serviceClass: ["spec.externalName in (cloud-queue, cloud-db)"]
      servicePlan:  ["spec.free=true", "name!=legacy"]

Service Catalog joined each list with ``,`` and parsed it with Kubernetes'
``labels.Parse``, so a list is an AND of requirements with no OR.  We keep those
semantics exactly, because users bring their existing broker manifests:

* operators ``=``, ``==``, ``!=``, ``in (a, b)``, ``notin (a, b)``;
* values must be valid label values (at most 63 characters of
  ``[A-Za-z0-9._-]``, starting and ending alphanumeric, or empty); matching is
  case-sensitive string equality;
* ``=``/``==``/``in`` need the property to exist with a listed value,
  ``!=``/``notin`` accept a missing property (all our properties always exist);
* properties: classes ``name`` (the Kubernetes name, see
  :func:`~catalogctl.providers.osb.catalog.generate_escaped_name`),
  ``spec.externalName``, ``spec.externalID``; plans the same plus ``spec.free``
  (``"true"``/``"false"`` with Service Catalog's *missing means false*) and
  ``spec.clusterServiceClass.name`` (cluster brokers) or ``spec.serviceClass.name``
  (namespaced brokers);
* classes are filtered first, then the plans of accepted classes, and a class
  left without plans is dropped.

Differences, all stricter and reported at load time: unknown properties are
rejected (Service Catalog's validation did the same), and the label-selector
forms that make no sense for always-present properties (bare ``key``, ``!key``,
``>``, ``<``) are rejected with a message instead of silently matching all or
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from catalogctl.providers.osb.catalog import Catalog, ServiceOffering, ServicePlan

__all__ = [
    "CLASS_PROPERTIES",
    "CLUSTER_PLAN_PROPERTIES",
    "NAMESPACED_PLAN_PROPERTIES",
    "CatalogRestrictions",
    "Operator",
    "Requirement",
    "RestrictionSyntaxError",
    "Selector",
    "apply_restrictions",
    "class_properties",
    "parse_restrictions",
    "plan_properties",
]

CLASS_PROPERTIES = frozenset({"name", "spec.externalName", "spec.externalID"})
CLUSTER_PLAN_PROPERTIES = CLASS_PROPERTIES | {"spec.free", "spec.clusterServiceClass.name"}
NAMESPACED_PLAN_PROPERTIES = CLASS_PROPERTIES | {"spec.free", "spec.serviceClass.name"}

_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(?:\.{_DNS_LABEL})*$")


class Operator(StrEnum):
    """The selector operators Service Catalog documents for catalogRestrictions."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "in"
    NOT_IN = "notin"


@dataclass(frozen=True)
class Requirement:
    """One ``<property> <op> <value(s)>`` term."""

    key: str
    operator: Operator
    values: tuple[str, ...]

    def matches(self, properties: Mapping[str, str]) -> bool:
        """Kubernetes label-selector semantics for one requirement."""
        if self.operator in (Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.IN):
            return self.key in properties and properties[self.key] in self.values
        return self.key not in properties or properties[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator in (Operator.IN, Operator.NOT_IN):
            return f"{self.key} {self.operator} ({', '.join(self.values)})"
        return f"{self.key}{self.operator}{self.values[0]}"


@dataclass(frozen=True)
class Selector:
    """An AND of requirements; the empty selector accepts everything."""

    requirements: tuple[Requirement, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, properties: Mapping[str, str]) -> bool:
        return all(r.matches(properties) for r in self.requirements)

    def __str__(self) -> str:
        return ", ".join(str(r) for r in self.requirements)


class RestrictionSyntaxError(ValueError):
    """One or more restriction entries are invalid.

    ``errors`` holds ``(entry_index, message)`` pairs so a loader can point at the
    exact YAML list item; ``str()`` gives all of them, one per line.
    """

    def __init__(self, errors: Sequence[tuple[int, str]]) -> None:
        self.errors = tuple(errors)
        super().__init__("\n".join(msg for _, msg in self.errors))


# --------------------------------------------------------------------------- lexer/parser

_SPECIALS = ("==", "!=", "=", "!", "(", ")", ",", ">", "<")


def _tokenize(text: str) -> list[str]:
    """Split into identifiers and the label-selector special symbols (whitespace separates)."""
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        special = next((s for s in _SPECIALS if text.startswith(s, i)), None)
        if special is not None:
            tokens.append(special)
            i += len(special)
            continue
        start = i
        while (
            i < len(text)
            and not text[i].isspace()
            and not any(text.startswith(s, i) for s in _SPECIALS)
        ):
            i += 1
        tokens.append(text[start:i])
    return tokens


def _is_identifier(token: str | None) -> bool:
    return token is not None and token not in _SPECIALS


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        if self.peek() is None:
            raise ValueError("empty restriction")
        while True:
            reqs.append(self.requirement())
            tok = self.take()
            if tok is None:
                return reqs
            if tok != ",":
                raise ValueError(f"expected ',' or end of entry, found {tok!r}")

    def requirement(self) -> Requirement:
        key = self.take()
        if key == "!":
            raise ValueError("'!key' (does-not-exist) is not supported in catalogRestrictions")
        if not _is_identifier(key):
            raise ValueError(
                f"expected a property name, found {key!r}"
                if key
                else "expected a property name, found end of entry"
            )
        assert key is not None
        op_tok = self.take()
        if op_tok is None or op_tok == ",":
            raise ValueError(
                f"{key!r} has no operator; use one of =, ==, !=, in (...), notin (...)"
            )
        if op_tok in (">", "<"):
            raise ValueError(
                f"operator {op_tok!r} is not supported in catalogRestrictions; "
                "use =, ==, !=, in or notin"
            )
        if op_tok in ("=", "==", "!="):
            nxt = self.peek()
            if nxt is None or nxt == ",":
                value = ""  # "name=" selects the empty value, as labels.Parse does
            elif _is_identifier(nxt):
                value = self.take() or ""
            else:
                raise ValueError(f"expected a value after {key}{op_tok}, found {nxt!r}")
            return Requirement(key, Operator(op_tok), (value,))
        if op_tok in ("in", "notin"):
            if self.take() != "(":
                raise ValueError(f"expected '(' after {key!r} {op_tok}")
            values = self.value_list(key, op_tok)
            if not values:
                raise ValueError(f"{key!r} {op_tok} (): the value list must not be empty")
            return Requirement(key, Operator(op_tok), tuple(values))
        raise ValueError(
            f"unknown operator {op_tok!r} after {key!r}; "
            "use one of =, ==, !=, in (...), notin (...)"
        )

    def value_list(self, key: str, op: str) -> list[str]:
        values: list[str] = []
        expect_value = True
        while True:
            tok = self.take()
            if tok is None:
                raise ValueError(f"{key!r} {op} (...): missing ')'")
            if tok == ")":
                if values and expect_value:
                    values.append("")  # "(a,)" contains the empty value, as in labels.Parse
                return values
            if tok == ",":
                if expect_value:
                    values.append("")
                expect_value = True
                continue
            if not _is_identifier(tok) or not expect_value:
                raise ValueError(f"{key!r} {op} (...): unexpected {tok!r}")
            values.append(tok)
            expect_value = False


def _check_key(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if (
        len(name) > 63
        or not _QUALIFIED_NAME.match(name)
        or (slash and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)))
    ):
        return f"{key!r} is not a valid property name"
    return None


def _check_value(value: str) -> str | None:
    if len(value) > 63:
        return f"value {value!r} is longer than 63 characters (label values are limited to 63)"
    if not _LABEL_VALUE.match(value):
        return (
            f"value {value!r} is not a valid label value: use letters, digits, '-', '_' "
            "and '.', starting and ending with a letter or digit"
        )
    return None


def parse_restrictions(
    entries: Sequence[str],
    *,
    allowed_properties: Collection[str] | None = None,
    field: str = "catalogRestrictions",
) -> Selector:
    """Parse a restriction list into a :class:`Selector` (an AND of requirements).

    ``allowed_properties`` limits the property names (see :data:`CLASS_PROPERTIES`,
    :data:`CLUSTER_PLAN_PROPERTIES`, :data:`NAMESPACED_PLAN_PROPERTIES`); ``None``
    checks syntax only.  ``field`` prefixes messages, e.g.
    ``catalogRestrictions.servicePlan``.

    Raises :class:`RestrictionSyntaxError` (a ``ValueError``) carrying every
    problem, each message naming the entry by index and text.
    """
    errors: list[tuple[int, str]] = []
    requirements: list[Requirement] = []
    for index, entry in enumerate(entries):
        where = f"{field}[{index}] {entry!r}"
        if not isinstance(entry, str):
            errors.append((index, f"{field}[{index}]: must be a string"))
            continue
        try:
            parsed = _Parser(entry).parse()
        except ValueError as exc:
            errors.append((index, f"{where}: {exc}"))
            continue
        for req in parsed:
            problem = _check_key(req.key)
            if (
                problem is None
                and allowed_properties is not None
                and (req.key not in allowed_properties)
            ):
                allowed = ", ".join(sorted(allowed_properties))
                problem = f"unknown property {req.key!r}; allowed: {allowed}"
            problem = problem or next(
                (p for p in map(_check_value, req.values) if p is not None), None
            )
            if problem is not None:
                errors.append((index, f"{where}: {problem}"))
            else:
                requirements.append(req)
    if errors:
        raise RestrictionSyntaxError(errors)
    return Selector(tuple(requirements))


@dataclass(frozen=True)
class CatalogRestrictions:
    """A broker's ``catalogRestrictions``, parsed.  The default restricts nothing."""

    service_class: Selector = Selector()
    service_plan: Selector = Selector()
    namespaced: bool = False

    @classmethod
    def from_spec(
        cls,
        service_class: Sequence[str] | None,
        service_plan: Sequence[str] | None,
        *,
        namespaced: bool,
    ) -> CatalogRestrictions:
        """Parse both lists of a (Cluster)ServiceBroker spec; ``namespaced`` picks the
        plan's class-reference property.  Raises :class:`RestrictionSyntaxError`
        with every problem in both lists."""
        errors: list[tuple[int, str]] = []
        plan_props = NAMESPACED_PLAN_PROPERTIES if namespaced else CLUSTER_PLAN_PROPERTIES
        selectors: list[Selector] = []
        for entries, props, name in (
            (service_class, CLASS_PROPERTIES, "catalogRestrictions.serviceClass"),
            (service_plan, plan_props, "catalogRestrictions.servicePlan"),
        ):
            try:
                selectors.append(
                    parse_restrictions(entries or (), allowed_properties=props, field=name)
                )
            except RestrictionSyntaxError as exc:
                errors.extend(exc.errors)
                selectors.append(Selector())
        if errors:
            raise RestrictionSyntaxError(errors)
        return cls(selectors[0], selectors[1], namespaced)


def class_properties(offering: ServiceOffering) -> dict[str, str]:
    """The properties a class selector sees (Service Catalog's ``Convert*ClassToProperties``)."""
    return {
        "name": offering.k8s_name,
        "spec.externalName": offering.name,
        "spec.externalID": offering.id,
    }


def plan_properties(
    offering: ServiceOffering, plan: ServicePlan, *, namespaced: bool
) -> dict[str, str]:
    """The properties a plan selector sees; ``spec.free`` has OSB's default (true)."""
    class_key = "spec.serviceClass.name" if namespaced else "spec.clusterServiceClass.name"
    return {
        "name": plan.k8s_name,
        "spec.externalName": plan.name,
        "spec.externalID": plan.id,
        "spec.free": "true" if plan.free else "false",
        class_key: offering.k8s_name,
    }


def apply_restrictions(catalog: Catalog, restrictions: CatalogRestrictions) -> Catalog:
    """Return the catalog as the broker's users may see it.

    Classes are filtered first, then each accepted class's plans; a class left
    without plans disappears.  Offerings that publish no plans at all are dropped
    too (Service Catalog refused such catalogs), so "visible" always means
    "provisionable".
    """
    kept: list[ServiceOffering] = []
    for offering in catalog.services:
        if not restrictions.service_class.matches(class_properties(offering)):
            continue
        plans = tuple(
            p
            for p in offering.plans
            if restrictions.service_plan.matches(
                plan_properties(offering, p, namespaced=restrictions.namespaced)
            )
        )
        if plans:
            kept.append(replace(offering, plans=plans))
    return replace(catalog, services=tuple(kept))
