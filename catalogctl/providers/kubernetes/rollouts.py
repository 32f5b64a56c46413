"""Whether a workload finished rolling out its current pod template (pure).

Read from the object's ``status`` the way ``kubectl rollout status`` does:
the controller must have seen the current generation, every replica must run
the new template, and the new replicas must be available; old ones must be
gone.  A Deployment whose ``Progressing`` condition says
``ProgressDeadlineExceeded`` has failed and will not finish by waiting.
Kinds without a rollout to wait for (CronJob, Job; ``OnDelete`` update
strategies, which replace pods only when someone deletes them) count as done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RolloutStatus:
    """Where a workload's rollout stands; ``detail`` says why it is not done (for messages)."""

    done: bool
    detail: str = ""
    #: the rollout stopped and will not finish by itself (a Deployment past its deadline)
    failed: bool = False


def rollout_status(obj: Mapping[str, Any]) -> RolloutStatus:
    """The rollout state of a Deployment, StatefulSet or DaemonSet object as the API returns it."""
    kind = str(obj.get("kind", ""))
    check = _CHECKS.get(kind)
    if check is None:
        return RolloutStatus(True)
    spec: Mapping[str, Any] = obj.get("spec") or {}
    status: Mapping[str, Any] = obj.get("status") or {}
    generation = int((obj.get("metadata") or {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return RolloutStatus(False, "waiting for the controller to see the new pod template")
    return check(spec, status)


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutStatus:
    for condition in status.get("conditions") or ():
        if condition.get("type") == "Progressing" and (
            condition.get("reason") == "ProgressDeadlineExceeded"
        ):
            return RolloutStatus(False, "its progress deadline was exceeded", failed=True)
    wanted = int(spec.get("replicas", 1))
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < wanted:
        return RolloutStatus(False, f"{updated} of {wanted} replicas run the new pod template")
    if total > updated:
        return RolloutStatus(False, f"{total - updated} old replicas are still terminating")
    if available < updated:
        return RolloutStatus(False, f"{available} of {updated} updated replicas are available")
    return RolloutStatus(True)


def _stateful_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutStatus:
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return RolloutStatus(True)
    wanted = int(spec.get("replicas", 1))
    ready = int(status.get("readyReplicas") or 0)
    if ready < wanted:
        return RolloutStatus(False, f"{ready} of {wanted} replicas are ready")
    if status.get("updateRevision") != status.get("currentRevision"):
        updated = int(status.get("updatedReplicas") or 0)
        return RolloutStatus(False, f"{updated} of {wanted} replicas run the new pod template")
    return RolloutStatus(True)


def _daemon_set(spec: Mapping[str, Any], status: Mapping[str, Any]) -> RolloutStatus:
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return RolloutStatus(True)
    wanted = int(status.get("desiredNumberScheduled") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    available = int(status.get("numberAvailable") or 0)
    if updated < wanted:
        return RolloutStatus(False, f"{updated} of {wanted} pods run the new pod template")
    if available < wanted:
        return RolloutStatus(False, f"{available} of {wanted} updated pods are available")
    return RolloutStatus(True)


_CHECKS = {"Deployment": _deployment, "StatefulSet": _stateful_set, "DaemonSet": _daemon_set}
