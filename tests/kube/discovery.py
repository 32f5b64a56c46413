"""Discovery documents (``/version``, ``/api``, ``/apis``...) generated from the live registry.

kubectl builds its REST mapping from these, so they follow the real shapes: ``/api/v1`` reports
``groupVersion: "v1"``, every resource carries kind, singularName, namespaced, verbs and
shortNames, and ``status`` subresources are listed as ``<plural>/status``. Replies are plain
``application/json`` so kubectl 1.27 falls back from aggregated discovery to these legacy documents.
"""

from __future__ import annotations

from typing import Any

from tests.kube.resources import ALL_VERBS, Registry, ResourceType

VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "28",
    "gitVersion": "v1.28.0",
    "gitCommit": "855e7c48de7388eb330da0f8d9d2394ee818fb8d",
    "gitTreeState": "clean",
    "buildDate": "2023-08-15T10:15:54Z",
    "goVersion": "go1.20.7",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry(name: str, versions: list[str]) -> dict[str, Any]:
    gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list(registry: Registry) -> dict[str, Any]:
    groups = [_group_entry(g, vs) for g, vs in registry.group_versions().items() if g]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict[str, Any] | None:
    versions = registry.group_versions().get(group)
    if not group or not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group, versions)}


def _resource_entry(rt: ResourceType) -> dict[str, Any]:
    verbs = [v for v in ALL_VERBS if not (rt.plural == "namespaces" and v == "deletecollection")]
    entry: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular_name,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": verbs,
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    return entry


def api_resource_list(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in sorted(types, key=lambda t: t.plural):
        resources.append(_resource_entry(rt))
        if rt.scale_subresource:
            resources.append({"name": f"{rt.plural}/scale", "singularName": "",
                              "namespaced": rt.namespaced, "group": "autoscaling",
                              "version": "v1", "kind": "Scale",
                              "verbs": ["get", "patch", "update"]})
        if rt.status_subresource:
            resources.append({"name": f"{rt.plural}/status", "singularName": "",
                              "namespaced": rt.namespaced, "kind": rt.kind,
                              "verbs": ["get", "patch", "update"]})
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }
