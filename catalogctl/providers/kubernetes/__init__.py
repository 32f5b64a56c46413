"""catalogctl.providers.kubernetes: the only code that talks to clusters.

* :class:`ClusterTarget` — the interface the engine uses; implemented by
  :class:`KubeCluster` (Kubernetes API via the official client, loaded
  lazily) and :class:`DirectoryCluster` (YAML files under ``--cluster-dir``).
* ``secrets`` — binding Secret data built exactly as Service Catalog built it
  (:func:`build_secret_data`), ownership marks, digests.
* ``mappings`` — PodMapping strategic-merge patches, diffs and observations.
* ``sources`` — the Secret value chain for inputs (env, ``--secrets-dir``, cluster).
* :func:`open_cluster` — pick the target from the CLI flags.
* :class:`Cluster` — a target plus the Secret chain, with the engine's calls.

Importing this package does not import ``kubernetes``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from catalogctl.providers.kubernetes.cluster import ClusterTarget
from catalogctl.providers.kubernetes.connection import (
    ClusterConfigNotFound,
    KubeConnection,
    KubeOptions,
)
from catalogctl.providers.kubernetes.directory import DirectoryCluster
from catalogctl.providers.kubernetes.facade import Cluster
from catalogctl.providers.kubernetes.kube import KubeApiError, KubeCluster
from catalogctl.providers.kubernetes.mappings import (
    ImmutableWorkloadError,
    MappingEntries,
    MappingObservation,
    MappingPatch,
    WorkloadChange,
    WorkloadNotFound,
    mapping_entries,
)
from catalogctl.providers.kubernetes.secrets import (
    MissingSecretError,
    SecretObservation,
    SecretTransformError,
    build_secret_data,
    secret_data_digest,
)
from catalogctl.providers.kubernetes.sources import ChainSecretSource, SecretSource

__all__ = [
    "ChainSecretSource",
    "Cluster",
    "ClusterConfigNotFound",
    "ClusterTarget",
    "DirectoryCluster",
    "ImmutableWorkloadError",
    "KubeApiError",
    "KubeCluster",
    "KubeConnection",
    "KubeOptions",
    "MappingEntries",
    "MappingObservation",
    "MappingPatch",
    "MissingSecretError",
    "SecretObservation",
    "SecretSource",
    "SecretTransformError",
    "WorkloadChange",
    "WorkloadNotFound",
    "build_secret_data",
    "mapping_entries",
    "open_cluster",
    "secret_data_digest",
]

logger = logging.getLogger(__name__)


def open_cluster(
    options: KubeOptions | None = None,
    cluster_dir: str | None = None,
    fallback_dir: str | Path | None = None,
) -> ClusterTarget:
    """The cluster target for a run.

    ``--cluster-dir`` wins; otherwise a kubeconfig (flag, ``KUBECONFIG``,
    ``~/.kube/config``) or in-cluster config; otherwise ``fallback_dir`` (the
    quickstart's embedded directory) when given, else ClusterConfigNotFound.
    Only file existence is checked here; the kubeconfig is parsed on first use.
    """
    opts = options or KubeOptions()
    if cluster_dir:
        return DirectoryCluster(cluster_dir, opts.namespace or "default")
    connection = KubeConnection(opts)
    if connection.configured:
        return KubeCluster(connection)
    if fallback_dir is not None:
        logger.info("no cluster configured; using cluster directory %s", fallback_dir)
        return DirectoryCluster(fallback_dir, opts.namespace or "default")
    raise ClusterConfigNotFound(
        "no cluster configured: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
        "or use --cluster-dir DIR"
    )
