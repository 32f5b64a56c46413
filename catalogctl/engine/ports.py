"""What the engine needs from a cluster target (API server or local directory).

The Kubernetes provider implements this; the engine never imports the
``kubernetes`` package itself.  All methods are synchronous (the official
client is) and are called from worker threads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from catalogctl.model.bindings import SecretTransform
from catalogctl.model.podmappings import PodMapping


@dataclass(frozen=True)
class SecretObservation:
    exists: bool
    owner: str | None = None
    data_hash: str | None = None


@dataclass(frozen=True)
class MappingObservation:
    workload_exists: bool
    missing: tuple[str, ...] = ()


class ClusterPort(Protocol):
    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes: ...

    def build_secret_data(
        self, namespace: str, credentials: Mapping[str, Any], transforms: list[SecretTransform]
    ) -> dict[str, bytes]: ...

    def write_binding_secret(
        self, namespace: str, name: str, data: Mapping[str, bytes], owner: str
    ) -> str:
        """Create or update the Secret; return the sha256 of its data."""
        ...

    def delete_binding_secret(self, namespace: str, name: str, owner: str) -> None: ...

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation: ...

    def workload_exists(self, namespace: str, kind: str, name: str) -> bool: ...

    def apply_mapping(self, namespace: str, mapping: PodMapping, secret_name: str, owner: str) -> None: ...

    def remove_mapping(self, namespace: str, kind: str, name: str, owner: str) -> None: ...

    def observe_mapping(
        self, namespace: str, mapping: PodMapping, secret_name: str, owner: str
    ) -> MappingObservation: ...

    def namespace_uid(self, namespace: str) -> str | None: ...


def data_hash(data: Mapping[str, bytes]) -> str:
    """sha256 over a Secret's sorted keys and values: comparable, reveals nothing."""
    import hashlib

    h = hashlib.sha256()
    for key in sorted(data):
        h.update(key.encode() + b"\0" + data[key] + b"\0")
    return h.hexdigest()
