"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``'s human-readable output.

kubectl asks for ``application/json;as=Table;...`` and prints whatever columns come back, so a few
kinds get their familiar columns; everything else gets the generic Name/Created At pair that the
apiserver's default table convertor produces.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.kube.resources import ResourceType

Obj = dict[str, Any]

_NAME_COL = {"name": "Name", "type": "string", "format": "name",
             "description": "Name must be unique within a namespace.", "priority": 0}


def _col(name: str, kind: str = "string") -> dict[str, Any]:
    return {"name": name, "type": kind, "format": "", "description": name, "priority": 0}


def _age(obj: Obj) -> str:
    created = obj.get("metadata", {}).get("creationTimestamp")
    if not created:
        return "<unknown>"
    then = datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    seconds = max(0, int((datetime.now(UTC) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _columns(rt: ResourceType) -> tuple[list[dict[str, Any]], Any]:
    """Column definitions plus a function from object to the non-name, non-age cells."""
    if rt.key == ("", "secrets"):
        return [_col("Type"), _col("Data", "integer")], lambda o: [
            o.get("type", ""), len(o.get("data") or {})]
    if rt.key == ("", "configmaps"):
        return [_col("Data", "integer")], lambda o: [
            len(o.get("data") or {}) + len(o.get("binaryData") or {})]
    if rt.key == ("", "namespaces"):
        return [_col("Status")], lambda o: [(o.get("status") or {}).get("phase", "")]
    if rt.key == ("apps", "deployments"):
        def cells(o: Obj) -> list[Any]:
            status = o.get("status") or {}
            want = (o.get("spec") or {}).get("replicas", 1)
            return [f"{status.get('readyReplicas', 0)}/{want}",
                    status.get("updatedReplicas", 0), status.get("availableReplicas", 0)]
        return [_col("Ready"), _col("Up-to-date", "integer"), _col("Available", "integer")], cells
    return [], lambda o: []


def to_table(rt: ResourceType, objs: list[Obj], rv: int) -> dict[str, Any]:
    extra_cols, cells = _columns(rt)
    rows = []
    for obj in objs:
        meta = obj.get("metadata", {})
        partial = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                   "metadata": meta}
        rows.append({"cells": [meta.get("name", ""), *cells(obj), _age(obj)],
                     "object": partial})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": str(rv)},
        "columnDefinitions": [_NAME_COL, *extra_cols, _col("Age")],
        "rows": rows,
    }
