"""The registry of served resource types: built-ins plus CRD-registered custom resources.

Each entry carries what routing, discovery and storage semantics need: scope, the Kind, whether a
``status`` subresource exists, and the apiserver's per-type update policies (a Lease may be
created by PUT; a custom resource update must carry a resourceVersion).
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One served ``group/version/plural``."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    status_subresource: bool = False
    # The spec-bearing kinds (workloads, custom resources) track metadata.generation.
    tracks_generation: bool = False
    custom: bool = False
    allow_create_on_update: bool = False
    allow_unconditional_update: bool = True
    # Kinds whose DELETE answers with the deleted object rather than a Status.
    returns_deleted_object: bool = False
    # Fields besides metadata.name/namespace that the fieldSelector conversion accepts; None means
    # the type uses the default conversion (and its different error text).
    field_labels: tuple[str, ...] | None = None
    # What the status of a freshly created object looks like (non-omitempty Go fields are zero).
    initial_status: tuple[tuple[str, int], ...] | None = None
    # Serves autoscaling/v1 Scale at <name>/scale (kubectl scale).
    scale_subresource: bool = False

    def has_subresource(self, sub: str) -> bool:
        return (sub == "status" and self.status_subresource) or (
            sub == "scale" and self.scale_subresource)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """Storage identity: version-independent, like etcd's /registry/<group>/<plural>."""
        return (self.group, self.plural)

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()


def _workload(plural: str, kind: str, group: str, short: tuple[str, ...],
              initial: tuple[tuple[str, int], ...] = ()) -> ResourceType:
    return ResourceType(
        group, "v1", plural, kind, short_names=short, categories=("all",),
        status_subresource=True, tracks_generation=True, initial_status=initial,
        scale_subresource=plural in ("deployments", "statefulsets"),
    )


BUILTINS: list[ResourceType] = [
    ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",),
                 status_subresource=True, returns_deleted_object=True,
                 field_labels=("status.phase",)),
    ResourceType("", "v1", "secrets", "Secret", field_labels=("type",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _workload("deployments", "Deployment", "apps", ("deploy",)),
    _workload("statefulsets", "StatefulSet", "apps", ("sts",),
              (("replicas", 0), ("availableReplicas", 0))),
    _workload("daemonsets", "DaemonSet", "apps", ("ds",),
              (("currentNumberScheduled", 0), ("numberMisscheduled", 0),
               ("desiredNumberScheduled", 0), ("numberReady", 0))),
    _workload("jobs", "Job", "batch", ()),
    _workload("cronjobs", "CronJob", "batch", ("cj",)),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", allow_create_on_update=True,
                 allow_unconditional_update=False),
    ResourceType("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                 "CustomResourceDefinition", namespaced=False, short_names=("crd", "crds"),
                 categories=("api-extensions",), status_subresource=True,
                 allow_unconditional_update=False, returns_deleted_object=True),
]

SERVICE_CATALOG_GROUP = "servicecatalog.k8s.io"

# (plural, kind, namespaced) of the Open Service Broker API types catalogctl drives.
SERVICE_CATALOG_TYPES: list[tuple[str, str, bool]] = [
    ("serviceinstances", "ServiceInstance", True),
    ("servicebindings", "ServiceBinding", True),
    ("clusterservicebrokers", "ClusterServiceBroker", False),
    ("clusterserviceclasses", "ClusterServiceClass", False),
    ("clusterserviceplans", "ClusterServicePlan", False),
]


def custom_type(group: str, version: str, plural: str, kind: str, namespaced: bool,
                singular: str = "", short_names: tuple[str, ...] = (),
                categories: tuple[str, ...] = (), status: bool = False) -> ResourceType:
    """A CRD-served type, with the custom-resource strategy's policies."""
    return ResourceType(
        group, version, plural, kind, namespaced=namespaced, singular=singular,
        short_names=short_names, categories=categories, status_subresource=status,
        tracks_generation=True, custom=True, allow_unconditional_update=False,
        returns_deleted_object=True,
    )


@dataclass
class Registry:
    """Lookup tables for served types, keyed by ``(group, version, plural)``."""

    types: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)

    @classmethod
    def with_builtins(cls) -> Registry:
        reg = cls()
        for rt in BUILTINS:
            reg.add(rt)
        return reg

    def add(self, rt: ResourceType) -> None:
        self.types[(rt.group, rt.version, rt.plural)] = rt

    def remove_crd(self, group: str, plural: str) -> None:
        for key in [k for k in self.types if k[0] == group and k[2] == plural]:
            del self.types[key]

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.types.get((group, version, plural))

    def by_key(self, key: tuple[str, str]) -> list[ResourceType]:
        return [rt for rt in self.types.values() if rt.key == key]

    def group_versions(self) -> dict[str, list[str]]:
        """Served versions per group, in registration order (first is preferred)."""
        out: dict[str, list[str]] = {}
        for rt in self.types.values():
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.types.values() if rt.group == group and rt.version == version]
