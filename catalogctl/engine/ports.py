"""What the engine needs from a cluster target (API server or local directory).

The Kubernetes provider implements this; the engine never imports the
``kubernetes`` package itself.  All methods are synchronous (the official
client is) and are called from worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from catalogctl.model.bindings import SecretTransform
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.access import Access
from catalogctl.providers.kubernetes.mappings import MappingObservation, OwnedRecord
from catalogctl.providers.kubernetes.rollouts import RolloutStatus
from catalogctl.providers.kubernetes.secrets import SecretObservation

__all__ = [
    "Access",
    "ClusterPort",
    "MappingObservation",
    "RolloutStatus",
    "SecretObservation",
]


class ClusterPort(Protocol):
    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes: ...

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes]: ...

    def build_secret_data(
        self,
        namespace: str,
        credentials: Mapping[str, Any],
        transforms: list[SecretTransform],
        binding: str = "",
    ) -> dict[str, bytes]:
        """The Secret's data; SecretTransformError (naming ``binding``) when it cannot be built."""
        ...

    def write_binding_secret(
        self, namespace: str, name: str, data: Mapping[str, bytes], owner: str
    ) -> str:
        """Create or update the Secret; return the sha256 of its data."""
        ...

    def delete_binding_secret(self, namespace: str, name: str, owner: str) -> None: ...

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation: ...

    def workload_exists(self, namespace: str, kind: str, name: str) -> bool: ...

    def apply_mapping(
        self,
        namespace: str,
        mapping: PodMapping,
        secret_name: str,
        owner: str,
        revision: int | None = None,
    ) -> None:
        """Patch the workload; ``revision`` (the Secret's) goes into its pod template."""
        ...

    def remove_mapping(self, namespace: str, kind: str, name: str, owner: str) -> None: ...

    def observe_mapping(
        self,
        namespace: str,
        mapping: PodMapping,
        secret_name: str,
        owner: str,
        revision: int | None = None,
    ) -> MappingObservation: ...

    def namespace_uid(self, namespace: str) -> str | None: ...

    def rollout_status(self, namespace: str, kind: str, name: str) -> RolloutStatus:
        """Whether the workload finished rolling out its current pod template."""
        ...

    def check_access(self, accesses: Sequence[Access]) -> list[str]:
        """Why some of ``accesses`` would fail; empty when all are expected to work."""
        ...

    def mapping_records(
        self, namespace: str, kind: str, name: str
    ) -> Mapping[str, OwnedRecord] | None:
        """The mapping records a workload carries (None when it does not exist)."""
        ...

    def write_for(self, lineage: str, where: str) -> None:
        """Record the state ``lineage`` (at ``where``) on every object written from now on."""
        ...
