"""Recreate what Service Catalog's controller leaves in a cluster and at a broker.

The objects are made the way Service Catalog made them: the OSB requests its
controller sent (PUT with ``context``, ``organization_guid`` = cluster id,
``space_guid`` = namespace UID), then the objects as it left them: spec with
``externalID``, finalizer, status (through the status subresource) with
``provisionStatus``, ``externalProperties`` and ``reconciledGeneration``, and
each binding's Secret with its encoding and the controller ownerReference.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

GROUP = "servicecatalog.k8s.io"
VERSION = "v1beta1"
API = f"{GROUP}/{VERSION}"
FINALIZER = "kubernetes-incubator/service-catalog"
CRDS = Path(__file__).with_name("crds.yaml")
PLURALS = {
    "ClusterServiceBroker": "clusterservicebrokers",
    "ClusterServiceClass": "clusterserviceclasses",
    "ClusterServicePlan": "clusterserviceplans",
    "ServiceInstance": "serviceinstances",
    "ServiceBinding": "servicebindings",
}


def install_crds(api: client.ApiClient, timeout: float = 30.0) -> None:
    """Create (or replace) the CRDs and wait until the API serves them."""
    ext = client.ApiextensionsV1Api(api)
    for crd in yaml.safe_load_all(CRDS.read_text()):
        if not crd:
            continue
        name = crd["metadata"]["name"]
        try:
            current = ext.read_custom_resource_definition(name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            ext.create_custom_resource_definition(crd)
            continue
        crd["metadata"]["resourceVersion"] = current.metadata.resource_version
        ext.replace_custom_resource_definition(name, crd)
    custom = client.CustomObjectsApi(api)
    deadline = time.monotonic() + timeout
    for plural in ("servicebindings", "serviceinstances", "clusterservicebrokers"):
        while True:
            try:
                custom.list_cluster_custom_object(GROUP, VERSION, plural)
                break
            except ApiException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def set_cluster_id(api: client.ApiClient, cluster_id: str) -> None:
    """ConfigMap default/cluster-info as Service Catalog's controller creates it."""
    core = client.CoreV1Api(api)
    body = {
        "metadata": {"name": "cluster-info", "namespace": "default"},
        "data": {"id": cluster_id},
    }
    try:
        core.create_namespaced_config_map("default", body)
    except ApiException as exc:
        if exc.status != 409:
            raise
        core.replace_namespaced_config_map("cluster-info", "default", body)


def go_checksum(params: dict[str, Any] | None) -> str:
    """Service Catalog's parameterChecksum (sha256 of Go's json.Marshal) for plain values."""
    if not params:
        return ""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _create(api: client.ApiClient, obj: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    custom = client.CustomObjectsApi(api)
    kind = obj["kind"]
    plural = PLURALS[kind]
    ns = obj["metadata"].get("namespace")
    obj["metadata"].setdefault("finalizers", [FINALIZER])
    if ns:
        created = custom.create_namespaced_custom_object(GROUP, VERSION, ns, plural, obj)
        created["status"] = {**status, "reconciledGeneration": created["metadata"]["generation"]}
        return dict(
            custom.replace_namespaced_custom_object_status(
                GROUP, VERSION, ns, plural, obj["metadata"]["name"], created
            )
        )
    created = custom.create_cluster_custom_object(GROUP, VERSION, plural, obj)
    created["status"] = {**status, "reconciledGeneration": created["metadata"]["generation"]}
    return dict(
        custom.replace_cluster_custom_object_status(
            GROUP, VERSION, plural, obj["metadata"]["name"], created
        )
    )


def _ready(reason: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "Ready",
            "status": "True",
            "reason": reason,
            "message": "done",
            "lastTransitionTime": "2021-04-01T10:00:00Z",
        }
    ]


def create_broker(api: client.ApiClient, name: str, url: str) -> dict[str, Any]:
    obj = {
        "apiVersion": API,
        "kind": "ClusterServiceBroker",
        "metadata": {"name": name},
        "spec": {"url": url, "relistBehavior": "Duration", "relistRequests": 0},
    }
    return _create(api, obj, {"conditions": _ready("FetchedCatalog")})


def create_class_and_plan(
    api: client.ApiClient, broker: str, service_id: str, class_name: str, plan_id: str, plan: str
) -> None:
    """The ClusterServiceClass/Plan objects the controller generates from the catalog."""
    _create(
        api,
        {
            "apiVersion": API,
            "kind": "ClusterServiceClass",
            "metadata": {"name": service_id, "finalizers": []},
            "spec": {
                "clusterServiceBrokerName": broker,
                "externalName": class_name,
                "externalID": service_id,
                "bindable": True,
            },
        },
        {},
    )
    _create(
        api,
        {
            "apiVersion": API,
            "kind": "ClusterServicePlan",
            "metadata": {"name": plan_id, "finalizers": []},
            "spec": {
                "clusterServiceBrokerName": broker,
                "externalName": plan,
                "externalID": plan_id,
                "clusterServiceClassRef": {"name": service_id},
            },
        },
        {},
    )


def provision(
    broker_url: str,
    instance_id: str,
    *,
    service_id: str,
    plan_id: str,
    namespace: str,
    namespace_uid: str,
    cluster_id: str,
    name: str,
    parameters: dict[str, Any] | None = None,
) -> None:
    """The provision request Service Catalog's controller sent."""
    body = {
        "service_id": service_id,
        "plan_id": plan_id,
        "organization_guid": cluster_id,
        "space_guid": namespace_uid,
        "context": {
            "platform": "kubernetes",
            "namespace": namespace,
            "clusterid": cluster_id,
            "instance_name": name,
        },
        "parameters": parameters or {},
    }
    r = httpx.put(
        f"{broker_url}/v2/service_instances/{instance_id}",
        params={"accepts_incomplete": "true"},
        json=body,
        headers={"X-Broker-API-Version": "2.14"},
    )
    assert r.status_code in (200, 201), r.text


def bind(
    broker_url: str,
    instance_id: str,
    binding_id: str,
    *,
    service_id: str,
    plan_id: str,
    namespace_uid: str,
) -> dict[str, Any]:
    """The bind request Service Catalog's controller sent; returns the credentials."""
    r = httpx.put(
        f"{broker_url}/v2/service_instances/{instance_id}/service_bindings/{binding_id}",
        json={
            "service_id": service_id,
            "plan_id": plan_id,
            "app_guid": namespace_uid,
            "bind_resource": {"app_guid": namespace_uid},
        },
        headers={"X-Broker-API-Version": "2.14"},
    )
    assert r.status_code in (200, 201), r.text
    credentials: dict[str, Any] = r.json()["credentials"]
    return credentials


def create_instance(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    instance_id: str,
    class_name: str,
    plan: str,
    plan_id: str,
    parameters: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ServiceInstance as the controller left it after a successful provision."""
    spec: dict[str, Any] = {
        "clusterServiceClassExternalName": class_name,
        "clusterServicePlanExternalName": plan,
        "externalID": instance_id,
        "clusterServiceClassRef": {"name": "ignored-by-catalogctl"},
        "clusterServicePlanRef": {"name": plan_id},
        "userInfo": {"username": "admin", "uid": "", "groups": ["system:masters"]},
        "updateRequests": 0,
    }
    if parameters:
        spec["parameters"] = parameters
    done = {
        "conditions": _ready("ProvisionedSuccessfully"),
        "asyncOpInProgress": False,
        "orphanMitigationInProgress": False,
        "provisionStatus": "Provisioned",
        "deprovisionStatus": "Required",
        "externalProperties": {
            "clusterServicePlanExternalName": plan,
            "clusterServicePlanExternalID": plan_id,
            "parameterChecksum": go_checksum(parameters),
            "parameters": parameters or {},
            "userInfo": {"username": "admin"},
        },
        "observedGeneration": 1,
    }
    obj = {
        "apiVersion": API,
        "kind": "ServiceInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    return _create(api, obj, status if status is not None else done)


def create_binding(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    instance: str,
    binding_id: str,
    secret_name: str,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    done = {
        "conditions": _ready("InjectedBindResult"),
        "asyncOpInProgress": False,
        "orphanMitigationInProgress": False,
        "unbindStatus": "Required",
        "externalProperties": {"parameterChecksum": "", "parameters": {}},
    }
    obj = {
        "apiVersion": API,
        "kind": "ServiceBinding",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "instanceRef": {"name": instance},
            "externalID": binding_id,
            "secretName": secret_name,
            "userInfo": {"username": "admin"},
        },
    }
    return _create(api, obj, status if status is not None else done)


def service_catalog_encoding(credentials: dict[str, Any]) -> dict[str, str]:
    """Secret data as Service Catalog serialised it: strings raw, the rest json.Marshal'ed."""
    out = {}
    for key, value in credentials.items():
        raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        out[key] = base64.b64encode(raw.encode()).decode()
    return out


def create_binding_secret(
    api: client.ApiClient, binding: dict[str, Any], credentials: dict[str, Any]
) -> dict[str, Any]:
    """The Secret Service Catalog wrote: Opaque, owned (controller) by its ServiceBinding."""
    meta = binding["metadata"]
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": binding["spec"]["secretName"],
            "namespace": meta["namespace"],
            "ownerReferences": [
                {
                    "apiVersion": API,
                    "kind": "ServiceBinding",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "data": service_catalog_encoding(credentials),
    }
    created = client.CoreV1Api(api).create_namespaced_secret(meta["namespace"], body)
    return dict(api.sanitize_for_serialization(created))


def get_object(api: client.ApiClient, kind: str, namespace: str | None, name: str) -> Any:
    custom = client.CustomObjectsApi(api)
    if namespace:
        return custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)
    return custom.get_cluster_custom_object(GROUP, VERSION, PLURALS[kind], name)


def delete_object(api: client.ApiClient, kind: str, namespace: str | None, name: str) -> Any:
    custom = client.CustomObjectsApi(api)
    if namespace:
        return custom.delete_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], name
        )
    return custom.delete_cluster_custom_object(GROUP, VERSION, PLURALS[kind], name)


def remove_cluster_objects(api: client.ApiClient) -> None:
    """Delete every cluster-scoped Service Catalog object (finalizers first), so the next
    test on a shared API server starts without them."""
    custom = client.CustomObjectsApi(api)
    for plural in ("clusterservicebrokers", "clusterserviceclasses", "clusterserviceplans"):
        for item in custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]:
            name = item["metadata"]["name"]
            if item["metadata"].get("finalizers"):
                custom.patch_cluster_custom_object(
                    GROUP,
                    VERSION,
                    plural,
                    name,
                    {"metadata": {"finalizers": None}},
                    _content_type="application/merge-patch+json",
                )
            try:
                custom.delete_cluster_custom_object(GROUP, VERSION, plural, name)
            except ApiException as exc:
                if exc.status != 404:
                    raise
