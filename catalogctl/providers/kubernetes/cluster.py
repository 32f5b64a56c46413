"""The one interface the engine uses to read and change a cluster.

Two implementations exist: :class:`~catalogctl.providers.kubernetes.kube.KubeCluster`
(the Kubernetes API through the official client) and
:class:`~catalogctl.providers.kubernetes.directory.DirectoryCluster` (YAML files
under ``--cluster-dir``, for the quickstart and for GitOps users who commit
the rendered objects).  The engine must not be able to tell them apart except
through :attr:`ClusterTarget.description`, so the pure logic (Secret data,
ownership, mapping patches) lives in ``secrets.py`` and ``mappings.py`` and
both targets call it.

Every method is synchronous and safe to call from several threads at once
(the engine runs them through ``asyncio.to_thread``).  Methods that return
what a plan may print return observations (names, owners, digests), never
Secret values; only :meth:`ClusterTarget.read_secret` and
:meth:`ClusterTarget.read_secret_key` return values, for inputs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from catalogctl.providers.kubernetes.access import Access
from catalogctl.providers.kubernetes.mappings import (
    MappingEntries,
    MappingObservation,
    MappingPatch,
)
from catalogctl.providers.kubernetes.rollouts import RolloutStatus
from catalogctl.providers.kubernetes.secrets import SecretObservation
from catalogctl.providers.kubernetes.statemark import StateMark

__all__ = ["ClusterTarget"]


@runtime_checkable
class ClusterTarget(Protocol):
    """Secrets and workload pod templates in one cluster (or cluster directory)."""

    @property
    def description(self) -> str:
        """For messages: ``cluster https://…/ (context prod)`` or ``cluster directory ./state``."""
        ...

    @property
    def default_namespace(self) -> str:
        """The namespace of the kubeconfig context (or ``default``)."""
        ...

    # --- inputs (values!) ---

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """All keys of a Secret, or None when it does not exist. Values: never log them."""
        ...

    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a Secret, or None when the Secret or key does not exist."""
        ...

    # --- binding Secrets ---

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation:
        """Existence, owner and data digest of a Secret; no values."""
        ...

    def write_binding_secret(
        self,
        *,
        namespace: str,
        name: str,
        owner: str,
        data: Mapping[str, bytes],
        mark: StateMark | None = None,
    ) -> SecretObservation:
        """Create, or replace the data of, the Secret owned by binding address ``owner``.

        ``mark`` (the state this run writes for) is recorded on the Secret.
        Raises OwnershipError when the Secret exists and ``owner`` does not own
        it, or another state (by recorded lineage) does.
        """
        ...

    def delete_binding_secret(self, *, namespace: str, name: str, owner: str) -> bool:
        """Delete the Secret ``owner`` owns; False when it was already gone.

        Raises OwnershipError when it exists but ``owner`` does not own it.
        """
        ...

    # --- workloads and mappings ---

    def read_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        """The workload object (as the API returns it), or None when missing."""
        ...

    def observe_mapping(
        self,
        *,
        namespace: str,
        kind: str,
        name: str,
        address: str,
        entries: MappingEntries | None,
    ) -> MappingObservation:
        """Which of the mapping's entries the workload carries.

        With ``entries`` None (the mapping left the desired state) the recorded
        entries are reported and a missing workload is not an error; otherwise a
        missing workload raises WorkloadNotFound.
        """
        ...

    def apply_mapping(
        self, *, namespace: str, kind: str, name: str, entries: MappingEntries
    ) -> MappingPatch:
        """Patch the workload to carry exactly ``entries``; returns what was done.

        Raises WorkloadNotFound, OwnershipError, or ClusterError.
        """
        ...

    def remove_mapping(
        self, *, namespace: str, kind: str, name: str, address: str
    ) -> MappingPatch | None:
        """Remove exactly the entries ``address`` recorded; None when the workload is gone."""
        ...

    def rollout_status(self, namespace: str, kind: str, name: str) -> RolloutStatus:
        """Whether the workload finished rolling out its current pod template."""
        ...

    def namespace_uid(self, namespace: str) -> str | None:
        """The namespace's UID (OSB ``space_guid``), or None when unknown or not permitted."""
        ...

    # --- preflight ---

    def check_access(self, accesses: Sequence[Access]) -> list[str]:
        """Why some of ``accesses`` would fail (target unreachable, forbidden, not writable).

        An empty list means every write an apply may make is expected to work.
        """
        ...
