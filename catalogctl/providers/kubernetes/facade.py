"""``Cluster``: one object with the calls the engine makes, in the engine's terms.

The engine thinks in PodMappings, binding addresses and Secret digests; the
targets think in workloads, entries and observations.  This facade joins a
:class:`ClusterTarget` with the Secret value chain (environment,
``--secrets-dir``, cluster) so the engine's cluster port is a thin wrapper,
and so every input Secret value goes through the same lookup and the same
value-free error messages.  Positional signatures follow the engine's
``ClusterPort`` (``catalogctl.engine.ports``) so it can call them unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from catalogctl.model.bindings import SecretTransform
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.access import Access
from catalogctl.providers.kubernetes.cluster import ClusterTarget
from catalogctl.providers.kubernetes.connection import KubeOptions
from catalogctl.providers.kubernetes.mappings import (
    MappingObservation,
    OwnedRecord,
    mapping_entries,
    read_records,
)
from catalogctl.providers.kubernetes.rollouts import RolloutStatus
from catalogctl.providers.kubernetes.secrets import SecretObservation, build_secret_data
from catalogctl.providers.kubernetes.sources import ChainSecretSource
from catalogctl.providers.kubernetes.statemark import StateMark

__all__ = ["Cluster"]


class Cluster:
    """A cluster target plus the Secret sources for inputs; safe to call from threads."""

    def __init__(self, target: ClusterTarget, sources: ChainSecretSource | None = None) -> None:
        self.target = target
        self.sources = sources or ChainSecretSource.standard(target)
        #: the state this run writes for: recorded on every object written
        self.mark: StateMark | None = None

    def write_for(self, lineage: str, where: str) -> None:
        """Mark every object written from now on as belonging to the state ``lineage``."""
        self.mark = StateMark(lineage, where)

    @classmethod
    def open(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        cluster_dir: str | None = None,
        secrets_dir: str | None = None,
        fallback_dir: str | Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Cluster:
        """Choose the target as :func:`open_cluster` does and build the Secret chain."""
        from catalogctl.providers.kubernetes import open_cluster

        target = open_cluster(
            KubeOptions(kubeconfig, context, namespace), cluster_dir, fallback_dir
        )
        return cls(target, ChainSecretSource.standard(target, secrets_dir, environ))

    @property
    def description(self) -> str:
        return self.target.description

    # --- inputs ---

    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes:
        """A Secret value for ``parametersFrom``/``authInfo``; MissingSecretError when absent."""
        return self.sources.require_key(namespace, name, key)

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        """A whole Secret for ``addKeysFrom``; MissingSecretError when absent."""
        return self.sources.require_secret(namespace, name)

    def build_secret_data(
        self,
        namespace: str,
        credentials: Mapping[str, Any],
        transforms: list[SecretTransform],
        binding: str = "",
    ) -> dict[str, bytes]:
        """The binding Secret's data; ``addKeysFrom`` reads through the Secret chain."""
        return build_secret_data(
            dict(credentials),
            transforms,
            self.sources.require_secret,
            namespace=namespace,
            binding=binding,
        )

    # --- binding Secrets ---

    def write_binding_secret(
        self, namespace: str, name: str, data: Mapping[str, bytes], owner: str
    ) -> str:
        """Create or update the Secret; return the sha256 digest of its data."""
        obs = self.target.write_binding_secret(
            namespace=namespace, name=name, owner=owner, data=data, mark=self.mark
        )
        assert obs.data_sha256 is not None
        return obs.data_sha256

    def delete_binding_secret(self, namespace: str, name: str, owner: str) -> None:
        self.target.delete_binding_secret(namespace=namespace, name=name, owner=owner)

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation:
        return self.target.observe_binding_secret(namespace, name)

    # --- mappings ---

    def workload_exists(self, namespace: str, kind: str, name: str) -> bool:
        return self.target.read_workload(namespace, kind, name) is not None

    def apply_mapping(
        self,
        namespace: str,
        mapping: PodMapping,
        secret_name: str,
        owner: str,
        revision: int | None = None,
    ) -> None:
        """Apply ``mapping`` (address ``owner``) to its target, in ``namespace``.

        ``revision`` is the Secret's revision to record in the pod template.

        The changes made are logged by the target; call the target directly for
        the :class:`MappingPatch`.
        """
        target = mapping.spec.target
        self.target.apply_mapping(
            namespace=namespace,
            kind=target.kind,
            name=target.name,
            entries=mapping_entries(mapping, secret_name, owner, self.mark, revision),
        )

    def remove_mapping(self, namespace: str, kind: str, name: str, owner: str) -> None:
        self.target.remove_mapping(namespace=namespace, kind=kind, name=name, address=owner)

    def observe_mapping(
        self,
        namespace: str,
        mapping: PodMapping,
        secret_name: str,
        owner: str,
        revision: int | None = None,
    ) -> MappingObservation:
        """Drift of ``mapping``; a missing workload is reported, not raised."""
        target = mapping.spec.target
        if self.target.read_workload(namespace, target.kind, target.name) is None:
            return MappingObservation(
                owner, f"{target.kind}/{namespace}/{target.name}", False, False
            )
        return self.target.observe_mapping(
            namespace=namespace,
            kind=target.kind,
            name=target.name,
            address=owner,
            entries=mapping_entries(mapping, secret_name, owner, self.mark, revision),
        )

    def mapping_records(
        self, namespace: str, kind: str, name: str
    ) -> dict[str, OwnedRecord] | None:
        """The mapping records a workload carries (None when it does not exist)."""
        workload = self.target.read_workload(namespace, kind, name)
        return None if workload is None else read_records(workload)

    def rollout_status(self, namespace: str, kind: str, name: str) -> RolloutStatus:
        return self.target.rollout_status(namespace, kind, name)

    def namespace_uid(self, namespace: str) -> str | None:
        return self.target.namespace_uid(namespace)

    def check_access(self, accesses: Sequence[Access]) -> list[str]:
        return self.target.check_access(accesses)
