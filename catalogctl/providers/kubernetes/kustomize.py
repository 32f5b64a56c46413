"""PodMappings as kustomize strategic-merge patches, for workloads owned by Argo CD or Flux.

When a GitOps controller owns a Deployment, patching it in the cluster starts
a tug of war: the controller reverts catalogctl's edit on its next sync.  The
fix is to put the mapping into the manifests the controller applies.  This
module renders, offline and purely, one patch per workload (all mappings that
target it merged) plus a ``kustomization.yaml`` that lists them.

Offline means the workload's current content is unknown, which has two
consequences the docs spell out: ``target.containers`` must be listed (there
is no "all containers" to expand), and ``envFrom``, which has no merge key,
replaces the container's whole ``envFrom`` list when the patch is applied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from catalogctl.errors import InputError
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.mappings import (
    API_VERSIONS,
    POD_SPEC_PATHS,
    MappingEntries,
    mapping_entries,
)

__all__ = ["RenderedPatch", "kustomization", "render_patches"]


@dataclass(frozen=True)
class RenderedPatch:
    """One patch file: ``filename`` and the patch object (``apiVersion/kind/metadata`` + spec)."""

    filename: str
    kind: str
    namespace: str
    name: str
    body: dict[str, Any]
    replaces_env_from: bool


def _container_entry(containers: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for c in containers:
        if c["name"] == name:
            return c
    entry: dict[str, Any] = {"name": name}
    containers.append(entry)
    return entry


def _add_unique(
    items: list[dict[str, Any]],
    item: dict[str, Any],
    key: str,
    what: str,
    address: str,
    owners: dict[tuple[str, str], str],
    scope: str,
) -> None:
    owner_key = (scope, str(item[key]))
    if owner_key in owners and owners[owner_key] != address:
        raise InputError(
            f"{address}: {what} {item[key]} is also mapped by {owners[owner_key]} into the "
            f"same workload"
        )
    owners[owner_key] = address
    if item not in items:
        items.append(item)


def render_patches(mappings: Iterable[tuple[str, PodMapping, str]]) -> list[RenderedPatch]:
    """Merge ``(address, mapping, secret_name)`` triples into one patch per target workload.

    Raises InputError for a mapping without ``target.containers`` and for two
    mappings that claim the same env name, mount path or volume in a workload.
    """
    grouped: dict[tuple[str, str, str], list[MappingEntries]] = {}
    for address, mapping, secret_name in mappings:
        target = mapping.spec.target
        if not target.containers:
            raise InputError(
                f"{address}: spec.target.containers must list the containers to render a patch "
                f"(the workload's containers are unknown offline)"
            )
        namespace = mapping.metadata.namespace or "default"
        entries = mapping_entries(mapping, secret_name, address)
        grouped.setdefault((target.kind, namespace, target.name), []).append(entries)

    out: list[RenderedPatch] = []
    for (kind, namespace, name), all_entries in sorted(grouped.items()):
        containers: list[dict[str, Any]] = []
        volumes: list[dict[str, Any]] = []
        owners: dict[tuple[str, str], str] = {}
        env_from = False
        for entries in all_entries:
            assert entries.containers is not None
            for cname in entries.containers:
                cont = _container_entry(containers, cname)
                for env in entries.env:
                    _add_unique(
                        cont.setdefault("env", []),
                        env,
                        "name",
                        "env",
                        entries.address,
                        owners,
                        f"{cname}/env",
                    )
                if entries.env_from is not None:
                    env_from = True
                    cont.setdefault("envFrom", [])
                    if entries.env_from not in cont["envFrom"]:
                        cont["envFrom"].append(entries.env_from)
                if entries.mount is not None:
                    _add_unique(
                        cont.setdefault("volumeMounts", []),
                        entries.mount,
                        "mountPath",
                        "mountPath",
                        entries.address,
                        owners,
                        f"{cname}/mount",
                    )
            if entries.volume is not None:
                _add_unique(
                    volumes, entries.volume, "name", "volume", entries.address, owners, "volume"
                )
        pod: dict[str, Any] = {"containers": containers}
        if volumes:
            pod["volumes"] = volumes
        body: dict[str, Any] = pod
        for key in reversed(POD_SPEC_PATHS[kind]):
            body = {key: body}
        patch = {
            "apiVersion": API_VERSIONS[kind],
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace},
            **body,
        }
        filename = f"{kind.lower()}-{namespace}-{name}.yaml"
        out.append(RenderedPatch(filename, kind, namespace, name, patch, env_from))
    return out


def kustomization(patches: Iterable[RenderedPatch], component: bool = False) -> dict[str, Any]:
    """The ``kustomization.yaml`` listing the patches (a Component when ``component``)."""
    head = (
        {"apiVersion": "kustomize.config.k8s.io/v1alpha1", "kind": "Component"}
        if component
        else {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    )
    return {
        **head,
        "patches": [
            {
                "path": p.filename,
                "target": {"kind": p.kind, "namespace": p.namespace, "name": p.name},
            }
            for p in patches
        ],
    }
