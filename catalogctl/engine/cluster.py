"""Open the cluster port for a run (API server, or a local cluster directory)."""

from __future__ import annotations

from catalogctl.engine.ports import ClusterPort


def open_cluster(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    cluster_dir: str | None = None,
    secrets_dir: str | None = None,
    namespace: str | None = None,
) -> ClusterPort:
    """``--cluster-dir`` wins; otherwise kubeconfig/in-cluster; otherwise a clear error.

    The kubernetes package is imported only when an API server is really used.
    """
    from catalogctl.providers.kubernetes.facade import Cluster

    return Cluster.open(
        kubeconfig=kubeconfig,
        context=context,
        namespace=namespace,
        cluster_dir=cluster_dir,
        secrets_dir=secrets_dir,
    )
