"""The namespace for resources and ``Kind/name`` addresses that set none, as kubectl picks it.

``-n/--namespace`` (or ``CATALOGCTL_NAMESPACE``) when given; otherwise the
namespace of the kubeconfig context in use (``--context``, else
``current-context``), or the Pod's in a cluster; otherwise ``default``.  With
``--cluster-dir`` no kubeconfig is used, so ``default``.  An unknown
``--context`` is an error here, before any input is read or any call is made.
"""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource


def resolve_namespace(ctx: click.Context, params: dict[str, Any]) -> str:
    """Settle ``params["namespace"]`` for the command and return it."""
    given = ctx.get_parameter_source("namespace") not in (
        None,
        ParameterSource.DEFAULT,
        ParameterSource.DEFAULT_MAP,
    )
    from_context = None
    if not params.get("cluster_dir"):
        from catalogctl.providers.kubernetes.connection import KubeOptions, context_namespace

        from_context = context_namespace(
            KubeOptions(params.get("kubeconfig"), params.get("kube_context"))
        )
    namespace = str(params["namespace"]) if given else (from_context or "default")
    params["namespace"] = namespace
    return namespace
