"""From the objects Service Catalog left in a cluster to catalogctl's desired state (pure).

Given what ``catalogctl migrate service-catalog`` read (brokers, classes,
plans, instances, bindings), decide which instances and bindings are finished
and can be taken over, which are skipped (and what to do about each), and the
desired-state YAML: one file per namespace plus one for cluster-scoped
brokers, spec only (no status, no server-managed metadata, no fields
Service Catalog's controller or webhook set), parameters kept as written and
``parametersFrom`` kept as Secret references.

A skipped instance or binding is left out of the YAML as well: written but not
imported, the next ``apply`` would provision a second copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

API_VERSION = "servicecatalog.k8s.io/v1beta1"
#: The file cluster-scoped brokers are written to (namespaces are DNS labels: no clash).
CLUSTER_FILE = "cluster-brokers.yaml"

#: Spec fields Service Catalog's controller or admission webhook set; never desired state.
_MANAGED_SPEC_FIELDS = frozenset(
    {
        "clusterServiceClassRef",
        "clusterServicePlanRef",
        "serviceClassRef",
        "servicePlanRef",
        "userInfo",
    }
)
#: Annotations that record a tool's last write, not the user's intent.
_TOOL_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})

#: Kubernetes-name selectors rewritten to external names: (name field, kind,
#: external-name field, is the plan).
_NAME_SELECTORS = (
    ("clusterServiceClassName", "ClusterServiceClass", "clusterServiceClassExternalName"),
    ("clusterServicePlanName", "ClusterServicePlan", "clusterServicePlanExternalName"),
    ("serviceClassName", "ServiceClass", "serviceClassExternalName"),
    ("servicePlanName", "ServicePlan", "servicePlanExternalName"),
)


@dataclass(frozen=True)
class Skipped:
    """An object not taken over, why, and what to do about it."""

    address: str
    why: str
    todo: str


@dataclass(frozen=True)
class Inventory:
    """What was read from the cluster, as the API returned it (kind and apiVersion set)."""

    brokers: tuple[dict[str, Any], ...] = ()
    classes: tuple[dict[str, Any], ...] = ()
    plans: tuple[dict[str, Any], ...] = ()
    instances: tuple[dict[str, Any], ...] = ()
    bindings: tuple[dict[str, Any], ...] = ()


@dataclass
class Export:
    """The desired-state files and the objects to import, in import order."""

    files: dict[str, str] = field(default_factory=dict)
    instances: list[dict[str, Any]] = field(default_factory=list)
    bindings: list[dict[str, Any]] = field(default_factory=list)
    brokers: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def address_of(obj: Mapping[str, Any]) -> str:
    """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    kind, name = obj.get("kind"), meta.get("name")
    return f"{kind}/{ns}/{name}" if ns else f"{kind}/{name}"


def _status(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    status = obj.get("status")
    return status if isinstance(status, Mapping) else {}


def _condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for cond in _status(obj).get("conditions") or ():
        if isinstance(cond, Mapping) and cond.get("type") == kind:
            return cond
    return None


def _unfinished(obj: Mapping[str, Any], noun: str) -> tuple[str, str] | None:
    """(why, what to do) for an object an operation is still working on, else None."""
    meta = obj.get("metadata") or {}
    status = _status(obj)
    restart = "start Service Catalog's controller again, let it finish, then migrate again"
    if meta.get("deletionTimestamp"):
        return (
            f"it is being deleted (Service Catalog would {noun})",
            "let Service Catalog's controller finish the delete; if it is stuck, see "
            "Service Catalog's stuck-instance guide, then leave it out",
        )
    if status.get("orphanMitigationInProgress"):
        return ("orphan mitigation is in progress", restart)
    operation = status.get("currentOperation")
    if status.get("asyncOpInProgress") or operation:
        return (f"an operation is in progress ({operation or 'asynchronous'})", restart)
    return None


def _failure(obj: Mapping[str, Any]) -> str:
    failed = _condition(obj, "Failed")
    ready = _condition(obj, "Ready")
    for cond in (failed, ready):
        if cond is not None and cond.get("reason"):
            return f"{cond.get('reason')}: {cond.get('message', '')}".rstrip(": ")
    return "no Ready condition"


def _instance_skip(obj: Mapping[str, Any]) -> tuple[str, str] | None:
    busy = _unfinished(obj, "deprovision it")
    if busy is not None:
        return busy
    status = _status(obj)
    if status.get("provisionStatus") != "Provisioned":
        return (
            f"it is not provisioned ({_failure(obj)})",
            "delete it in Service Catalog (nothing exists at the broker), or fix it and migrate "
            "again; to create it with catalogctl, add it to the YAML without spec.externalID",
        )
    if not (obj.get("spec") or {}).get("externalID"):
        return ("it has no spec.externalID", "set by Service Catalog's webhook; migrate again")
    return None


def _binding_skip(obj: Mapping[str, Any], instance_ok: bool) -> tuple[str, str] | None:
    busy = _unfinished(obj, "unbind it and delete its Secret")
    if busy is not None:
        return busy
    spec = obj.get("spec") or {}
    ns = (obj.get("metadata") or {}).get("namespace")
    instance = f"ServiceInstance/{ns}/{(spec.get('instanceRef') or {}).get('name')}"
    if not instance_ok:
        return (
            f"its instance {instance} is not migrated",
            "migrate again once the instance is taken over",
        )
    ready = _condition(obj, "Ready")
    if ready is None or ready.get("status") != "True":
        return (
            f"it is not bound ({_failure(obj)})",
            "delete it in Service Catalog, or fix it and migrate again; to bind with "
            "catalogctl, add it to the YAML without spec.externalID",
        )
    if not spec.get("externalID"):
        return ("it has no spec.externalID", "set by Service Catalog's webhook; migrate again")
    return None


def _metadata(obj: Mapping[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    out: dict[str, Any] = {"name": meta.get("name")}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k not in _TOOL_ANNOTATIONS
    }
    if annotations:
        out["annotations"] = annotations
    return out


def _desired(obj: Mapping[str, Any], spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
        "spec": dict(spec),
    }


def _by_name(objects: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], Mapping[str, Any]]:
    """(kind, namespace, name) -> object."""
    out = {}
    for obj in objects:
        meta = obj.get("metadata") or {}
        out[(str(obj.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))] = obj
    return out


def _instance_spec(
    obj: Mapping[str, Any], catalog: Mapping[tuple[str, str, str], Mapping[str, Any]]
) -> dict[str, Any]:
    """The spec as desired state: managed fields dropped, Kubernetes-name selectors
    turned into the external names they stood for (readable, and stable across
    Service Catalog's name escaping)."""
    ns = str((obj.get("metadata") or {}).get("namespace") or "")
    spec = {k: v for k, v in (obj.get("spec") or {}).items() if k not in _MANAGED_SPEC_FIELDS}
    for name_field, kind, external_field in _NAME_SELECTORS:
        name = spec.get(name_field)
        scope = "" if kind.startswith("Cluster") else ns
        found = catalog.get((kind, scope, str(name))) if name else None
        found_spec = (found or {}).get("spec") or {}
        external = found_spec.get("externalName")
        if not (isinstance(external, str) and external):
            continue
        if kind.endswith("Class") and _offered_by_several(catalog, kind, scope, external):
            # A Kubernetes name picked one broker's offering; keep that choice.
            broker = found_spec.get("clusterServiceBrokerName") or found_spec.get(
                "serviceBrokerName"
            )
            external = f"{broker}/{external}" if broker else external
        del spec[name_field]
        spec[external_field] = external
    return spec


def _offered_by_several(
    catalog: Mapping[tuple[str, str, str], Mapping[str, Any]], kind: str, scope: str, name: str
) -> bool:
    same = [
        key
        for key, obj in catalog.items()
        if key[0] == kind
        and key[1] == scope
        and (obj.get("spec") or {}).get("externalName") == name
    ]
    return len(same) > 1


def export_desired(inventory: Inventory) -> Export:
    """Decide what is taken over and write its desired state (see the module docstring)."""
    out = Export()
    catalog = _by_name((*inventory.classes, *inventory.plans))
    per_file: dict[str, list[dict[str, Any]]] = {}
    for broker in inventory.brokers:
        ns = (broker.get("metadata") or {}).get("namespace")
        doc = _desired(broker, broker.get("spec") or {})
        per_file.setdefault(f"{ns}.yaml" if ns else CLUSTER_FILE, []).append(doc)
        out.brokers.append(broker)
    migrated_instances: set[tuple[str, str]] = set()
    for inst in inventory.instances:
        meta = inst.get("metadata") or {}
        skip = _instance_skip(inst)
        if skip is not None:
            out.skipped.append(Skipped(address_of(inst), *skip))
            continue
        migrated_instances.add((str(meta.get("namespace")), str(meta.get("name"))))
        per_file.setdefault(f"{meta.get('namespace')}.yaml", []).append(
            _desired(inst, _instance_spec(inst, catalog))
        )
        out.instances.append(inst)
    for binding in inventory.bindings:
        meta = binding.get("metadata") or {}
        ref = ((binding.get("spec") or {}).get("instanceRef") or {}).get("name")
        skip = _binding_skip(binding, (str(meta.get("namespace")), str(ref)) in migrated_instances)
        if skip is not None:
            out.skipped.append(Skipped(address_of(binding), *skip))
            continue
        spec = {
            k: v for k, v in (binding.get("spec") or {}).items() if k not in _MANAGED_SPEC_FIELDS
        }
        per_file.setdefault(f"{meta.get('namespace')}.yaml", []).append(_desired(binding, spec))
        out.bindings.append(binding)
    for name in sorted(per_file):
        out.files[name] = "---\n".join(
            yaml.safe_dump(dict(doc), sort_keys=False, default_flow_style=False)
            for doc in per_file[name]
        )
    return out


def recorded_plan_id(instance: Mapping[str, Any]) -> str | None:
    """The plan id Service Catalog last provisioned or updated the instance with."""
    props = _status(instance).get("externalProperties") or {}
    for key in ("clusterServicePlanExternalID", "servicePlanExternalID"):
        value = props.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def recorded_checksum(obj: Mapping[str, Any]) -> str | None:
    """The parameter checksum Service Catalog recorded for what it last sent."""
    props = _status(obj).get("externalProperties") or {}
    value = props.get("parameterChecksum")
    return value if isinstance(value, str) and value else None


def recorded_parameters(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The parameters Service Catalog last sent, with values from Secrets redacted by it."""
    props = _status(obj).get("externalProperties") or {}
    params = props.get("parameters")
    return dict(params) if isinstance(params, Mapping) else None
