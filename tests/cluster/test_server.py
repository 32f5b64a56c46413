"""The test cluster serves what catalogctl's state backend and Service Catalog migration need:
Leases with optimistic concurrency, and CRDs that become Established and serve their objects."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.cluster import KubeApiServer

GROUP = "fixtures.catalogctl.io"


def test_version_and_kubectl(kube_apiserver: KubeApiServer) -> None:
    info = client.VersionApi(kube_apiserver.api_client()).get_code()
    assert info.git_version == kube_apiserver.version == "v1.20.2"
    out = kube_apiserver.kubectl("get", "namespace", "kube-system", "-o", "name").stdout
    assert out.strip() == "namespace/kube-system"


def test_lease_update_with_a_stale_resource_version_is_a_conflict(
    kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    leases = client.CoordinationV1Api(kube_apiserver.api_client())
    body = {"metadata": {"name": "state-lock"}, "spec": {"holderIdentity": "a"}}
    created = leases.create_namespaced_lease(kube_namespace, body)
    stale = created.metadata.resource_version
    created.spec.holder_identity = "b"
    leases.replace_namespaced_lease("state-lock", kube_namespace, created)
    body["metadata"]["resourceVersion"] = stale
    body["spec"]["holderIdentity"] = "c"
    with pytest.raises(client.ApiException) as conflict:
        leases.replace_namespaced_lease("state-lock", kube_namespace, body)
    assert conflict.value.status == 409
    assert leases.read_namespaced_lease("state-lock", kube_namespace).spec.holder_identity == "b"


def _crd(plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": plural[:-1], "kind": "Widget"},
            "versions": [{
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        "status": {"type": "object",
                                   "x-kubernetes-preserve-unknown-fields": True},
                    },
                }},
            }],
        },
    }


def test_crd_is_established_and_serves_objects_with_status(
    kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    api = kube_apiserver.api_client()
    client.ApiextensionsV1Api(api).create_custom_resource_definition(_crd("widgets"))
    deadline = time.monotonic() + 30
    while True:  # the server's own CRD controller sets Established within moments
        crd = client.ApiextensionsV1Api(api).read_custom_resource_definition(
            f"widgets.{GROUP}", _preload_content=False)
        conditions = json.loads(crd.data).get("status", {}).get("conditions") or []
        if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
            break
        assert time.monotonic() < deadline, conditions
        time.sleep(0.1)
    custom = client.CustomObjectsApi(api)
    widget = {"apiVersion": f"{GROUP}/v1", "kind": "Widget", "metadata": {"name": "w"},
              "spec": {"size": 3}, "status": {"ignored": True}}
    created = custom.create_namespaced_custom_object(GROUP, "v1", kube_namespace, "widgets",
                                                     widget)
    assert created["spec"] == {"size": 3} and "status" not in created
    custom.patch_namespaced_custom_object_status(
        GROUP, "v1", kube_namespace, "widgets", "w", {"status": {"ready": True}})
    got = custom.get_namespaced_custom_object(GROUP, "v1", kube_namespace, "widgets", "w")
    assert got["status"] == {"ready": True}
