"""The broker catalog (``GET /v2/catalog``) as frozen, typed values, and plan resolution.

Why a hand-written tolerant parser instead of a strict schema model: real brokers
omit optional fields, add vendor extensions, and sometimes leave out fields the
spec calls REQUIRED (``description``, ``bindable``).  The OSB spec says a platform
"MUST ignore" unknown fields, and catalogctl must keep working against such
brokers, so only the fields we cannot work without (``id`` and ``name`` of
offerings and plans, correct JSON types) are hard errors.  Softer deviations are
collected as :attr:`Catalog.warnings` for the caller to show.

``free`` follows OSB everywhere: a plan without it is free (:attr:`ServicePlan.free`),
in ``catalog plans`` as in a ``catalogRestrictions`` ``spec.free=true`` selector.
Service Catalog's controller read a missing ``free`` as false for its ``spec.free``
field; a restriction that relied on that now keeps such plans, as the broker meant.

Identity: OSB says the ``id`` is "the only immutable property"; names are
resolved to ids on every run and ids are what state stores.  Kubernetes-style
names (``clusterServiceClassName`` selectors) are derived from ids with Service
Catalog's :func:`generate_escaped_name`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from catalogctl.errors import BrokerError, InputError

__all__ = [
    "Catalog",
    "CatalogError",
    "DashboardClient",
    "IdCollision",
    "MaintenanceInfo",
    "PlanReference",
    "PlanResolutionError",
    "ResolvedPlan",
    "SchemaOperation",
    "Schemas",
    "SelectorInfo",
    "ServiceOffering",
    "ServicePlan",
    "find_id_collisions",
    "generate_escaped_name",
    "parse_catalog",
    "resolve_plan",
    "visible_catalogs",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

SchemaOperation = Literal["instance_create", "instance_update", "binding_create"]
"""Which of a plan's three parameter schemas applies to a request."""


class CatalogError(BrokerError):
    """A broker's catalog cannot be used: a required field is missing or has the wrong type.

    The message names the broker and the offending offering/plan (by index, and by
    name or id when those are known) so a user can report it to the broker's owner.
    """

    def __init__(self, broker: str, problems: Sequence[str]) -> None:
        self.broker = broker
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"broker {broker!r} returned an unusable catalog:\n{lines}")


class PlanResolutionError(InputError):
    """A class/plan selector in the desired state does not identify exactly one plan.

    It is an :class:`~catalogctl.errors.InputError` because the fix is in the
    user's YAML (or in which brokers they registered), even though the check needs
    the (read-only) catalog fetch.  ``field`` is the spec field to point at
    (``clusterServicePlanExternalName``, ...), or ``None`` when the problem is the
    combination of fields.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# --------------------------------------------------------------------------- names


def generate_escaped_name(external_id: str) -> str:
    """Return the Kubernetes object name Service Catalog gave a class or plan with this id.

    Mirrors Service Catalog's ``GenerateEscapedName`` so ``clusterServiceClassName``
    and ``clusterServicePlanName`` selectors (and ``name`` in catalogRestrictions)
    written for Service Catalog keep resolving to the same offering/plan:

    * ``a``-``y`` and ``0``-``9`` are kept (``z`` is the escape character, so it is
      escaped itself, as are upper-case letters);
    * ``.`` is kept unless it is the first or last character or follows a kept
      ``.`` or ``-``; ``-`` is kept unless first or last or following a kept ``.``
      (two dashes in a row are kept, exactly as the original does);
    * anything else becomes ``z<lower-case hex code point>z``;
    * a result longer than 63 characters becomes its first 30 characters (minus
      one trailing ``.``) + ``-`` + the md5 hex of the *original* id.

    Positions are UTF-8 byte offsets, as in Go's ``range`` over a string; this only
    matters for deciding whether a ``.``/``-`` is the last character.
    """
    byte_len = len(external_id.encode("utf-8"))
    out: list[str] = []
    prev_dot = prev_dash = False
    offset = 0
    for ch in external_id:
        first = offset == 0
        last = offset == byte_len - 1
        if ("a" <= ch <= "y") or ("0" <= ch <= "9"):
            out.append(ch)
            prev_dot = prev_dash = False
        elif ch == "." and not first and not last and not prev_dot and not prev_dash:
            out.append(ch)
            prev_dot, prev_dash = True, False
        elif ch == "-" and not first and not last and not prev_dot:
            out.append(ch)
            prev_dot, prev_dash = False, True
        else:
            out.append(f"z{ord(ch):x}z")
            prev_dot = prev_dash = False
        offset += len(ch.encode("utf-8", "surrogatepass"))
    escaped = "".join(out)
    if len(escaped) > 63:
        head = escaped[:30]
        if head.endswith("."):
            head = head[:-1]
        digest = hashlib.md5(external_id.encode("utf-8", "surrogatepass"), usedforsecurity=False)
        escaped = f"{head}-{digest.hexdigest()}"
    return escaped


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class MaintenanceInfo:
    """A plan's ``maintenance_info``; only ``version`` is ever sent back to the broker."""

    version: str
    description: str | None = None

    def to_request(self) -> dict[str, str]:
        """The body fragment for provision/update: "Any field except version will be ignored"."""
        return {"version": self.version}


@dataclass(frozen=True)
class Schemas:
    """The three optional JSON Schemas of a plan (the ``parameters`` member of each).

    ``None`` means the broker published no schema for that operation, so no local
    validation happens.  The dicts are the broker's JSON, exposed read-only at the
    top level; treat them as immutable.
    """

    instance_create: Mapping[str, Any] | None = field(default=None, hash=False)
    instance_update: Mapping[str, Any] | None = field(default=None, hash=False)
    binding_create: Mapping[str, Any] | None = field(default=None, hash=False)

    def for_operation(self, operation: SchemaOperation) -> Mapping[str, Any] | None:
        """Return the schema that applies to ``operation`` (or ``None``)."""
        if operation == "instance_create":
            return self.instance_create
        if operation == "instance_update":
            return self.instance_update
        return self.binding_create


@dataclass(frozen=True)
class DashboardClient:
    """The CF-specific ``dashboard_client``; its ``secret`` is deliberately not kept."""

    id: str
    redirect_uri: str | None = None


@dataclass(frozen=True)
class ServicePlan:
    """One plan as published by the broker.

    Flags that a plan may override on its offering (``bindable``,
    ``plan_updateable``) are kept raw here (``None`` = not set on the plan); use
    :class:`ResolvedPlan` (or :meth:`ServiceOffering.effective_bindable` and friends)
    for the effective value.
    """

    id: str
    name: str
    description: str
    free_raw: bool | None = None
    bindable: bool | None = None
    plan_updateable: bool | None = None
    binding_rotatable: bool = False
    maximum_polling_duration: int | None = None
    maintenance_info: MaintenanceInfo | None = None
    schemas: Schemas = field(default_factory=Schemas)
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False, compare=False)

    @property
    def free(self) -> bool:
        """OSB semantics: a plan without ``free`` is free."""
        return True if self.free_raw is None else self.free_raw

    @property
    def k8s_name(self) -> str:
        """The Kubernetes name Service Catalog gave this plan (``clusterServicePlanName``)."""
        return generate_escaped_name(self.id)


@dataclass(frozen=True)
class ServiceOffering:
    """One service offering (a Service Catalog "class") and its plans, in catalog order."""

    id: str
    name: str
    description: str
    bindable: bool
    plans: tuple[ServicePlan, ...]
    plan_updateable: bool = False
    instances_retrievable: bool = False
    bindings_retrievable: bool = False
    allow_context_updates: bool = False
    tags: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    dashboard_client: DashboardClient | None = None
    metadata: Mapping[str, Any] = field(default_factory=lambda: _EMPTY, hash=False, compare=False)

    @property
    def k8s_name(self) -> str:
        """The Kubernetes name Service Catalog gave this class (``clusterServiceClassName``)."""
        return generate_escaped_name(self.id)

    def plan_by_name(self, name: str) -> ServicePlan | None:
        """The plan with this OSB name (names are unique within an offering)."""
        return next((p for p in self.plans if p.name == name), None)

    def plan_by_id(self, plan_id: str) -> ServicePlan | None:
        """The plan with this OSB id."""
        return next((p for p in self.plans if p.id == plan_id), None)

    def effective_bindable(self, plan: ServicePlan) -> bool:
        """Effective ``bindable``: the plan's value if set, else the offering's."""
        return self.bindable if plan.bindable is None else plan.bindable

    def effective_plan_updateable(self, plan: ServicePlan) -> bool:
        """Effective ``plan_updateable``: the plan's value if set, else the offering's."""
        return self.plan_updateable if plan.plan_updateable is None else plan.plan_updateable


@dataclass(frozen=True)
class Catalog:
    """A broker's whole catalog.  ``broker`` is the broker's resource name in catalogctl."""

    broker: str
    services: tuple[ServiceOffering, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def offering_by_id(self, service_id: str) -> ServiceOffering | None:
        """The offering with this OSB id."""
        return next((s for s in self.services if s.id == service_id), None)

    def find_plan(self, service_id: str, plan_id: str) -> ResolvedPlan | None:
        """Look up a plan by ids, e.g. to re-attach state to the current catalog."""
        offering = self.offering_by_id(service_id)
        plan = offering.plan_by_id(plan_id) if offering else None
        if offering is None or plan is None:
            return None
        return ResolvedPlan(self.broker, offering, plan)

    def iter_plans(self) -> Iterator[ResolvedPlan]:
        """Every (offering, plan) pair, in catalog order."""
        for offering in self.services:
            for plan in offering.plans:
                yield ResolvedPlan(self.broker, offering, plan)


@dataclass(frozen=True)
class ResolvedPlan:
    """A plan together with its offering and broker, with effective flags.

    This is what every later stage (diff, apply) should consult for "may I bind?",
    "may I change plans?", "may I GET the instance?": the plan-overrides-offering
    rule lives here and nowhere else.
    """

    broker: str
    offering: ServiceOffering
    plan: ServicePlan

    @property
    def service_id(self) -> str:
        return self.offering.id

    @property
    def plan_id(self) -> str:
        return self.plan.id

    @property
    def bindable(self) -> bool:
        """ "Platforms MUST NOT make a binding request" unless this is true."""
        return self.offering.effective_bindable(self.plan)

    @property
    def plan_updateable(self) -> bool:
        """Plan changes are allowed only if this is true (default false)."""
        return self.offering.effective_plan_updateable(self.plan)

    @property
    def instances_retrievable(self) -> bool:
        return self.offering.instances_retrievable

    @property
    def bindings_retrievable(self) -> bool:
        return self.offering.bindings_retrievable

    @property
    def allow_context_updates(self) -> bool:
        return self.offering.allow_context_updates

    @property
    def binding_rotatable(self) -> bool:
        return self.plan.binding_rotatable

    @property
    def maximum_polling_duration(self) -> int | None:
        """Seconds after which polling must stop and the operation counts as failed."""
        return self.plan.maximum_polling_duration

    @property
    def maintenance_info(self) -> MaintenanceInfo | None:
        return self.plan.maintenance_info

    @property
    def schemas(self) -> Schemas:
        return self.plan.schemas

    def describe(self) -> str:
        """``broker/offering/plan`` for messages."""
        return f"{self.broker}/{self.offering.name}/{self.plan.name}"


# --------------------------------------------------------------------------- parsing


class _Collector:
    """Accumulates fatal problems and warnings while walking one catalog."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []


def _label(raw: Mapping[str, Any]) -> str:
    """`` ('name')`` (or the id when the name is unusable) to make a position readable."""
    for key in ("name", "id"):
        value = raw.get(key)
        if isinstance(value, str) and value:
            return f" ({value!r})"
    return ""


def _where_service(index: int, raw: Mapping[str, Any]) -> str:
    return f"services[{index}]{_label(raw)}"


def _where_plan(service_where: str, index: int, raw: Mapping[str, Any]) -> str:
    return f"{service_where}.plans[{index}]{_label(raw)}"


def _req_str(raw: Mapping[str, Any], key: str, where: str, c: _Collector) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        state = (
            "missing"
            if value is None
            else "empty"
            if value == ""
            else f"not a string ({type(value).__name__})"
        )
        c.errors.append(f"{where}: required field {key!r} is {state}")
        return ""
    return value


def _soft_str(raw: Mapping[str, Any], key: str, where: str, c: _Collector) -> str:
    """A REQUIRED-by-spec string we can live without (``description``)."""
    value = raw.get(key)
    if isinstance(value, str) and value:
        return value
    c.warnings.append(f"{where}: field {key!r} should be a non-empty string; treated as empty")
    return ""


def _opt_bool(raw: Mapping[str, Any], key: str, where: str, c: _Collector) -> bool | None:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return value
    c.errors.append(f"{where}: field {key!r} must be a boolean, got {type(value).__name__}")
    return None


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return value if isinstance(value, str) else None


def _str_list(raw: Mapping[str, Any], key: str, where: str, c: _Collector) -> tuple[str, ...]:
    value = raw.get(key)
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    c.warnings.append(f"{where}: field {key!r} should be a list of strings; ignored")
    return ()


def _readonly(value: Any) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if isinstance(value, Mapping) else _EMPTY


def _schema(raw: Any, path: Sequence[str], where: str, c: _Collector) -> Mapping[str, Any] | None:
    node = raw
    for key in path:
        if node is None:
            return None
        if not isinstance(node, Mapping):
            c.warnings.append(f"{where}: schemas.{'.'.join(path)} is malformed; ignored")
            return None
        node = node.get(key)
    if node is None:
        return None
    if not isinstance(node, Mapping):
        c.warnings.append(f"{where}: schemas.{'.'.join(path)} is not an object; ignored")
        return None
    return MappingProxyType(dict(node))


def _parse_plan(raw: Any, where: str, c: _Collector) -> ServicePlan | None:
    if not isinstance(raw, Mapping):
        c.errors.append(f"{where}: must be an object")
        return None
    plan_id = _req_str(raw, "id", where, c)
    name = _req_str(raw, "name", where, c)
    description = _soft_str(raw, "description", where, c)

    mpd_raw = raw.get("maximum_polling_duration")
    max_poll: int | None = None
    if isinstance(mpd_raw, int) and not isinstance(mpd_raw, bool) and mpd_raw > 0:
        max_poll = mpd_raw
    elif mpd_raw is not None:
        c.warnings.append(
            f"{where}: maximum_polling_duration {mpd_raw!r} is not a positive integer; ignored"
        )

    mi_raw = raw.get("maintenance_info")
    maintenance: MaintenanceInfo | None = None
    if isinstance(mi_raw, Mapping) and isinstance(mi_raw.get("version"), str) and mi_raw["version"]:
        maintenance = MaintenanceInfo(mi_raw["version"], _opt_str(mi_raw, "description"))
    elif mi_raw is not None:
        c.errors.append(
            f"{where}: maintenance_info must be an object with a non-empty 'version' string"
        )

    schemas_raw = raw.get("schemas")
    w = where
    schemas = Schemas(
        instance_create=_schema(schemas_raw, ("service_instance", "create", "parameters"), w, c),
        instance_update=_schema(schemas_raw, ("service_instance", "update", "parameters"), w, c),
        binding_create=_schema(schemas_raw, ("service_binding", "create", "parameters"), w, c),
    )
    rotatable = _opt_bool(raw, "binding_rotatable", where, c)
    return ServicePlan(
        id=plan_id,
        name=name,
        description=description,
        free_raw=_opt_bool(raw, "free", where, c),
        bindable=_opt_bool(raw, "bindable", where, c),
        plan_updateable=_opt_bool(raw, "plan_updateable", where, c),
        binding_rotatable=bool(rotatable),
        maximum_polling_duration=max_poll,
        maintenance_info=maintenance,
        schemas=schemas,
        metadata=_readonly(raw.get("metadata")),
    )


def _parse_offering(raw: Any, index: int, c: _Collector) -> ServiceOffering | None:
    if not isinstance(raw, Mapping):
        c.errors.append(f"services[{index}]: must be an object")
        return None
    where = _where_service(index, raw)
    service_id = _req_str(raw, "id", where, c)
    name = _req_str(raw, "name", where, c)
    description = _soft_str(raw, "description", where, c)
    bindable = _opt_bool(raw, "bindable", where, c)
    if bindable is None and "bindable" not in raw:
        c.warnings.append(f"{where}: required field 'bindable' is missing; treated as false")

    plans_raw = raw.get("plans")
    plans: list[ServicePlan] = []
    if plans_raw is None or (isinstance(plans_raw, list) and not plans_raw):
        # The spec requires at least one plan; such an offering can never be
        # provisioned, but it should not make the rest of the catalog unusable.
        c.warnings.append(f"{where}: has no plans; it cannot be used")
    elif not isinstance(plans_raw, list):
        c.errors.append(f"{where}: 'plans' must be a list")
    else:
        for p_index, p_raw in enumerate(plans_raw):
            p_where = _where_plan(where, p_index, p_raw if isinstance(p_raw, Mapping) else {})
            plan = _parse_plan(p_raw, p_where, c)
            if plan is not None:
                plans.append(plan)
        seen: dict[str, int] = {}
        for plan in plans:
            if plan.name and plan.name in seen:
                c.errors.append(f"{where}: plan name {plan.name!r} appears more than once")
            seen[plan.name] = 1

    dashboard: DashboardClient | None = None
    dc_raw = raw.get("dashboard_client")
    if isinstance(dc_raw, Mapping) and isinstance(dc_raw.get("id"), str):
        dashboard = DashboardClient(dc_raw["id"], _opt_str(dc_raw, "redirect_uri"))

    return ServiceOffering(
        id=service_id,
        name=name,
        description=description,
        bindable=bool(bindable),
        plans=tuple(plans),
        plan_updateable=bool(_opt_bool(raw, "plan_updateable", where, c)),
        instances_retrievable=bool(_opt_bool(raw, "instances_retrievable", where, c)),
        bindings_retrievable=bool(_opt_bool(raw, "bindings_retrievable", where, c)),
        allow_context_updates=bool(_opt_bool(raw, "allow_context_updates", where, c)),
        tags=_str_list(raw, "tags", where, c),
        requires=_str_list(raw, "requires", where, c),
        dashboard_client=dashboard,
        metadata=_readonly(raw.get("metadata")),
    )


def parse_catalog(raw: Any, *, broker: str) -> Catalog:
    """Turn the JSON body of ``GET /v2/catalog`` into a :class:`Catalog`.

    Unknown fields are ignored.  ``{"services": []}`` and a missing ``services``
    key (seen from some brokers with nothing to offer) both give an empty catalog.

    Raises :class:`CatalogError` listing *every* fatal problem at once (a missing
    or empty ``id``/``name``, wrong JSON types, duplicate offering names or plan
    names within an offering) so a broker owner can fix them in one go.
    """
    c = _Collector()
    if not isinstance(raw, Mapping):
        got = type(raw).__name__
        raise CatalogError(broker, [f"the response must be a JSON object, got {got}"])
    services_raw = raw.get("services")
    if services_raw is None:
        c.warnings.append("the catalog has no 'services' key; treated as empty")
        services_raw = []
    if not isinstance(services_raw, list):
        raise CatalogError(broker, ["'services' must be a list"])

    services: list[ServiceOffering] = []
    for index, s_raw in enumerate(services_raw):
        offering = _parse_offering(s_raw, index, c)
        if offering is not None:
            services.append(offering)

    names: dict[str, int] = {}
    for offering in services:
        if offering.name and offering.name in names:
            c.errors.append(f"offering name {offering.name!r} appears more than once")
        names[offering.name] = 1
    ids: dict[str, str] = {}
    for offering in services:
        for item_id, what in [(offering.id, "offering")] + [(p.id, "plan") for p in offering.plans]:
            if item_id and item_id in ids:
                c.errors.append(
                    f"id {item_id!r} is used by more than one offering/plan "
                    f"({ids[item_id]} and {what} in {offering.name!r})"
                )
            ids.setdefault(item_id, f"{what} in {offering.name!r}")

    if c.errors:
        raise CatalogError(broker, c.errors)
    return Catalog(broker=broker, services=tuple(services), warnings=tuple(c.warnings))


# --------------------------------------------------------------------------- collisions


@dataclass(frozen=True)
class IdCollision:
    """An OSB id used by more than one broker (ids are meant to be globally unique)."""

    kind: Literal["offering", "plan"]
    id: str
    brokers: tuple[str, ...]

    @property
    def message(self) -> str:
        return (
            f"{self.kind} id {self.id!r} is published by several brokers "
            f"({', '.join(self.brokers)}); OSB ids must be globally unique"
        )


def find_id_collisions(catalogs: Sequence[Catalog]) -> list[IdCollision]:
    """Report offering and plan ids that appear in more than one broker's catalog.

    OSB: ids are globally unique "no matter what Service Broker uses it".  A
    collision does not stop resolution (catalogctl always keys by broker + id),
    but it usually means the same broker is registered twice, which would make two
    resources manage one backend; callers should surface these as warnings or
    errors as they see fit.
    """
    owners: dict[tuple[Literal["offering", "plan"], str], list[str]] = {}
    for catalog in catalogs:
        for offering in catalog.services:
            owners.setdefault(("offering", offering.id), []).append(catalog.broker)
            for plan in offering.plans:
                owners.setdefault(("plan", plan.id), []).append(catalog.broker)
    found = []
    for (kind, item_id), brokers in owners.items():
        distinct = tuple(sorted(set(brokers)))
        if len(distinct) > 1:
            found.append(IdCollision(kind, item_id, distinct))
    return sorted(found, key=lambda x: (x.kind, x.id))


# --------------------------------------------------------------------------- resolution


SelectorKind = Literal["external_name", "external_id", "k8s_name"]

# (class field, plan field, what is compared, cluster-scoped), in PlanReference order.
_SELECTOR_PAIRS: tuple[tuple[str, str, SelectorKind, bool], ...] = (
    ("clusterServiceClassExternalName", "clusterServicePlanExternalName", "external_name", True),
    ("clusterServiceClassExternalID", "clusterServicePlanExternalID", "external_id", True),
    ("clusterServiceClassName", "clusterServicePlanName", "k8s_name", True),
    ("serviceClassExternalName", "servicePlanExternalName", "external_name", False),
    ("serviceClassExternalID", "servicePlanExternalID", "external_id", False),
    ("serviceClassName", "servicePlanName", "k8s_name", False),
)


class SelectorInfo(NamedTuple):
    """Which class/plan pair of a :class:`PlanReference` is set (YAML field names)."""

    class_field: str
    plan_field: str
    class_value: str
    plan_value: str | None
    kind: SelectorKind
    cluster_scoped: bool


@dataclass(frozen=True)
class PlanReference:
    """Service Catalog's class/plan selector of a ServiceInstance (``PlanReference``).

    Exactly one class field must be set; the plan field must be of the same kind
    and scope as the class field (external name with external name, …) or be
    omitted, in which case the class must have exactly one plan.

    ``cluster_*`` selectors pick among cluster-scoped brokers; ``service_*``
    selectors pick among namespaced brokers in ``namespace``.  Which brokers those
    are is decided by the caller, which passes their catalogs to
    :func:`resolve_plan`.

    A class external name may be qualified as ``<broker>/<offering>`` when the
    same offering name is published by several visible brokers (a catalogctl
    extension; Kubernetes names and ids cannot contain ``/`` so nothing valid
    under Service Catalog changes meaning).
    """

    cluster_service_class_external_name: str | None = None
    cluster_service_plan_external_name: str | None = None
    cluster_service_class_external_id: str | None = None
    cluster_service_plan_external_id: str | None = None
    cluster_service_class_name: str | None = None
    cluster_service_plan_name: str | None = None
    service_class_external_name: str | None = None
    service_plan_external_name: str | None = None
    service_class_external_id: str | None = None
    service_plan_external_id: str | None = None
    service_class_name: str | None = None
    service_plan_name: str | None = None
    namespace: str | None = None

    def _values(self) -> list[tuple[str | None, str | None]]:
        return [
            (self.cluster_service_class_external_name, self.cluster_service_plan_external_name),
            (self.cluster_service_class_external_id, self.cluster_service_plan_external_id),
            (self.cluster_service_class_name, self.cluster_service_plan_name),
            (self.service_class_external_name, self.service_plan_external_name),
            (self.service_class_external_id, self.service_plan_external_id),
            (self.service_class_name, self.service_plan_name),
        ]

    def selector(self) -> SelectorInfo:
        """Validate the shape and say which selector pair is in use.

        Raises :class:`PlanResolutionError` when no class field or more than one
        selector kind is set, or a plan field is set without its class field.
        """
        used = [
            (pair, values)
            for pair, values in zip(_SELECTOR_PAIRS, self._values(), strict=True)
            if values[0] is not None or values[1] is not None
        ]
        names = [
            f
            for (cf, pf, _k, _c), (cv, pv) in used
            for f, v in ((cf, cv), (pf, pv))
            if v is not None
        ]
        if not used:
            raise PlanResolutionError(
                "no class selector set: set exactly one of clusterServiceClassExternalName, "
                "clusterServiceClassExternalID, clusterServiceClassName, serviceClassExternalName, "
                "serviceClassExternalID or serviceClassName"
            )
        if len(used) > 1:
            raise PlanResolutionError(
                f"class/plan selectors of different kinds are mixed ({', '.join(names)}); "
                "use exactly one matching class/plan pair"
            )
        (class_field, plan_field, kind, cluster), (class_value, plan_value) = used[0]
        if class_value is None:
            raise PlanResolutionError(
                f"{plan_field} is set but {class_field} is not", field=plan_field
            )
        return SelectorInfo(class_field, plan_field, class_value, plan_value, kind, cluster)

    @property
    def cluster_scoped(self) -> bool:
        """True for ``cluster*`` selectors (resolve against cluster-scoped brokers)."""
        return self.selector().cluster_scoped


def _offering_key(offering: ServiceOffering, kind: str) -> str:
    if kind == "external_name":
        return offering.name
    if kind == "external_id":
        return offering.id
    return offering.k8s_name


def _plan_key(plan: ServicePlan, kind: str) -> str:
    if kind == "external_name":
        return plan.name
    if kind == "external_id":
        return plan.id
    return plan.k8s_name


def _short(broker: str) -> str:
    """The name users qualify offerings with: ``cloud`` of ``ClusterServiceBroker/cloud``."""
    return broker.rsplit("/", 1)[-1]


def _named(catalog: Catalog, name: str) -> bool:
    """Whether ``name`` (a broker's name or its full address) names this catalog's broker."""
    return catalog.broker == name or _short(catalog.broker) == name


def resolve_plan(ref: PlanReference, catalogs: Sequence[Catalog]) -> ResolvedPlan:
    """Resolve a selector to exactly one (broker, offering, plan) among ``catalogs``.

    ``catalogs`` are the (already ``catalogRestrictions``-filtered) catalogs of the
    brokers visible to this selector: cluster-scoped brokers for ``cluster*``
    fields, the namespace's brokers for ``service*`` fields.

    Rules (Service Catalog's, plus broker qualification):

    * the class must match exactly one offering across all catalogs; an external
      name published by several brokers must be written ``broker/offering``;
    * the plan must match exactly one plan of that offering;
    * the plan may be omitted only when the offering has exactly one plan.

    Raises :class:`PlanResolutionError` naming the selector fields and what was
    found (available offerings or plans) so the user can correct their YAML.
    """
    class_field, plan_field, class_value, plan_value, kind, cluster = ref.selector()
    scope = (
        "cluster-scoped brokers"
        if cluster
        else (f"brokers in namespace {ref.namespace!r}" if ref.namespace else "namespaced brokers")
    )

    def find(broker: str | None, wanted: str) -> list[tuple[Catalog, ServiceOffering]]:
        return [
            (cat, off)
            for cat in catalogs
            if broker is None or _named(cat, broker)
            for off in cat.services
            if _offering_key(off, kind) == wanted
        ]

    broker_filter: str | None = None
    wanted = class_value
    matches = find(None, wanted)
    if not matches and kind == "external_name" and "/" in class_value:
        # Not an offering name as such, so read it as "<broker>/<offering>".
        broker_filter, _, wanted = class_value.partition("/")
        matches = find(broker_filter, wanted)
    if not matches:
        available = sorted(
            f"{_short(cat.broker)}/{_offering_key(off, kind)}"
            for cat in catalogs
            for off in cat.services
        )
        hint = f"; available: {', '.join(available)}" if available else "; no offerings are visible"
        if broker_filter is not None and not any(_named(c, broker_filter) for c in catalogs):
            hint = f"; no broker named {broker_filter!r} is visible"
        raise PlanResolutionError(
            f"{class_field} {class_value!r}: no such service offering among {scope}{hint}",
            field=class_field,
        )
    if len(matches) > 1:
        brokers = sorted(cat.broker for cat, _ in matches)
        if kind == "external_name":
            examples = ", ".join(f"{_short(b)}/{wanted}" for b in brokers)
            raise PlanResolutionError(
                f"{class_field} {class_value!r} is offered by several brokers "
                f"({', '.join(brokers)}); qualify it with the broker name, e.g. one of: {examples}",
                field=class_field,
            )
        raise PlanResolutionError(
            f"{class_field} {class_value!r} matches offerings in several brokers "
            f"({', '.join(brokers)}); the brokers publish colliding ids",
            field=class_field,
        )
    catalog, offering = matches[0]

    if plan_value is None:
        if len(offering.plans) == 1:
            return ResolvedPlan(catalog.broker, offering, offering.plans[0])
        listed = ", ".join(_plan_key(p, kind) for p in offering.plans) or "none"
        raise PlanResolutionError(
            f"{plan_field} is not set and offering {offering.name!r} (broker {catalog.broker!r}) "
            f"has {len(offering.plans)} plans ({listed}); the plan may be omitted only when the "
            "offering has exactly one plan",
            field=class_field,
        )

    plans = [p for p in offering.plans if _plan_key(p, kind) == plan_value]
    if len(plans) != 1:
        listed = ", ".join(_plan_key(p, kind) for p in offering.plans) or "none"
        found = "no such plan" if not plans else f"{len(plans)} plans match"
        raise PlanResolutionError(
            f"{plan_field} {plan_value!r}: {found} in offering {offering.name!r} "
            f"(broker {catalog.broker!r}); available plans: {listed}",
            field=plan_field,
        )
    return ResolvedPlan(catalog.broker, offering, plans[0])


def visible_catalogs(
    ref: PlanReference,
    *,
    cluster: Sequence[Catalog],
    namespaced: Mapping[str, Sequence[Catalog]],
) -> list[Catalog]:
    """The catalogs a selector may resolve against.

    ``cluster*`` selectors see only cluster-scoped brokers (ClusterServiceBroker);
    ``service*`` selectors see only the ServiceBrokers of the instance's own
    namespace, so a namespaced broker can never serve another namespace.
    """
    if ref.cluster_scoped:
        return list(cluster)
    if ref.namespace is None:
        raise PlanResolutionError("a namespaced class/plan selector needs the instance's namespace")
    return list(namespaced.get(ref.namespace, ()))
