"""The ``autoscaling/v1`` Scale view of Deployments and StatefulSets (``<name>/scale``).

``kubectl scale`` reads and patches this view; a write changes only ``spec.replicas`` of the
underlying object and is guarded by the object's own resourceVersion.
"""

from __future__ import annotations

from typing import Any

from tests.kube.errors import bad_request

Obj = dict[str, Any]


def _selector_string(selector: Any) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def to_scale(obj: Obj) -> Obj:
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                          "creationTimestamp") if k in meta},
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
        "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                   "selector": _selector_string((obj.get("spec") or {}).get("selector"))},
    }


def from_scale(current: Obj, scale: Any) -> Obj:
    """The object after applying a (possibly patched) Scale: new replicas, and the Scale's
    resourceVersion as the precondition."""
    if not isinstance(scale, dict):
        raise bad_request("the Scale is not a JSON object")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise bad_request(f"json: cannot unmarshal {type(replicas).__name__} into Go struct "
                          "field ScaleSpec.spec.replicas of type int32")
    updated = {**current, "spec": {**(current.get("spec") or {}), "replicas": replicas}}
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    updated["metadata"] = {**current["metadata"], "resourceVersion": rv}
    return updated
