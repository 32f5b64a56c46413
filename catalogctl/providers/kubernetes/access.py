"""What an apply will do in a cluster, as (verb, resource, namespace) triples to check first.

An apply that provisions and binds at a broker and only then finds it cannot
write the binding's Secret leaves credentials nobody can read (a binding that
is not retrievable must then be replaced).  So before the first broker
request, the engine asks the cluster target whether every write it may make
is allowed: the API server through ``SelfSubjectAccessReview`` (the question
``kubectl auth can-i`` asks), the directory target by looking at the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["SECRET_VERBS", "WORKLOAD_RESOURCES", "WORKLOAD_VERBS", "Access"]

#: Verbs a binding Secret's lifecycle uses: read, create, replace, delete.
SECRET_VERBS: Final = ("get", "create", "update", "delete")
#: Verbs a PodMapping uses on its workload: read, then a strategic-merge patch.
WORKLOAD_VERBS: Final = ("get", "patch")
#: PodMapping target kind -> (API group, resource)
WORKLOAD_RESOURCES: Final[dict[str, tuple[str, str]]] = {
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
}


@dataclass(frozen=True, order=True)
class Access:
    """Permission to ``verb`` objects of ``resource`` (in API ``group``) in ``namespace``."""

    namespace: str
    group: str
    resource: str
    verb: str

    def __str__(self) -> str:
        qualified = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {qualified} in namespace {self.namespace}"

    @classmethod
    def secrets(cls, namespace: str) -> list[Access]:
        return [cls(namespace, "", "secrets", verb) for verb in SECRET_VERBS]

    @classmethod
    def workloads(cls, namespace: str, kind: str) -> list[Access]:
        group, resource = WORKLOAD_RESOURCES[kind]
        return [cls(namespace, group, resource, verb) for verb in WORKLOAD_VERBS]
