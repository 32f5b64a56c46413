"""Turn YAML documents into typed resources, collecting every problem at once."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from catalogctl.errors import Problem, ValidationFailed
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired, IgnoredObject, LoadedResource, ResourceObject, field_path
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.podmappings import PodMapping
from catalogctl.model.source import Document, read_sources
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


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field"
    msg = str(error["msg"])
    if msg.startswith("Input should be"):
        msg = "must be" + msg[len("Input should be") :]
    return msg


def _schema_problems(doc: Document, address: Address, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = tuple(p for p in error["loc"] if isinstance(p, str | int))
        pos = doc.position_of(loc)
        problems.append(
            Problem(pos.file, pos.line, pos.column, str(address), field_path(loc), _message(error))
        )
    return problems


def _classify(
    doc: Document, desired: Desired, strict_kinds: bool
) -> tuple[type[ResourceObject] | None, list[Problem]]:
    """Decide whether a document is ours, ignored, or malformed."""
    data = doc.data
    pos = doc.start
    if not isinstance(data, dict):
        return None, [
            Problem(pos.file, pos.line, pos.column, "", "", "document is not a mapping (expected a Kubernetes object)")
        ]
    api_version, kind = data.get("apiVersion"), data.get("kind")
    missing = [f for f, v in (("apiVersion", api_version), ("kind", kind)) if not isinstance(v, str) or not v]
    if missing:
        return None, [
            Problem(pos.file, pos.line, pos.column, "", f, "required field is missing") for f in missing
        ]
    assert isinstance(api_version, str) and isinstance(kind, str)
    model = _MODELS.get((api_version, kind))
    if model is not None:
        return model, []
    group = api_version.split("/")[0] if "/" in api_version else ""
    if kind in _MANAGED_KINDS and group in (SERVICE_CATALOG_GROUP, CATALOGCTL_GROUP):
        p = doc.position_of(("apiVersion",))
        supported = CATALOGCTL_API if kind == "PodMapping" else SERVICE_CATALOG_API
        return None, [
            Problem(p.file, p.line, p.column, kind, "apiVersion",
                    f"unsupported apiVersion {api_version!r} for {kind} (supported: {supported})")
        ]
    meta = data.get("metadata")
    name = str(meta.get("name", "")) if isinstance(meta, dict) else ""
    if strict_kinds and kind not in _GENERATED_KINDS:
        return None, [
            Problem(pos.file, pos.line, pos.column, f"{kind}/{name}" if name else kind, "kind",
                    f"kind {api_version} {kind} is not managed by catalogctl (--strict-kinds)")
        ]
    desired.ignored.append(IgnoredObject(pos.file, pos.line, api_version, kind, name))
    return None, []


def _address(data: dict[str, Any], default_namespace: str) -> Address:
    kind = str(data.get("kind"))
    meta = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = str(meta.get("name") or "")
    if kind == "ClusterServiceBroker":
        return Address(kind, "", name)
    return Address(kind, str(meta.get("namespace") or default_namespace), name)


def load_documents(
    documents: Iterable[Document], default_namespace: str = "default", strict_kinds: bool = False
) -> tuple[Desired, list[Problem]]:
    """Build a :class:`Desired` from parsed documents; problems are returned, not raised."""
    desired = Desired(default_namespace)
    problems: list[Problem] = []
    for doc in documents:
        model, found = _classify(doc, desired, strict_kinds)
        problems.extend(found)
        if model is None:
            continue
        address = _address(doc.data, default_namespace)
        try:
            obj = model.model_validate(doc.data)
        except ValidationError as exc:
            problems.extend(_schema_problems(doc, address, exc))
            continue
        resource = LoadedResource(address, obj, doc)
        previous = desired.resources.get(address)
        if previous is not None:
            problems.append(
                resource.problem(("metadata", "name"), f"duplicate resource (first defined at {previous.location})")
            )
            continue
        desired.resources[address] = resource
    problems.extend(validate_desired(desired))
    return desired, problems


def load(
    paths: Iterable[str], default_namespace: str = "default", strict_kinds: bool = False
) -> Desired:
    """Read ``-f`` paths and return the desired state, or raise ValidationFailed with all problems."""
    documents, problems = read_sources(paths)
    desired, more = load_documents(documents, default_namespace, strict_kinds)
    problems.extend(more)
    if problems:
        raise ValidationFailed(problems)
    return desired
