"""Build a :class:`~catalogctl.engine.session.Session` from command-line flags."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from catalogctl.cli.console import Console
from catalogctl.engine.brokers import BrokerSettings
from catalogctl.engine.session import Session
from catalogctl.engine.state_session import StateSession
from catalogctl.errors import UsageError
from catalogctl.model.names import parse_go_duration


def parse_timeout(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_go_duration(text)
    except ValueError:
        raise UsageError(f"invalid duration {text!r} (e.g. 30s, 5m)") from None


_SIZE_UNITS = {
    "": 1,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``512Ki``, ``10Mi`` or ``1GiB`` (binary units)."""
    import re

    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _SIZE_UNITS or int(match.group(1)) < 1:
        raise UsageError(f"invalid size {text!r} (e.g. 10Mi, 512Ki, 1048576)")
    return int(match.group(1)) * _SIZE_UNITS[unit]


def broker_settings(params: Mapping[str, Any], **more: Any) -> BrokerSettings:
    """BrokerSettings from the flags of :func:`~catalogctl.cli.options.broker_options`."""
    from catalogctl.providers.osb.retrying import RetryPolicy

    retry_timeout = parse_timeout(str(params.get("retry_timeout") or "5m"))
    if retry_timeout < 0:
        raise UsageError(f"--retry-timeout must not be negative, got {retry_timeout:g}s")
    return BrokerSettings(
        timeout=float(params.get("broker_timeout") or 60.0),
        max_response_size=parse_size(str(params.get("max_response_size") or "10Mi")),
        retry=RetryPolicy(timeout=retry_timeout),
        **more,
    )


def state_session(console: Console, params: Mapping[str, Any]) -> StateSession:
    """The state ``--state`` names (a cluster through ``--kubeconfig``/``--context``), alone."""
    from catalogctl.engine.statestore import open_state

    backend = open_state(
        params.get("state_dir"),
        kubeconfig=params.get("kubeconfig"),
        context=params.get("kube_context"),
    )
    lock_timeout = parse_timeout(str(params.get("lock_timeout") or "0"))
    return StateSession(
        backend=backend, lock_timeout=lock_timeout, emit=console.out, warn=console.err
    )


def build_session(console: Console, params: dict[str, Any], namespace: str = "default") -> Session:
    import getpass

    from catalogctl.engine.cluster import open_cluster
    from catalogctl.engine.statestore import catalog_cache_dir
    from catalogctl.providers.osb.config import OriginatingIdentity

    # Flags are checked before anything is opened (naming the backend only
    # parses --state; no backend connects before its first use).
    state = state_session(console, params)
    settings = broker_settings(
        params,
        # X-Broker-API-Originating-Identity: who ran catalogctl (the OS user;
        # CATALOGCTL_USER overrides it, e.g. with the pipeline's identity).
        identity=OriginatingIdentity(
            username=os.environ.get("CATALOGCTL_USER") or getpass.getuser()
        ),
        cluster_id=params.get("cluster_id") or "catalogctl",
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
    poll_timeout = (
        parse_timeout(str(params["poll_timeout"])) if params.get("poll_timeout") else None
    )
    if poll_timeout is not None and poll_timeout <= 0:
        raise UsageError("--poll-timeout must be positive")
    cluster = open_cluster(
        kubeconfig=params.get("kubeconfig"),
        context=params.get("kube_context"),
        cluster_dir=params.get("cluster_dir"),
        secrets_dir=params.get("secrets_dir"),
        namespace=namespace,
    )
    return Session(
        cluster_id_from_state=not explicit_cluster_id,
        backend=state.backend,
        cluster=cluster,
        settings=settings,
        parallelism=int(params.get("parallelism") or 16),
        lock_timeout=state.lock_timeout,
        poll_timeout=poll_timeout,
        emit=console.out,
        warn=console.err,
        progress_bar=sys.stderr if sys.stderr.isatty() else None,
    )
