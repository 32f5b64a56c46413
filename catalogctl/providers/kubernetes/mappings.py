"""PodMapping patches: pure functions from (workload, mapping) to a strategic-merge patch.

A PodMapping adds env vars, an ``envFrom`` entry, a Secret volume and its
mounts to a workload's pod template.  The workload belongs to someone else
(a Helm chart, a kubectl apply, a sidecar injector), so catalogctl must touch
*only* the entries it added.  Three rules make that hold:

* What a mapping added is recorded in an annotation on the workload
  (``catalogctl.io/mappings``: mapping address → owned entry names), so removal
  and drift detection look only at those entries, even after the mapping has
  been deleted from the desired state.
* An entry with the same name that catalogctl did not add is never
  overwritten: an identical one is adopted, a different one is an
  :class:`OwnershipError`.  The same applies between two mappings.
* A mapping with a Secret revision (a counter the engine keeps in state, raised
  when the Secret's data changes) writes it into the pod template's
  ``catalogctl.io/secret-revision`` annotation, so new credentials change the
  template and Kubernetes rolls the workload.  The value lists
  ``<secret>=<revision>`` for every mapping on the workload that has one; a
  counter, never a digest of the data (more people read Deployments than
  Secrets).  A Job's template is immutable, so Jobs never carry it.
* Changes are strategic-merge patches keyed the way the apiserver merges
  (containers/env/volumes by ``name``, volumeMounts by ``mountPath``).  An owned
  entry that is modified carries explicit ``null`` for fields it no longer
  has, because a strategic merge would otherwise keep them.  ``envFrom`` has
  no merge key, so the patch carries the complete new list.

:func:`strategic_merge` applies such a patch locally (for the directory target
and for computing the "after" object the plan diff shows); it implements the
merge rules for exactly the lists these patches use, the same way the
apiserver does, so both targets produce identical objects.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from catalogctl.errors import ClusterError, OwnershipError
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.statemark import StateMark

__all__ = [
    "API_VERSIONS",
    "MAPPINGS_ANNOTATION",
    "POD_SPEC_PATHS",
    "REVISION_ANNOTATION",
    "ImmutableWorkloadError",
    "MappingEntries",
    "MappingObservation",
    "MappingPatch",
    "OwnedRecord",
    "WorkloadChange",
    "WorkloadNotFound",
    "default_volume_name",
    "diff_workloads",
    "mapping_entries",
    "observe_entries",
    "plan_apply",
    "plan_remove",
    "read_records",
    "strategic_merge",
    "with_element_order",
]

MAPPINGS_ANNOTATION: Final = "catalogctl.io/mappings"
REVISION_ANNOTATION: Final = "catalogctl.io/secret-revision"
DEFAULT_SECRET_VOLUME_MODE: Final = 0o644  # the apiserver's default for secret volumes

#: Where the pod template's spec lives, per workload kind.
POD_SPEC_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

API_VERSIONS: Final[dict[str, str]] = {
    "Deployment": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}

#: List field → merge key, for the lists our patches touch (as in the core/v1 Go types).
MERGE_KEYS: Final[dict[str, str]] = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}


class WorkloadNotFound(ClusterError):
    """The workload a PodMapping targets does not exist."""


class ImmutableWorkloadError(ClusterError):
    """The change would alter a pod template Kubernetes does not allow to change (a Job's)."""


# --- desired entries ------------------------------------------------------------------------------


def default_volume_name(mapping_name: str) -> str:
    """A DNS-1123 label (≤ 63 chars) derived from the mapping's name.

    Mapping names are DNS subdomains (dots allowed, up to 253 chars), volume
    names are labels; dots become dashes and a long name keeps a prefix plus
    a short hash so two long names stay distinct.
    """
    base = re.sub(r"[^a-z0-9-]", "-", mapping_name.lower()).strip("-") or "secret"
    base = re.sub(r"-{2,}", "-", base)
    if len(base) <= 63:
        return base
    digest = hashlib.sha256(mapping_name.encode("utf-8")).hexdigest()[:8]
    return f"{base[:54].rstrip('-')}-{digest}"


@dataclass(frozen=True)
class MappingEntries:
    """The pod-template entries one PodMapping wants, as Kubernetes objects.

    ``containers`` is None for "every container of the pod template".
    ``revision`` is the mapped Secret's revision to record in the pod template
    (None: the mapping does not roll its workload).
    """

    address: str
    secret_name: str
    containers: tuple[str, ...] | None
    env: tuple[dict[str, Any], ...] = ()
    env_from: dict[str, Any] | None = None
    volume: dict[str, Any] | None = None
    mount: dict[str, Any] | None = None
    #: the state this run writes for, recorded with the mapping's owned entries
    mark: StateMark | None = None
    revision: int | None = None


def mapping_entries(
    mapping: PodMapping,
    secret_name: str,
    address: str | None = None,
    mark: StateMark | None = None,
    revision: int | None = None,
) -> MappingEntries:
    """Translate a PodMapping into env/envFrom/volume/volumeMount objects for ``secret_name``.

    ``secret_name`` is the effective secret name of the binding the mapping
    refers to (the engine resolves ``bindingRef``).  Fields the apiserver
    would default (``defaultMode``) are set explicitly, so that comparing the
    live object with the desired entries does not see phantom drift.
    ``revision`` is dropped when the mapping opts out (``spec.rollout: false``)
    and for Jobs, whose pod template cannot change.
    """
    spec = mapping.spec
    namespace = mapping.metadata.namespace or "default"
    addr = address or f"PodMapping/{namespace}/{mapping.metadata.name}"
    env: list[dict[str, Any]] = []
    for e in spec.env:
        if e.key is not None:
            ref: dict[str, Any] = {"name": secret_name, "key": e.key}
            if e.optional is not None:
                ref["optional"] = e.optional
            env.append({"name": e.name, "valueFrom": {"secretKeyRef": ref}})
        else:
            env.append({"name": e.name, "value": e.value or ""})
    env_from: dict[str, Any] | None = None
    if spec.env_from is not None:
        env_from = {"secretRef": {"name": secret_name}}
        if spec.env_from.prefix:
            env_from = {"prefix": spec.env_from.prefix, **env_from}
    volume: dict[str, Any] | None = None
    mount: dict[str, Any] | None = None
    if spec.volume is not None:
        v = spec.volume
        vname = v.name or default_volume_name(mapping.metadata.name)
        source: dict[str, Any] = {"secretName": secret_name}
        if v.items:
            items = []
            for item in v.items:
                entry: dict[str, Any] = {"key": item.key, "path": item.path}
                if item.mode is not None:
                    entry["mode"] = item.mode
                items.append(entry)
            source["items"] = items
        source["defaultMode"] = (
            v.default_mode if v.default_mode is not None else DEFAULT_SECRET_VOLUME_MODE
        )
        volume = {"name": vname, "secret": source}
        mount = {"name": vname, "mountPath": v.mount_path}
        if v.read_only:
            mount["readOnly"] = True
    containers = tuple(spec.target.containers) if spec.target.containers else None
    if not spec.rollout or spec.target.kind == "Job":
        revision = None
    return MappingEntries(
        addr, secret_name, containers, tuple(env), env_from, volume, mount, mark, revision
    )


# --- owned-entry records --------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnedRecord:
    """What one mapping added to a workload (names only), stored in the annotation."""

    secret: str
    containers: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    env_from: dict[str, Any] | None = None
    volume: str | None = None
    mounts: tuple[str, ...] = ()
    #: the state that wrote the entries (None: recorded before lineages were)
    mark: StateMark | None = None
    #: The Secret revision this mapping put into the pod template, if it rolls the workload.
    revision: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"secret": self.secret, "containers": list(self.containers)}
        if self.mark is not None:
            out["lineage"] = self.mark.lineage
            if self.mark.where:
                out["state"] = self.mark.where
        if self.env:
            out["env"] = list(self.env)
        if self.env_from is not None:
            out["envFrom"] = self.env_from
        if self.volume is not None:
            out["volume"] = self.volume
        if self.mounts:
            out["mounts"] = list(self.mounts)
        if self.revision is not None:
            out["revision"] = self.revision
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OwnedRecord:
        env_from = data.get("envFrom")
        return cls(
            secret=str(data.get("secret", "")),
            containers=tuple(str(c) for c in data.get("containers") or ()),
            env=tuple(str(e) for e in data.get("env") or ()),
            env_from=dict(env_from) if isinstance(env_from, Mapping) else None,
            volume=str(data["volume"]) if data.get("volume") else None,
            mounts=tuple(str(m) for m in data.get("mounts") or ()),
            mark=(
                StateMark(data["lineage"], str(data.get("state") or ""))
                if isinstance(data.get("lineage"), str) and data["lineage"]
                else None
            ),
            revision=data["revision"] if isinstance(data.get("revision"), int) else None,
        )


def read_records(workload: Mapping[str, Any]) -> dict[str, OwnedRecord]:
    """The owned-entry records in a workload's annotation (empty when absent or unreadable).

    An annotation someone corrupted is treated as "owns nothing" rather than an
    error: the consequence is that catalogctl refuses to touch entries it can
    no longer prove it owns, which is the safe direction.
    """
    raw = ((workload.get("metadata") or {}).get("annotations") or {}).get(MAPPINGS_ANNOTATION)
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): OwnedRecord.from_json(v) for k, v in data.items() if isinstance(v, dict)}


def _records_annotation(records: Mapping[str, OwnedRecord]) -> str | None:
    if not records:
        return None
    return json.dumps(
        {k: records[k].to_json() for k in sorted(records)}, separators=(",", ":"), sort_keys=True
    )


# --- small helpers --------------------------------------------------------------------------------


def _get_path(obj: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _nest(path: Sequence[str], value: dict[str, Any]) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value


def _workload_ref(workload: Mapping[str, Any]) -> str:
    meta = workload.get("metadata") or {}
    return f"{workload.get('kind')}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def _pod_spec(workload: Mapping[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    kind = str(workload.get("kind"))
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        raise ClusterError(f"{_workload_ref(workload)}: kind {kind} cannot be a PodMapping target")
    spec = _get_path(workload, path)
    return path, spec if isinstance(spec, dict) else {}


def _find(items: Iterable[Any], key: str, value: Any) -> dict[str, Any] | None:
    for item in items:
        if isinstance(item, dict) and item.get(key) == value:
            return item
    return None


def _replacing(current: Mapping[str, Any] | None, desired: Mapping[str, Any]) -> dict[str, Any]:
    """A merge patch that turns ``current`` into exactly ``desired`` (nulls for dropped fields)."""
    out: dict[str, Any] = {}
    for key, value in desired.items():
        cur = current.get(key) if current is not None else None
        if isinstance(value, dict) and isinstance(cur, dict):
            out[key] = _replacing(cur, value)
        else:
            out[key] = copy.deepcopy(value)
    if current is not None:
        for key in current:
            if key not in desired:
                out[key] = None
    return out


def _env_from_matches(item: Any, record: Mapping[str, Any]) -> bool:
    return (
        isinstance(item, dict)
        and (item.get("secretRef") or {}).get("name") == record.get("secret")
        and (item.get("prefix") or None) == (record.get("prefix") or None)
        and "configMapRef" not in item
    )


# --- strategic merge ------------------------------------------------------------------------------


def strategic_merge(original: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Apply a strategic-merge patch locally, with the apiserver's rules for our lists.

    Maps merge recursively and ``null`` deletes a field; lists in
    :data:`MERGE_KEYS` merge item by item on their key (``$patch: delete``
    removes an item, new items are appended, existing ones merged); every
    other list (``envFrom``, ``items``, ``args``…) is replaced.
    """
    return _smp_map(copy.deepcopy(dict(original)), patch)


def with_element_order(patch: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``patch`` plus a ``$setElementOrder/<list>`` directive beside every merge-keyed list it
    touches, naming that list's items in their order in ``after``.

    Without the directive a real apiserver puts items that are new to a list *before* the
    existing ones (its merge keeps the patch's order first), so a mapped env var would land
    ahead of the owner's and a container could move; ``kubectl apply`` sends the same
    directives. Only for the wire: :func:`strategic_merge` already appends.
    """
    out: dict[str, Any] = {}
    for key, value in patch.items():
        live = after.get(key)
        if isinstance(value, dict):
            out[key] = with_element_order(value, live if isinstance(live, dict) else {})
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(live, list):
            merge_key = MERGE_KEYS[key]
            by_key = {i.get(merge_key): i for i in live if isinstance(i, dict)}
            out[key] = [
                with_element_order(i, by_key.get(i.get(merge_key)) or {})
                if isinstance(i, dict)
                else i
                for i in value
            ]
            out[f"$setElementOrder/{key}"] = [
                {merge_key: i.get(merge_key)} for i in live if isinstance(i, dict)
            ]
        else:
            out[key] = value
    return out


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k != "$patch"}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def _smp_map(orig: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if key == "$patch":
            continue
        if value is None:
            orig.pop(key, None)
        elif isinstance(value, dict):
            current = orig.get(key)
            orig[key] = _smp_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            orig[key] = _smp_list(key, orig.get(key), value)
        else:
            orig[key] = value
    return orig


def _smp_list(name: str, orig: Any, patch: list[Any]) -> list[Any]:
    merge_key = MERGE_KEYS.get(name)
    if merge_key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip(i) for i in patch]
    result = [
        dict(i) if isinstance(i, dict) else i for i in (orig if isinstance(orig, list) else [])
    ]
    for item in patch:
        index = next(
            (
                n
                for n, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(merge_key) == item.get(merge_key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
        elif index is None:
            result.append(_strip(item))
        else:
            result[index] = _smp_map(result[index], item)
    return result


# --- diff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkloadChange:
    """One line of a workload diff: ``+ env TOPIC (from Secret s key topic)``.

    ``container`` is None for pod-level entries (volumes) and when the pod has a
    single container, where naming it would add nothing.
    """

    action: str  # "+", "-", "~"
    entry: str  # "env", "envFrom", "volume", "volumeMount"
    name: str
    detail: str
    container: str | None = None

    def __str__(self) -> str:
        where = f" [container {self.container}]" if self.container else ""
        return f"{self.action} {self.entry} {self.name} ({self.detail}){where}"


def _describe_env(item: Mapping[str, Any], show_values: bool) -> str:
    value_from = item.get("valueFrom") or {}
    ref = value_from.get("secretKeyRef")
    if ref:
        return f"from Secret {ref.get('name')} key {ref.get('key')}"
    if "value" in item:
        return f"= {json.dumps(item['value'])}" if show_values else "= (literal value)"
    if value_from:
        return f"from {next(iter(value_from))}"
    return "empty"


def _describe_env_from(item: Mapping[str, Any]) -> tuple[str, str]:
    for ref_kind, label in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
        ref = item.get(ref_kind)
        if ref:
            prefix = item.get("prefix")
            detail = f"all keys of {label} {ref.get('name')}"
            return f"{label}/{ref.get('name')}", detail + (f", prefix {prefix}" if prefix else "")
    return "?", "unknown source"


def _describe_volume(item: Mapping[str, Any]) -> str:
    secret = item.get("secret")
    if not secret:
        return "not a Secret volume"
    parts = [f"Secret {secret.get('secretName')}"]
    if secret.get("items"):
        parts.append(
            "items " + ", ".join(f"{i.get('key')}→{i.get('path')}" for i in secret["items"])
        )
    if secret.get("defaultMode") is not None:
        parts.append(f"mode {secret['defaultMode']:04o}")
    return ", ".join(parts)


def _describe_mount(item: Mapping[str, Any]) -> str:
    return f"volume {item.get('name')}" + (", read-only" if item.get("readOnly") else "")


def _diff_keyed(
    before: Sequence[Any],
    after: Sequence[Any],
    key: str,
    entry: str,
    describe: Any,
    container: str | None,
) -> list[WorkloadChange]:
    out: list[WorkloadChange] = []
    b = {i.get(key): i for i in before if isinstance(i, dict)}
    a = {i.get(key): i for i in after if isinstance(i, dict)}
    for name, item in b.items():
        if name not in a:
            out.append(WorkloadChange("-", entry, str(name), describe(item), container))
        elif a[name] != item:
            out.append(
                WorkloadChange(
                    "~", entry, str(name), f"{describe(item)} -> {describe(a[name])}", container
                )
            )
    for name, item in a.items():
        if name not in b:
            out.append(WorkloadChange("+", entry, str(name), describe(item), container))
    return out


def diff_workloads(
    before: Mapping[str, Any], after: Mapping[str, Any], *, show_literal_values: bool = False
) -> list[WorkloadChange]:
    """The env/envFrom/volume/volumeMount differences between two versions of a workload.

    Secret-backed entries show the Secret and key names only.  Literal env
    values are hidden unless ``show_literal_values``: the plan functions set it
    because the only entries that differ there are the mapping's own, whose
    literals come from the user's YAML; a diff of arbitrary workload changes
    could otherwise print a password someone put in a Deployment.
    """
    _, spec_b = _pod_spec(before)
    _, spec_a = _pod_spec(after)
    changes: list[WorkloadChange] = []
    cb = {c.get("name"): c for c in spec_b.get("containers") or [] if isinstance(c, dict)}
    ca = {c.get("name"): c for c in spec_a.get("containers") or [] if isinstance(c, dict)}
    names = list(ca) + [n for n in cb if n not in ca]
    single = len(names) == 1
    for name in names:
        b, a = cb.get(name) or {}, ca.get(name) or {}
        where = None if single else str(name)
        changes += _diff_keyed(
            b.get("env") or [],
            a.get("env") or [],
            "name",
            "env",
            lambda item: _describe_env(item, show_literal_values),
            where,
        )
        ef_b = [_describe_env_from(i) for i in b.get("envFrom") or []]
        ef_a = [_describe_env_from(i) for i in a.get("envFrom") or []]
        changes += [
            WorkloadChange("-", "envFrom", n, d, where) for n, d in ef_b if (n, d) not in ef_a
        ]
        changes += [
            WorkloadChange("+", "envFrom", n, d, where) for n, d in ef_a if (n, d) not in ef_b
        ]
        changes += _diff_keyed(
            b.get("volumeMounts") or [],
            a.get("volumeMounts") or [],
            "mountPath",
            "volumeMount",
            _describe_mount,
            where,
        )
    changes += _diff_keyed(
        spec_b.get("volumes") or [],
        spec_a.get("volumes") or [],
        "name",
        "volume",
        _describe_volume,
        None,
    )
    return changes


# --- apply and remove -----------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingPatch:
    """A computed patch with the object before and after, and the diff for the plan.

    ``patch`` is empty when nothing needs to change.  The caller sends it as
    ``application/strategic-merge-patch+json`` (adding ``resourceVersion`` for
    optimistic concurrency) or applies it with :func:`strategic_merge`.
    """

    workload: str
    patch: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    changes: tuple[WorkloadChange, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return bool(self.patch)


def _owned_in(record: OwnedRecord | None, container: str) -> OwnedRecord | None:
    return record if record is not None and container in record.containers else None


def _check_conflicts(
    workload: Mapping[str, Any],
    spec: Mapping[str, Any],
    entries: MappingEntries,
    targets: Sequence[str],
    old: OwnedRecord | None,
    others: Mapping[str, OwnedRecord],
) -> None:
    ref = _workload_ref(workload)
    env_names = {e["name"] for e in entries.env}
    mount_path = entries.mount["mountPath"] if entries.mount else None
    vol_name = entries.volume["name"] if entries.volume else None
    for addr, rec in others.items():
        shared = [c for c in targets if c in rec.containers]
        for c in shared:
            clash = sorted(env_names & set(rec.env))
            if clash:
                raise OwnershipError(
                    f"{ref}: env {clash[0]} in container {c} is owned by {addr}; "
                    f"refusing to map it for {entries.address}"
                )
            if mount_path is not None and mount_path in rec.mounts:
                raise OwnershipError(
                    f"{ref}: mountPath {mount_path} in container {c} is owned by "
                    f"{addr}; refusing to map it for {entries.address}"
                )
            # envFrom entries are identified by (Secret, prefix); two owners of one
            # entry would remove it from under each other.
            if (
                entries.env_from is not None
                and rec.env_from is not None
                and _env_from_matches(entries.env_from, rec.env_from)
            ):
                raise OwnershipError(
                    f"{ref}: envFrom of Secret {entries.secret_name} in container {c} is owned "
                    f"by {addr}; refusing to map it again for {entries.address}"
                )
        if vol_name is not None and rec.volume == vol_name:
            raise OwnershipError(
                f"{ref}: volume {vol_name} is owned by {addr}; refusing to map it "
                f"for {entries.address} (set spec.volume.name to another name)"
            )
    containers = {c.get("name"): c for c in spec.get("containers") or [] if isinstance(c, dict)}
    for c in targets:
        cont = containers[c]
        owned = _owned_in(old, c)
        for e in entries.env:
            cur = _find(cont.get("env") or [], "name", e["name"])
            if cur is not None and cur != e and (owned is None or e["name"] not in owned.env):
                raise OwnershipError(
                    f"{ref}: container {c} already has env {e['name']}, which catalogctl did not "
                    f"add; refusing to overwrite it for {entries.address}"
                )
        if entries.mount is not None:
            cur = _find(cont.get("volumeMounts") or [], "mountPath", mount_path)
            if (
                cur is not None
                and cur != entries.mount
                and (owned is None or mount_path not in owned.mounts)
            ):
                raise OwnershipError(
                    f"{ref}: container {c} already mounts something at {mount_path}, which "
                    f"catalogctl did not add; refusing to replace it for {entries.address}"
                )
    if entries.volume is not None:
        cur = _find(spec.get("volumes") or [], "name", vol_name)
        if cur is not None and cur != entries.volume and (old is None or old.volume != vol_name):
            raise OwnershipError(
                f"{ref}: volume {vol_name} already exists and catalogctl did not add it; refusing "
                f"to replace it for {entries.address} (set spec.volume.name to another name)"
            )


def _annotation_patch(
    workload: Mapping[str, Any], records: Mapping[str, OwnedRecord]
) -> dict[str, Any]:
    annotations = (workload.get("metadata") or {}).get("annotations") or {}
    new = _records_annotation(records)
    if new == annotations.get(MAPPINGS_ANNOTATION):
        return {}
    if new is None and set(annotations) == {MAPPINGS_ANNOTATION}:
        return {"metadata": {"annotations": None}}
    return {"metadata": {"annotations": {MAPPINGS_ANNOTATION: new}}}


def revision_value(records: Mapping[str, OwnedRecord]) -> str | None:
    """The pod template's revision annotation for these records (None: no annotation).

    ``<secret>=<revision>`` per mapped Secret, sorted: several mappings of one
    Secret agree on its revision, and any Secret's new revision changes the value.
    """
    pairs = sorted({(r.secret, r.revision) for r in records.values() if r.revision is not None})
    return ",".join(f"{secret}={revision}" for secret, revision in pairs) or None


def _template_annotation_patch(
    workload: Mapping[str, Any], path: Sequence[str], records: Mapping[str, OwnedRecord]
) -> dict[str, Any]:
    """The pod-template metadata patch that sets (or drops) the revision annotation."""
    if workload.get("kind") == "Job":
        return {}
    meta_path = (*path[:-1], "metadata")
    annotations = (_get_path(workload, meta_path) or {}).get("annotations") or {}
    new = revision_value(records)
    if new == annotations.get(REVISION_ANNOTATION):
        return {}
    if new is None and set(annotations) == {REVISION_ANNOTATION}:
        return _nest(meta_path, {"annotations": None})
    return _nest(meta_path, {"annotations": {REVISION_ANNOTATION: new}})


def _merge_into(target: dict[str, Any], patch: Mapping[str, Any]) -> None:
    """Merge nested patch dicts (disjoint leaves) into ``target`` in place."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def _container_patch(
    cont: Mapping[str, Any], owned: OwnedRecord | None, entries: MappingEntries | None
) -> dict[str, Any]:
    """The patch for one container: drop stale owned entries, add/replace desired ones."""
    cp: dict[str, Any] = {}
    env_items: list[dict[str, Any]] = []
    desired_env = entries.env if entries is not None else ()
    desired_names = {e["name"] for e in desired_env}
    current_env = cont.get("env") or []
    for name in owned.env if owned else ():
        if name not in desired_names and _find(current_env, "name", name) is not None:
            env_items.append({"name": name, "$patch": "delete"})
    for e in desired_env:
        cur = _find(current_env, "name", e["name"])
        if cur != e:
            env_items.append(_replacing(cur, e))
    if env_items:
        cp["env"] = _or_null(current_env, env_items, "name")

    mount_items: list[dict[str, Any]] = []
    desired_mount = entries.mount if entries is not None else None
    current_mounts = cont.get("volumeMounts") or []
    for path in owned.mounts if owned else ():
        stale = desired_mount is None or desired_mount["mountPath"] != path
        if stale and _find(current_mounts, "mountPath", path) is not None:
            mount_items.append({"mountPath": path, "$patch": "delete"})
    if desired_mount is not None:
        cur = _find(current_mounts, "mountPath", desired_mount["mountPath"])
        if cur != desired_mount:
            mount_items.append(_replacing(cur, desired_mount))
    if mount_items:
        cp["volumeMounts"] = _or_null(current_mounts, mount_items, "mountPath")

    current_from = list(cont.get("envFrom") or [])
    new_from = current_from
    if owned is not None and owned.env_from is not None:
        record = owned.env_from
        new_from = [i for i in new_from if not _env_from_matches(i, record)]
    if entries is not None and entries.env_from is not None and entries.env_from not in new_from:
        new_from = [*new_from, entries.env_from]
    if new_from != current_from:
        cp["envFrom"] = new_from if new_from else None
    return cp


def _or_null(
    current: Sequence[Any], items: list[dict[str, Any]], key: str
) -> list[dict[str, Any]] | None:
    """``items``, or None (delete the field) when they would leave the list empty.

    The apiserver omits empty lists when it stores an object; deleting the
    field makes the emulator, the directory target and a real cluster agree.
    """
    deleted = {i[key] for i in items if i.get("$patch") == "delete"}
    added = [i for i in items if i.get("$patch") != "delete"]
    remaining = [c for c in current if not (isinstance(c, dict) and c.get(key) in deleted)]
    return items if remaining or added else None


def _build_patch(
    workload: Mapping[str, Any],
    entries: MappingEntries | None,
    address: str,
    targets: Sequence[str],
) -> tuple[dict[str, Any], dict[str, OwnedRecord]]:
    path, spec = _pod_spec(workload)
    records = read_records(workload)
    old = records.get(address)
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    container_patches: list[dict[str, Any]] = []
    for cont in containers:
        name = str(cont.get("name"))
        targeted = name in targets
        owned = _owned_in(old, name)
        if not targeted and owned is None:
            continue
        cp = _container_patch(cont, owned, entries if targeted else None)
        if cp:
            container_patches.append({"name": name, **cp})

    volume_items: list[dict[str, Any]] = []
    desired_vol = entries.volume if entries is not None else None
    current_vols = spec.get("volumes") or []
    if old is not None and old.volume is not None:
        stale = desired_vol is None or desired_vol["name"] != old.volume
        if stale and _find(current_vols, "name", old.volume) is not None:
            volume_items.append({"name": old.volume, "$patch": "delete"})
    if desired_vol is not None:
        cur = _find(current_vols, "name", desired_vol["name"])
        if cur != desired_vol:
            volume_items.append(_replacing(cur, desired_vol))

    pod_patch: dict[str, Any] = {}
    if container_patches:
        pod_patch["containers"] = container_patches
    if volume_items:
        pod_patch["volumes"] = _or_null(current_vols, volume_items, "name")

    new_records = {k: v for k, v in records.items() if k != address}
    if entries is not None:
        new_records[address] = OwnedRecord(
            secret=entries.secret_name,
            containers=tuple(targets),
            env=tuple(e["name"] for e in entries.env),
            env_from=(
                {
                    "secret": entries.secret_name,
                    **(
                        {"prefix": entries.env_from["prefix"]}
                        if entries.env_from.get("prefix")
                        else {}
                    ),
                }
                if entries.env_from is not None
                else None
            ),
            volume=entries.volume["name"] if entries.volume else None,
            mounts=(entries.mount["mountPath"],) if entries.mount else (),
            mark=entries.mark or (old.mark if old is not None else None),
            revision=entries.revision,
        )
    patch = _annotation_patch(workload, new_records)
    if pod_patch:
        _merge_into(patch, _nest(path, pod_patch))
    _merge_into(patch, _template_annotation_patch(workload, path, new_records))
    return patch, new_records


def _check_mutable(
    workload: Mapping[str, Any], patch: Mapping[str, Any], address: str, action: str
) -> None:
    """Refuse, at plan time, pod-template changes the apiserver would reject.

    A Job's ``spec.template`` is immutable once the Job exists (the apiserver
    answers 422 "field is immutable"); the directory target applies the same
    rule so both targets agree.  Only the ownership annotation may change.
    """
    if workload.get("kind") == "Job" and "spec" in patch:
        raise ImmutableWorkloadError(
            f"{_workload_ref(workload)}: cannot {action} {address}: a Job's pod template cannot "
            f"change after the Job is created. Add the mapping before the Job is created (render "
            f"it into the manifest with 'catalogctl render mappings'), or map into the CronJob "
            f"that creates the Jobs"
        )


def plan_apply(workload: Mapping[str, Any], entries: MappingEntries) -> MappingPatch:
    """The patch that makes ``workload`` carry exactly ``entries`` for this mapping.

    Raises ClusterError when a named container does not exist and
    OwnershipError when an entry would overwrite one catalogctl does not own.
    """
    _, spec = _pod_spec(workload)
    ref = _workload_ref(workload)
    names = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]
    if entries.containers is None:
        targets: list[str] = names
    else:
        missing = [c for c in entries.containers if c not in names]
        if missing:
            raise ClusterError(
                f"{entries.address}: {ref} has no container named {', '.join(missing)} "
                f"(containers: {', '.join(names) or 'none'})"
            )
        targets = list(entries.containers)
    if not targets:
        raise ClusterError(f"{entries.address}: {ref} has no containers to map into")
    records = read_records(workload)
    old = records.get(entries.address)
    theirs = old.mark if old is not None else None
    if theirs is not None and entries.mark is not None and theirs.lineage != entries.mark.lineage:
        raise OwnershipError(
            f"{ref}: the entries of {entries.address} belong to another state, "
            f"{theirs.describe()}; refusing to map them for {entries.mark.describe()}"
        )
    others = {k: v for k, v in records.items() if k != entries.address}
    _check_conflicts(workload, spec, entries, targets, old, others)
    patch, _ = _build_patch(workload, entries, entries.address, targets)
    _check_mutable(workload, patch, entries.address, "map")
    before = copy.deepcopy(dict(workload))
    after = strategic_merge(before, patch)
    changes = diff_workloads(before, after, show_literal_values=True)
    return MappingPatch(ref, patch, before, after, tuple(changes))


def plan_remove(workload: Mapping[str, Any], address: str) -> MappingPatch:
    """The patch that removes exactly what ``address`` recorded as its own."""
    patch, _ = _build_patch(workload, None, address, ())
    _check_mutable(workload, patch, address, "unmap")
    before = copy.deepcopy(dict(workload))
    after = strategic_merge(before, patch)
    return MappingPatch(
        _workload_ref(workload),
        patch,
        before,
        after,
        tuple(diff_workloads(before, after, show_literal_values=True)),
    )


# --- observation ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MappingObservation:
    """Which of a mapping's entries a workload carries, for refresh and drift reports.

    Entries are described as ``env TOPIC [app]``, ``envFrom Secret/s [app]``,
    ``volume v``, ``volumeMount /path [app]``.  ``pending`` is what an apply
    (or, without desired entries, a removal) would change.
    """

    address: str
    workload: str
    workload_exists: bool
    recorded: bool
    present: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    pending: tuple[WorkloadChange, ...] = ()
    patch_needed: bool = False

    @property
    def in_sync(self) -> bool:
        """True when applying would send nothing (entries and ownership record match)."""
        return self.workload_exists and not self.patch_needed


def observe_entries(
    workload: Mapping[str, Any], address: str, entries: MappingEntries | None
) -> MappingObservation:
    """Compare a workload with the desired entries (or, when None, with the recorded ones)."""
    _, spec = _pod_spec(workload)
    ref = _workload_ref(workload)
    records = read_records(workload)
    old = records.get(address)
    containers = {
        str(c.get("name")): c for c in spec.get("containers") or [] if isinstance(c, dict)
    }
    present: list[str] = []
    missing: list[str] = []
    changed: list[str] = []

    def check(label: str, actual: Any, wanted: Any | None) -> None:
        if actual is None:
            missing.append(label)
        elif wanted is not None and actual != wanted:
            changed.append(label)
        else:
            present.append(label)

    if entries is not None:
        result = plan_apply(workload, entries)
        targets = list(entries.containers) if entries.containers is not None else list(containers)
        for c in targets:
            cont = containers[c]
            for e in entries.env:
                check(f"env {e['name']} [{c}]", _find(cont.get("env") or [], "name", e["name"]), e)
            if entries.env_from is not None:
                have = entries.env_from in (cont.get("envFrom") or [])
                check(f"envFrom Secret/{entries.secret_name} [{c}]", True if have else None, None)
            if entries.mount is not None:
                path = entries.mount["mountPath"]
                check(
                    f"volumeMount {path} [{c}]",
                    _find(cont.get("volumeMounts") or [], "mountPath", path),
                    entries.mount,
                )
        if entries.volume is not None:
            name = entries.volume["name"]
            check(f"volume {name}", _find(spec.get("volumes") or [], "name", name), entries.volume)
    else:
        result = plan_remove(workload, address)
        if old is not None:
            for c in old.containers:
                cont = containers.get(c) or {}
                for name in old.env:
                    check(f"env {name} [{c}]", _find(cont.get("env") or [], "name", name), None)
                if old.env_from is not None:
                    have = any(
                        _env_from_matches(i, old.env_from) for i in cont.get("envFrom") or []
                    )
                    check(
                        f"envFrom Secret/{old.env_from.get('secret')} [{c}]",
                        True if have else None,
                        None,
                    )
                for path in old.mounts:
                    check(
                        f"volumeMount {path} [{c}]",
                        _find(cont.get("volumeMounts") or [], "mountPath", path),
                        None,
                    )
            if old.volume is not None:
                check(
                    f"volume {old.volume}",
                    _find(spec.get("volumes") or [], "name", old.volume),
                    None,
                )
    return MappingObservation(
        address,
        ref,
        True,
        old is not None,
        tuple(present),
        tuple(missing),
        tuple(changed),
        result.changes,
        result.changed,
    )
