"""Build a :class:`~catalogctl.engine.session.Session` from command-line flags."""

from __future__ import annotations

import os
import sys
from typing import Any

from catalogctl.cli.console import Console
from catalogctl.engine.brokers import BrokerSettings
from catalogctl.engine.session import Session
from catalogctl.errors import UsageError
from catalogctl.model.names import parse_go_duration
from catalogctl.state.backend import StateBackend


def parse_timeout(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_go_duration(text)
    except ValueError:
        raise UsageError(f"invalid duration {text!r} (e.g. 30s, 5m)") from None


def open_backend(params: dict[str, Any]) -> StateBackend:
    """The backend ``--state`` names, reaching a cluster through ``--kubeconfig``/``--context``."""
    from catalogctl.engine.statestore import open_state

    return open_state(
        params.get("state_dir"),
        kubeconfig=params.get("kubeconfig"),
        context=params.get("kube_context"),
    )


def build_session(console: Console, params: dict[str, Any], namespace: str = "default") -> Session:
    from catalogctl.engine.cluster import open_cluster
    from catalogctl.engine.statestore import catalog_cache_dir

    cluster = open_cluster(
        kubeconfig=params.get("kubeconfig"),
        context=params.get("kube_context"),
        cluster_dir=params.get("cluster_dir"),
        secrets_dir=params.get("secrets_dir"),
        namespace=namespace,
    )
    backend = open_backend(params)
    import getpass

    from catalogctl.providers.osb.config import OriginatingIdentity

    settings = BrokerSettings(
        # X-Broker-API-Originating-Identity: who ran catalogctl (the OS user;
        # CATALOGCTL_USER overrides it, e.g. with the pipeline's identity).
        identity=OriginatingIdentity(
            username=os.environ.get("CATALOGCTL_USER") or getpass.getuser()
        ),
        cluster_id=params.get("cluster_id") or "catalogctl",
        timeout=float(params.get("broker_timeout") or 60.0),
        # Only inside a state that exists: planning must not create a state location.
        catalog_cache_dir=catalog_cache_dir(params.get("state_dir")),
    )
    # A migrated state remembers Service Catalog's cluster id; --cluster-id (or its
    # environment variable) wins over it.
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("cluster_id") if ctx is not None else None
    explicit_cluster_id = source not in (None, ParameterSource.DEFAULT)
    return Session(
        cluster_id_from_state=not explicit_cluster_id,
        backend=backend,
        cluster=cluster,
        settings=settings,
        parallelism=int(params.get("parallelism") or 16),
        lock_timeout=parse_timeout(str(params.get("lock_timeout") or "0")),
        emit=console.out,
        warn=console.err,
        progress_bar=sys.stderr if sys.stderr.isatty() else None,
    )
