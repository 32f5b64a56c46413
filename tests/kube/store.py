"""Object storage with one global resourceVersion, optimistic concurrency and a watch event log.

Everything happens under one lock (``Store.cond``), which is also the condition variable that wakes
watchers. Stored objects are never mutated in place: every write stores a fresh dict, so the event
log and readers can hold references without copying.
"""

from __future__ import annotations

import copy
import secrets as _random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tests.kube import semantics, workloads
from tests.kube.errors import (
    ApiError,
    FieldError,
    GoRaw,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
)
from tests.kube.resources import (
    SERVICE_CATALOG_GROUP,
    SERVICE_CATALOG_TYPES,
    Registry,
    ResourceType,
    custom_type,
)

Obj = dict[str, Any]
Matcher = Callable[[Obj], bool]

NS_MISMATCH = (
    "the namespace of the provided object does not match the namespace sent on the request"
)
PROTECTED_NAMESPACES = ("default", "kube-system", "kube-public")
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_META_ORDER = ("name", "generateName", "namespace", "uid", "resourceVersion", "generation",
               "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
               "annotations", "ownerReferences", "finalizers", "managedFields")


def now() -> str:
    """RFC 3339 with second precision and ``Z``, as metav1.Time serialises."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    """One entry of the watch log. ``old`` lets watchers with selectors see objects leave."""

    rv: int
    key: tuple[str, str]
    namespace: str
    type: str
    obj: Obj
    old: Obj | None


@dataclass(frozen=True)
class Options:
    """Per-request write options taken from the query string."""

    dry_run: bool = False
    manager: str = ""
    subresource: str = ""


def _ordered(rt: ResourceType, obj: Obj) -> Obj:
    """kind, apiVersion, metadata first (in ObjectMeta field order), the rest as given."""
    meta = obj.get("metadata") or {}
    ordered_meta = {k: meta[k] for k in _META_ORDER if k in meta}
    ordered_meta.update({k: v for k, v in meta.items() if k not in ordered_meta})
    out: Obj = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": ordered_meta}
    out.update({k: v for k, v in obj.items() if k not in out})
    return out


def _spec_part(rt: ResourceType, obj: Obj) -> Any:
    """What a generation bump looks at: ``spec``, or for custom resources everything but
    metadata (and status when it is a subresource)."""
    if not rt.custom:
        return obj.get("spec")
    skip = {"metadata", "status"} if rt.status_subresource else {"metadata"}
    return {k: v for k, v in obj.items() if k not in skip}


def _comparable(obj: Obj) -> Obj:
    meta = {k: v for k, v in obj.get("metadata", {}).items()
            if k not in ("managedFields", "resourceVersion")}
    return {**obj, "metadata": meta}


class Store:
    """The cluster state. All public methods take the lock; watchers wait on ``cond``."""

    def __init__(self, event_log_size: int = 10_000) -> None:
        self.cond = threading.Condition(threading.RLock())
        self.registry = Registry.with_builtins()
        self.rv = 0
        self.objects: dict[tuple[str, str], dict[tuple[str, str], Obj]] = {}
        self.events: deque[Event] = deque()
        self.event_log_size = event_log_size
        self.compacted_rv = 0
        self.closed = False
        self._bootstrap()

    # --- bootstrap -------------------------------------------------------------------------------

    def _bootstrap(self) -> None:
        ns_type = self.resource("", "v1", "namespaces")
        for name in PROTECTED_NAMESPACES:
            self.create(ns_type, "", {"metadata": {"name": name}},
                        Options(manager="kube-apiserver"))
        crd_type = self.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        for plural, kind, namespaced in SERVICE_CATALOG_TYPES:
            self.create(crd_type, "", service_catalog_crd(plural, kind, namespaced),
                        Options(manager="kube-apiserver"))

    def resource(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.registry.get(group, version, plural)
        if rt is None:
            raise KeyError((group, version, plural))
        return rt

    # --- reads -----------------------------------------------------------------------------------

    def get(self, rt: ResourceType, ns: str, name: str) -> Obj:
        with self.cond:
            obj = self.objects.get(rt.key, {}).get((ns, name))
            if obj is None:
                raise not_found(rt.plural, rt.group, name)
            return obj

    def list_objects(self, rt: ResourceType, ns: str | None,
                     match: Matcher) -> tuple[list[Obj], int]:
        """Matching objects sorted by namespace/name, and the RV the list is consistent at."""
        with self.cond:
            bucket = self.objects.get(rt.key, {})
            keys = sorted(k for k in bucket if ns is None or k[0] == ns)
            return [bucket[k] for k in keys if match(bucket[k])], self.rv

    # --- writes ----------------------------------------------------------------------------------

    def create(self, rt: ResourceType, ns: str, body: Any, opts: Options,
               operation: str = "Update") -> Obj:
        """POST semantics: namespace admission, name generation, validation, AlreadyExists.
        ``operation`` is what managedFields records ("Apply" for a server-side apply)."""
        if not isinstance(body, dict):
            raise bad_request(f"Object '{rt.kind}' is not a JSON object")
        with self.cond:
            obj = self._check_namespace(rt, ns, body)
            meta = obj["metadata"]
            if not meta.get("name") and meta.get("generateName"):
                meta["name"] = meta["generateName"] + "".join(
                    _random.choice(_GENERATE_ALPHABET) for _ in range(5))
            errs = self._prepare_create(rt, obj)
            semantics.fail(rt, meta.get("name", ""), errs + self._validate(rt, obj, None))
            name = meta["name"]
            if (ns, name) in self.objects.get(rt.key, {}):
                raise already_exists(rt.plural, rt.group, name)
            _touch_managed(meta, opts, operation, rt)
            if opts.dry_run:
                return _ordered(rt, obj)
            return self._commit(rt, ns, name, obj, None)

    def update(self, rt: ResourceType, ns: str, name: str, body: Any, opts: Options) -> tuple[
            Obj, bool]:
        """PUT semantics. Returns (object, created) — Leases may be created by PUT."""
        if not isinstance(body, dict):
            raise bad_request(f"Object '{rt.kind}' is not a JSON object")
        body_name = (body.get("metadata") or {}).get("name", "")
        if body_name != name:
            raise bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})")
        with self.cond:
            old = self.objects.get(rt.key, {}).get((ns, name))
            if old is None:
                if rt.allow_create_on_update and not opts.subresource:
                    return self.create(rt, ns, body, opts), True
                raise not_found(rt.plural, rt.group, name)
            new = self._check_namespace(rt, ns, body, admit=False)
            self._check_version(rt, old, new)
            return self._update(rt, old, new, opts, "Update"), False

    def patch(self, rt: ResourceType, ns: str, name: str, apply: Callable[[Obj], Any],
              opts: Options, create_body: Any = None) -> tuple[Obj, bool]:
        """PATCH semantics: ``apply`` maps the current object to the patched one. A server-side
        apply (``create_body`` given) creates a missing object."""
        with self.cond:
            old = self.objects.get(rt.key, {}).get((ns, name))
            if old is None:
                if create_body is None or opts.subresource:
                    raise not_found(rt.plural, rt.group, name)
                body = copy.deepcopy(create_body)
                if not (body.get("metadata") or {}).get("name"):
                    body.setdefault("metadata", {})["name"] = name
                return self.create(rt, ns, body, opts, "Apply"), True
            patched = apply(copy.deepcopy(old))
            if not isinstance(patched, dict):
                raise bad_request("the patched object is not a JSON object")
            meta = patched.setdefault("metadata", {})
            if meta.get("name") != name:
                raise bad_request(f"the name of the object ({meta.get('name', '')}) does not match "
                                  f"the name on the URL ({name})")
            new = self._check_namespace(rt, ns, patched, admit=False)
            # A patch that names a resourceVersion is a precondition; one that drops it
            # (e.g. a merge patch setting it to null) is unconditional.
            given = meta.get("resourceVersion")
            if given and given != old["metadata"]["resourceVersion"]:
                raise conflict(rt.plural, rt.group, name)
            operation = "Apply" if create_body is not None else "Update"
            return self._update(rt, old, new, opts, operation), False

    def delete(self, rt: ResourceType, ns: str, name: str, preconditions: dict[str, Any],
               dry_run: bool) -> tuple[Obj, bool]:
        """DELETE semantics. Returns (object, deleted_now); with finalizers present the object
        only gains a deletionTimestamp."""
        with self.cond:
            old = self.objects.get(rt.key, {}).get((ns, name))
            if old is None:
                raise not_found(rt.plural, rt.group, name)
            if rt.plural == "namespaces" and name in PROTECTED_NAMESPACES:
                raise forbidden("namespaces", "", name, "this namespace may not be deleted")
            self._check_preconditions(rt, old, preconditions)
            meta = old["metadata"]
            if dry_run:
                return old, not meta.get("finalizers")
            if meta.get("finalizers"):
                if meta.get("deletionTimestamp"):
                    return old, False
                obj = copy.deepcopy(old)
                obj["metadata"]["deletionTimestamp"] = now()
                obj["metadata"]["deletionGracePeriodSeconds"] = 0
                if rt.tracks_generation:
                    obj["metadata"]["generation"] = meta.get("generation", 0) + 1
                return self._commit(rt, ns, name, obj, old), False
            return self._remove(rt, ns, name), True

    def delete_collection(self, rt: ResourceType, ns: str | None, match: Matcher,
                          dry_run: bool) -> tuple[list[Obj], int]:
        with self.cond:
            items, _ = self.list_objects(rt, ns, match)
            out = [self.delete(rt, o["metadata"].get("namespace", ""), o["metadata"]["name"], {},
                               dry_run)[0] for o in items]
            return out, self.rv

    def compact(self) -> int:
        """Forget every event up to now, like an etcd compaction; older watch RVs then get 410."""
        with self.cond:
            self.events.clear()
            self.compacted_rv = self.rv
            return self.rv

    def close(self) -> None:
        """Wake and end every watcher (server shutdown)."""
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    # --- watch -----------------------------------------------------------------------------------

    def events_after(self, rv: int) -> list[Event]:
        """Events with RV greater than ``rv``; callers hold the lock."""
        if not self.events or self.events[-1].rv <= rv:
            return []
        return [e for e in self.events if e.rv > rv]

    # --- internals -------------------------------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, ns: str, body: Obj, admit: bool = True) -> Obj:
        """Copy the body, pin metadata.namespace to the URL's, and run namespace admission."""
        obj = dict(body)
        meta = dict(obj.get("metadata") or {})
        obj["metadata"] = meta
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise bad_request(NS_MISMATCH)
            meta["namespace"] = ns
            if admit and ("", ns) not in self.objects.get(("", "namespaces"), {}):
                raise not_found("namespaces", "", ns)
        else:
            meta.pop("namespace", None)
        return obj

    def _prepare_create(self, rt: ResourceType, obj: Obj) -> list[FieldError]:
        """System metadata, initial status and create-only generation (Job selectors)."""
        meta = obj["metadata"]
        for system in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                       "managedFields", "selfLink"):
            meta.pop(system, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        if rt.tracks_generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.status_subresource:
            obj.pop("status", None)
            if rt.initial_status is not None:
                obj["status"] = dict(rt.initial_status)
        self._convert(rt, obj)
        if rt.plural == "namespaces":
            semantics.prepare_namespace(obj)
        if rt.plural == "customresourcedefinitions" and not semantics.validate_crd(obj):
            obj["status"] = semantics.crd_status(obj, meta["creationTimestamp"])
        if rt.key == ("batch", "jobs") and not rt.custom and meta.get("name"):
            return workloads.generate_job_selector(obj)
        return []

    def _convert(self, rt: ResourceType, obj: Obj) -> None:
        """Write-time conversion (can fail with 400 before validation) and defaulting."""
        if rt.key == ("", "secrets"):
            semantics.fold_secret(obj)
        elif workloads.is_workload(rt):
            workloads.apply_defaults(rt, obj)

    def _validate(self, rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs = semantics.validate_name(rt, obj["metadata"]) if old is None else []
        errs += semantics.validate_object_meta(obj["metadata"])
        if rt.key == ("", "secrets"):
            errs += semantics.validate_secret(obj, old)
        elif rt.key == ("", "configmaps"):
            errs += semantics.validate_configmap(obj, old)
        elif rt.plural == "customresourcedefinitions":
            errs += semantics.validate_crd(obj)
        elif workloads.is_workload(rt):
            errs += workloads.validate(rt, obj, old)
        return errs

    def _check_version(self, rt: ResourceType, old: Obj, new: Obj) -> None:
        """Optimistic concurrency for PUT: empty RV is unconditional only where allowed."""
        name = old["metadata"]["name"]
        given = new["metadata"].get("resourceVersion") or ""
        if not given:
            if rt.allow_unconditional_update:
                return
            err = FieldError("metadata.resourceVersion", "Invalid",
                             "must be specified for an update", GoRaw("0x0"), True)
            raise invalid(rt.plural, rt.group, name, [err]) from None
        if given != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name)

    def _check_preconditions(self, rt: ResourceType, old: Obj, pre: dict[str, Any]) -> None:
        meta = old["metadata"]
        key = f"/registry/{rt.group + '/' if rt.custom else ''}{rt.plural}/"
        key += f"{meta['namespace']}/{meta['name']}" if rt.namespaced else meta["name"]
        for field, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            want = pre.get(field)
            if want and want != meta.get(field):
                why = (f"StorageError: invalid object, Code: 4, Key: {key}, ResourceVersion: 0, "
                       f"AdditionalErrorMsg: Precondition failed: {label} in precondition: {want}, "
                       f"{label} in object meta: {meta.get(field)}")
                raise conflict(rt.plural, rt.group, meta["name"], why)

    def _update(self, rt: ResourceType, old: Obj, new: Obj, opts: Options, operation: str) -> Obj:
        """Shared tail of PUT and PATCH: subresource separation, system fields, validation,
        generation, no-op detection, commit and finalizer completion."""
        old_meta = old["metadata"]
        meta = new["metadata"]
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise invalid(rt.kind, rt.group, old_meta["name"], [FieldError(
                "metadata.uid", "Invalid", "field is immutable", meta["uid"], True)])
        if opts.subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(old)
            new["metadata"]["managedFields"] = meta.get("managedFields",
                                                        old_meta.get("managedFields"))
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
            meta = new["metadata"]
        elif rt.status_subresource:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        for system in ("uid", "creationTimestamp", "deletionTimestamp",
                       "deletionGracePeriodSeconds", "generation"):
            if system in old_meta:
                meta[system] = old_meta[system]
            else:
                meta.pop(system, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        self._convert(rt, new)
        if rt.plural == "namespaces" and not opts.subresource:
            semantics.prepare_namespace(new)
            new["status"] = old.get("status")
        if rt.plural == "customresourcedefinitions" and not opts.subresource:
            new["status"] = old.get("status")
        semantics.fail(rt, old_meta["name"], self._validate(rt, new, old))
        if rt.tracks_generation and _spec_part(rt, new) != _spec_part(rt, old):
            meta["generation"] = old_meta.get("generation", 0) + 1
        new = _ordered(rt, new)
        if _comparable(new) == _comparable(old):
            return old
        _touch_managed(new["metadata"], opts, operation, rt)
        if opts.dry_run:
            return new
        ns, name = old_meta.get("namespace", ""), old_meta["name"]
        if old_meta.get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._commit(rt, ns, name, new, old)
            return self._remove(rt, ns, name)
        return self._commit(rt, ns, name, new, old)

    def _commit(self, rt: ResourceType, ns: str, name: str, obj: Obj, old: Obj | None) -> Obj:
        """Store ``obj`` at a new resourceVersion and log the event."""
        self.rv += 1
        obj = _ordered(rt, obj)
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects.setdefault(rt.key, {})[(ns, name)] = obj
        self._log(rt, ns, "ADDED" if old is None else "MODIFIED", obj, old)
        if rt.plural == "customresourcedefinitions":
            self._register_crd(obj)
        return obj

    def _remove(self, rt: ResourceType, ns: str, name: str) -> Obj:
        """Drop an object; the DELETED event carries it at a fresh resourceVersion."""
        old = self.objects[rt.key].pop((ns, name))
        self.rv += 1
        final = copy.deepcopy(old)
        final["metadata"]["resourceVersion"] = str(self.rv)
        if rt.plural == "namespaces":
            final["metadata"].setdefault("deletionTimestamp", now())
            final["status"] = {"phase": "Terminating"}
        self._log(rt, ns, "DELETED", final, old)
        if rt.plural == "namespaces":
            self._purge(lambda key, obj_ns: obj_ns == name)
        if rt.plural == "customresourcedefinitions":
            spec = old["spec"]
            group, plural = spec["group"], spec["names"]["plural"]
            self._purge(lambda key, obj_ns: key == (group, plural))
            self.registry.remove_crd(group, plural)
        return final

    def _purge(self, doomed: Callable[[tuple[str, str], str], bool]) -> None:
        """Delete, with events, every stored object selected by (type key, namespace)."""
        for key, bucket in list(self.objects.items()):
            types = self.registry.by_key(key)
            for ns, name in [k for k in bucket if doomed(key, k[0])]:
                if types:
                    self._remove(types[0], ns, name)

    def _log(self, rt: ResourceType, ns: str, kind: str, obj: Obj, old: Obj | None) -> None:
        self.events.append(Event(self.rv, rt.key, ns, kind, obj, old))
        while len(self.events) > self.event_log_size:
            self.compacted_rv = self.events.popleft().rv
        self.cond.notify_all()

    def _register_crd(self, crd: Obj) -> None:
        spec = crd["spec"]
        names = spec["names"]
        self.registry.remove_crd(spec["group"], names["plural"])
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            self.registry.add(custom_type(
                spec["group"], version["name"], names["plural"], names["kind"],
                spec["scope"] == "Namespaced", names.get("singular", ""),
                tuple(names.get("shortNames", ())), tuple(names.get("categories", ())),
                "status" in (version.get("subresources") or {}),
            ))


def _touch_managed(meta: Obj, opts: Options, operation: str, rt: ResourceType) -> None:
    """Record the writer in managedFields, one entry per (manager, operation, subresource)."""
    manager = opts.manager or "unknown"
    entries = [e for e in meta.get("managedFields") or []
               if not (e.get("manager") == manager and e.get("operation") == operation
                       and e.get("subresource", "") == opts.subresource)]
    entry: Obj = {"manager": manager, "operation": operation, "apiVersion": rt.api_version,
                  "time": now(), "fieldsType": "FieldsV1", "fieldsV1": {}}
    if opts.subresource:
        entry["subresource"] = opts.subresource
    meta["managedFields"] = [*entries, entry]


def service_catalog_crd(plural: str, kind: str, namespaced: bool) -> Obj:
    """The CRD object that serves one servicecatalog.k8s.io/v1beta1 type."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{SERVICE_CATALOG_GROUP}"},
        "spec": {
            "group": SERVICE_CATALOG_GROUP,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind,
                      "listKind": kind + "List", "categories": ["servicecatalog"]},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [{
                "name": "v1beta1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object",
                                               "x-kubernetes-preserve-unknown-fields": True}},
            }],
        },
    }


__all__ = ["ApiError", "Event", "Options", "Store", "now", "service_catalog_crd"]
