"""Read and release what Kubernetes Service Catalog left in a cluster.

``catalogctl migrate service-catalog`` reads Service Catalog's
``servicecatalog.k8s.io/v1beta1`` objects through the official client's
``CustomObjectsApi`` (they are custom resources since Service Catalog v0.3),
the cluster id its controller kept in ConfigMap ``default/cluster-info``, and
the binding Secrets it wrote.  The only writes are the two a takeover needs:
a binding Secret adopted in place (ownership marks added, the ServiceBinding's
controller ownerReference removed, data untouched) and, with ``--release``,
Service Catalog's finalizer removed from a migrated object.  Both carry the
``resourceVersion`` they were computed from, so a concurrent change is a
conflict, never overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from catalogctl.providers.kubernetes.kube import FIELD_MANAGER, KubeApiError, KubeCluster
from catalogctl.providers.kubernetes.secrets import ownership_metadata
from catalogctl.providers.kubernetes.statemark import StateMark

logger = logging.getLogger(__name__)

GROUP: Final = "servicecatalog.k8s.io"
VERSION: Final = "v1beta1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
#: The finalizer Service Catalog's controller puts on brokers, instances and bindings.
FINALIZER: Final = "kubernetes-incubator/service-catalog"
#: Where Service Catalog's controller keeps the cluster id it sends to brokers.
CLUSTER_INFO: Final = ("default", "cluster-info", "id")

#: kind -> (plural, namespaced)
KINDS: Final[Mapping[str, tuple[str, bool]]] = {
    "ClusterServiceBroker": ("clusterservicebrokers", False),
    "ClusterServiceClass": ("clusterserviceclasses", False),
    "ClusterServicePlan": ("clusterserviceplans", False),
    "ServiceBroker": ("servicebrokers", True),
    "ServiceClass": ("serviceclasses", True),
    "ServicePlan": ("serviceplans", True),
    "ServiceInstance": ("serviceinstances", True),
    "ServiceBinding": ("servicebindings", True),
}

MERGE_PATCH: Final = "application/merge-patch+json"


def controller_reference(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference marked ``controller: true``, if any."""
    for ref in metadata.get("ownerReferences") or ():
        if isinstance(ref, Mapping) and ref.get("controller"):
            return ref
    return None


def is_service_catalog_binding(ref: Mapping[str, Any] | None) -> bool:
    """Whether an ownerReference points at a Service Catalog ServiceBinding."""
    return (
        ref is not None
        and ref.get("kind") == "ServiceBinding"
        and str(ref.get("apiVersion", "")).startswith(GROUP + "/")
    )


def adopted_secret(
    secret: Mapping[str, Any], owner: str, binding_uid: str, mark: StateMark
) -> dict[str, Any]:
    """The Secret as catalogctl takes it over: the same object and data, catalogctl's
    ownership label and annotations (binding and state) added, the ServiceBinding's
    ownerReference removed (so deleting Service Catalog's objects no longer
    garbage-collects it)."""
    body = dict(secret)
    meta = dict(secret.get("metadata") or {})
    labels, annotations = ownership_metadata(owner, mark)
    meta["labels"] = {**(meta.get("labels") or {}), **labels}
    meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
    refs = [r for r in meta.get("ownerReferences") or () if r.get("uid") != binding_uid]
    if refs:
        meta["ownerReferences"] = refs
    else:
        meta.pop("ownerReferences", None)
    meta.pop("managedFields", None)
    body["metadata"] = meta
    return body


class ServiceCatalogCluster(KubeCluster):
    """A :class:`KubeCluster` that also reads Service Catalog's objects."""

    def _custom(self) -> Any:
        return self._api("CustomObjectsApi")

    def list_objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of ``kind`` (in ``namespace``, or all namespaces when None).

        A kind whose CustomResourceDefinition is not installed has no objects.
        """
        plural, namespaced = KINDS[kind]
        api = self._custom()
        what = f"list {plural}.{GROUP}"
        try:
            if namespaced and namespace is not None:
                found = self._call(
                    what, api.list_namespaced_custom_object, GROUP, VERSION, namespace, plural
                )
            else:
                found = self._call(what, api.list_cluster_custom_object, GROUP, VERSION, plural)
        except KubeApiError as e:
            if e.status == 404:
                return []
            raise
        items = found.get("items") or []
        return [
            {"apiVersion": API_VERSION, "kind": kind, **item}
            for item in items
            if isinstance(item, dict)
        ]

    def cluster_id(self) -> str | None:
        """The id Service Catalog sent to brokers (``default/cluster-info``), if recorded."""
        namespace, name, key = CLUSTER_INFO
        core = self._api("CoreV1Api")
        found = self._get(
            f"read ConfigMap {namespace}/{name}", core.read_namespaced_config_map, name, namespace
        )
        value = ((found or {}).get("data") or {}).get(key)
        return value if isinstance(value, str) and value else None

    def secret_object(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The whole Secret object (data base64 as in the API), or None."""
        return self._read_secret_object(namespace, name)

    def replace_secret(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT a Secret read before; its ``resourceVersion`` makes a concurrent edit a 409."""
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace")), str(meta.get("name"))
        core = self._api("CoreV1Api")
        return self._call(
            f"update Secret {namespace}/{name}",
            core.replace_namespaced_secret,
            name,
            namespace,
            dict(body),
            field_manager=FIELD_MANAGER,
        )

    def set_finalizers(self, obj: Mapping[str, Any], finalizers: list[str]) -> dict[str, Any]:
        """Merge-patch an object's finalizers, conditional on the resourceVersion it was read at."""
        kind = str(obj.get("kind"))
        plural, namespaced = KINDS[kind]
        meta = obj.get("metadata") or {}
        name = str(meta.get("name"))
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}
        }
        api = self._custom()
        what = f"remove finalizer from {kind} {name}"
        if namespaced:
            return self._call(
                what,
                api.patch_namespaced_custom_object,
                GROUP,
                VERSION,
                str(meta.get("namespace")),
                plural,
                name,
                patch,
                _content_type=MERGE_PATCH,
            )
        return self._call(
            what,
            api.patch_cluster_custom_object,
            GROUP,
            VERSION,
            plural,
            name,
            patch,
            _content_type=MERGE_PATCH,
        )
