"""PodMapping (``catalogctl.io/v1alpha1``): a binding's Secret mapped into a workload.

Service Catalog left Pods to consume Secrets by hand (PodPreset never left
alpha).  A PodMapping names the binding and the workload and says which keys
become env vars, whether all keys are exposed with envFrom, and where the
Secret is mounted as files.  catalogctl patches only the entries it owns.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from catalogctl.model.base import LocalObjectReference, ObjectMeta, Spec

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


class MappingTarget(Spec):
    """The workload whose pod template is patched, in the mapping's namespace."""

    kind: Literal["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"]
    name: str
    containers: list[str] | None = None


class EnvMapping(Spec):
    """An env var set from a Secret key (``key``) or to a literal ``value``.

    The literal form lets a mapping point a variable at a mounted file, e.g.
    ``PROVIDER_APPLICATION_CREDENTIALS=/var/secrets/provider/key.json``.
    """

    name: str
    key: str | None = None
    value: str | None = None
    optional: bool | None = None


class EnvFromMapping(Spec):
    """Expose every key of the Secret as env vars, optionally prefixed."""

    prefix: str | None = None


class VolumeItem(Spec):
    key: str
    path: str
    mode: int | None = None


class VolumeMapping(Spec):
    """Mount the Secret as files at ``mountPath`` (all keys unless ``items``)."""

    name: str | None = None
    mount_path: str
    read_only: bool = True
    items: list[VolumeItem] | None = None
    default_mode: int | None = None


class PodMappingSpec(Spec):
    binding_ref: LocalObjectReference
    target: MappingTarget
    env: list[EnvMapping] = Field(default_factory=list)
    env_from: EnvFromMapping | None = None
    volume: VolumeMapping | None = None
    #: Record the Secret's revision in the pod template, so new credentials roll the
    #: workload; false for workloads that read mounted files and reload them themselves.
    rollout: bool = True


class PodMapping(Spec):
    api_version: Literal["catalogctl.io/v1alpha1"]
    kind: Literal["PodMapping"]
    metadata: ObjectMeta
    spec: PodMappingSpec
    status: Any = None
