"""Turn YAML documents into typed resources, collecting every problem at once."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from catalogctl.errors import Problem, ValidationFailed
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import (
    Desired,
    IgnoredObject,
    LoadedResource,
    ResourceObject,
    field_path,
)
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.lists import unpack_lists
from catalogctl.model.podmappings import PodMapping
from catalogctl.model.source import Document, read_sources
from catalogctl.model.suggest import suggest
from catalogctl.model.validate import validate_desired

SERVICE_CATALOG_GROUP = "servicecatalog.k8s.io"
SERVICE_CATALOG_API = "servicecatalog.k8s.io/v1beta1"
CATALOGCTL_GROUP = "catalogctl.io"
CATALOGCTL_API = "catalogctl.io/v1alpha1"

_MODELS: dict[tuple[str, str], type[ResourceObject]] = {
    (SERVICE_CATALOG_API, "ClusterServiceBroker"): Broker,
    (SERVICE_CATALOG_API, "ServiceBroker"): Broker,
    (SERVICE_CATALOG_API, "ServiceInstance"): ServiceInstance,
    (SERVICE_CATALOG_API, "ServiceBinding"): ServiceBinding,
    (CATALOGCTL_API, "PodMapping"): PodMapping,
}
_MANAGED_KINDS = {kind for _, kind in _MODELS}
#: Service Catalog kinds its controller generated from broker catalogs; catalogctl
#: reads catalogs directly, so these are skipped rather than rejected.
_GENERATED_KINDS = {"ClusterServiceClass", "ClusterServicePlan", "ServiceClass", "ServicePlan"}


def _type_name(value: Any) -> str:
    """How a YAML reader would call the type of ``value`` (never the value itself)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


_EXPECTED = {
    "string_type": "a string",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}


def _message(error: Any, model: type[BaseModel]) -> str:
    """A user-facing message for one pydantic error; input values are not echoed
    (they may be credentials), only their YAML type."""
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        found = _did_you_mean(model, error["loc"])
        if found is None:
            return "unknown field"
        hint, why = found
        return f"unknown field (did you mean {hint!r}?{f' {why}' if why else ''})"
    if kind in _EXPECTED:
        msg = f"must be {_EXPECTED[kind]}, got {_type_name(value)}"
        if kind == "string_type" and isinstance(value, bool | int | float):
            msg += " (quote the value to make it a string)"
        return msg
    msg = str(error["msg"])
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be") :]
    if kind == "literal_error" and isinstance(value, str):
        msg += f", got {value!r}"
    return msg


def _unwrap(annotation: Any, want_item: bool) -> Any:
    """The model class inside ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    for _ in range(3):
        args = [a for a in get_args(annotation) if a is not type(None)]
        origin = get_origin(annotation)
        if origin in (list, dict) and want_item:
            annotation = args[-1]
            want_item = False
        elif args and origin not in (list, dict):
            annotation = args[0]
        else:
            break
    return annotation


def _did_you_mean(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[str, str] | None:
    """The closest known field name to an unknown one, found by walking the models."""
    current: Any = model
    parts = list(loc[:-1])
    i = 0
    while i < len(parts):
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        fields = {(f.alias or n): f for n, f in current.model_fields.items()}
        info = fields.get(str(parts[i]))
        if info is None:
            return None
        item = i + 1 < len(parts) and isinstance(parts[i + 1], int)
        current = _unwrap(info.annotation, item)
        i += 2 if item else 1
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    names = [f.alias or n for n, f in current.model_fields.items()]
    return suggest(str(loc[-1]), names)


def _schema_problems(
    doc: Document, address: Address, model: type[ResourceObject], exc: ValidationError
) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
        pos = doc.position_of(loc)
        problems.append(
            Problem(
                pos.file,
                pos.line,
                pos.column,
                _label(address),
                field_path(loc),
                _message(error, model),
            )
        )
    return problems


def _label(address: Address) -> str:
    """``Kind/namespace/name``, or the kind alone while the name is unknown."""
    return str(address) if address.name else address.kind


def _our_api_group(api_version: str) -> str | None:
    """Our API group if ``api_version`` is one of ours or a near miss (a typo)."""
    group = api_version.partition("/")[0]
    for ours in (SERVICE_CATALOG_GROUP, CATALOGCTL_GROUP):
        if group == ours or difflib.SequenceMatcher(None, group, ours).ratio() >= 0.85:
            return ours
    return None


def _classify(
    doc: Document, desired: Desired, strict_kinds: bool
) -> tuple[type[ResourceObject] | None, list[Problem]]:
    """Decide whether a document is ours, ignored, or malformed."""
    data = doc.data
    if not isinstance(data, dict):
        pos = doc.origin
        return None, [
            Problem(
                pos.file,
                pos.line,
                pos.column,
                "",
                "",
                f"document is {_type_name(data)}, not a mapping (expected a Kubernetes object)",
            )
        ]
    api_version, kind = data.get("apiVersion"), data.get("kind")
    label = _label(_address(data, desired.default_namespace)) if isinstance(kind, str) else ""
    problems = []
    for name, value in (("apiVersion", api_version), ("kind", kind)):
        if value is None or value == "":
            pos = doc.origin
            problems.append(
                Problem(pos.file, pos.line, pos.column, label, name, "required field is missing")
            )
        elif not isinstance(value, str):
            p = doc.position_of((name,))
            problems.append(
                Problem(
                    p.file,
                    p.line,
                    p.column,
                    label,
                    name,
                    f"must be a string, got {_type_name(value)}",
                )
            )
    if problems:
        return None, problems
    assert isinstance(api_version, str) and isinstance(kind, str)
    model = _MODELS.get((api_version, kind))
    if model is not None:
        return model, []
    group = _our_api_group(api_version)
    if group is not None and kind not in _GENERATED_KINDS:
        if kind in _MANAGED_KINDS:
            p = doc.position_of(("apiVersion",))
            supported = CATALOGCTL_API if kind == "PodMapping" else SERVICE_CATALOG_API
            return None, [
                Problem(
                    p.file,
                    p.line,
                    p.column,
                    label,
                    "apiVersion",
                    f"unsupported apiVersion {api_version!r} for {kind} (supported: {supported})",
                )
            ]
        p = doc.position_of(("kind",))
        known = sorted(k for (api, k) in _MODELS if api.startswith(group + "/"))
        close = difflib.get_close_matches(kind, known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"known kinds: {', '.join(known)}"
        return None, [
            Problem(
                p.file,
                p.line,
                p.column,
                label,
                "kind",
                f"unknown kind {kind!r} in API group {group} ({hint})",
            )
        ]
    meta = data.get("metadata")
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    if strict_kinds and kind not in _GENERATED_KINDS:
        meta_ns = meta.get("namespace") if isinstance(meta, dict) else None
        where = f"{kind}/{meta_ns}/{name}" if meta_ns and name else f"{kind}/{name}"
        p = doc.position_of(("kind",))
        return None, [
            Problem(
                p.file,
                p.line,
                p.column,
                where if name else kind,
                "kind",
                f"{api_version} {kind} is not managed by catalogctl "
                "(remove it from the input, or drop --strict-kinds to ignore it)",
            )
        ]
    meta_ns = meta.get("namespace") if isinstance(meta, dict) else None
    pos = doc.origin
    desired.ignored.append(
        IgnoredObject(
            pos.file,
            pos.line,
            api_version,
            kind,
            name,
            meta_ns if isinstance(meta_ns, str) else "",
        )
    )
    return None, []


def _address(data: dict[str, Any], default_namespace: str) -> Address:
    kind = str(data.get("kind"))
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name")
    name = name if isinstance(name, str) else ""
    if kind == "ClusterServiceBroker":
        return Address(kind, "", name)
    namespace = meta.get("namespace")
    namespace = namespace if isinstance(namespace, str) and namespace else default_namespace
    return Address(kind, namespace, name)


def _duplicate_key_problems(doc: Document, label: str) -> list[Problem]:
    return [
        Problem(
            again.file,
            again.line,
            again.column,
            label,
            field_path(path),
            f"duplicate key (first set at line {first.line}, column {first.column})",
        )
        for path, again, first in doc.duplicate_keys
    ]


def load_documents(
    documents: Iterable[Document], default_namespace: str = "default", strict_kinds: bool = False
) -> tuple[Desired, list[Problem]]:
    """Build a :class:`Desired` from parsed documents; problems are returned, not raised.

    ``kind: List`` and typed ``*List`` documents count as their items.
    """
    desired = Desired(default_namespace)
    problems: list[Problem] = []
    first_seen: dict[Address, Document] = {}
    for doc in unpack_lists(documents):
        model, found = _classify(doc, desired, strict_kinds)
        problems.extend(found)
        if doc.duplicate_keys:
            label = (
                _label(_address(doc.data, default_namespace))
                if isinstance(doc.data, dict) and isinstance(doc.data.get("kind"), str)
                else ""
            )
            problems.extend(_duplicate_key_problems(doc, label))
        if model is None:
            continue
        address = _address(doc.data, default_namespace)
        # Duplicates are found before schema checks, so a first copy with a
        # typo does not hide them until the typo is fixed.
        first = first_seen.setdefault(address, doc) if address.name else doc
        if first is not doc:
            pos = doc.position_of(("metadata", "name"))
            problems.append(
                Problem(
                    pos.file,
                    pos.line,
                    pos.column,
                    str(address),
                    "metadata.name",
                    f"duplicate resource (first defined at {first.file}:{first.origin.line})",
                )
            )
        try:
            obj = model.model_validate(doc.data)
        except ValidationError as exc:
            problems.extend(_schema_problems(doc, address, model, exc))
            # Known to the user even though invalid: references to it are not
            # reported as dangling on top of its own problems.
            desired.rejected.add(address)
            continue
        if first is doc:
            # The model holds the values now; the document is kept for positions.
            kept = dataclasses.replace(doc, data=None)
            desired.resources[address] = LoadedResource(address, obj, kept)
    problems.extend(validate_desired(desired))
    return desired, problems


def load(
    paths: Iterable[str], default_namespace: str = "default", strict_kinds: bool = False
) -> Desired:
    """Read ``-f`` paths and return the desired state.

    Raises ValidationFailed listing every problem.
    """
    documents, problems = read_sources(paths)
    desired, more = load_documents(documents, default_namespace, strict_kinds)
    problems.extend(more)
    if problems:
        raise ValidationFailed(problems)
    return desired
