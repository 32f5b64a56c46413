"""Finding the cluster the way kubectl does, without importing ``kubernetes`` early.

Resolution order, as kubectl's loading rules:

1. ``--kubeconfig FILE`` (must exist);
2. ``KUBECONFIG``, a list separated by ``os.pathsep`` (missing files are
   skipped; the files are merged, first one wins per entry);
3. ``~/.kube/config`` when it exists;
4. in-cluster configuration (service-account token) when running in a Pod.

``--context`` picks a context (default: ``current-context``).  The default
namespace is ``-n`` when given, else the context's namespace, else the Pod's
namespace in-cluster, else ``default``.

The ``kubernetes`` package takes about a second to import, so nothing here
imports it at module level; :meth:`KubeConnection.api_client` loads it on first
use, once, under a lock, because the engine calls from worker threads.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from catalogctl.errors import InputError

__all__ = [
    "IN_CLUSTER_NAMESPACE_FILE",
    "ClusterConfigNotFound",
    "KubeConnection",
    "KubeOptions",
    "context_namespace",
    "kubeconfig_paths",
]

logger = logging.getLogger(__name__)

IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
IN_CLUSTER_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class ClusterConfigNotFound(InputError):
    """No kubeconfig and not running in a cluster."""


@dataclass(frozen=True)
class KubeOptions:
    """The kubectl-like flags: ``--kubeconfig``, ``--context``, ``-n``."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def kubeconfig_paths(
    kubeconfig: str | None, environ: Mapping[str, str] | None = None, home: Path | None = None
) -> list[Path]:
    """The kubeconfig files to merge, in priority order (empty: none found).

    ``--kubeconfig`` must name an existing file (kubectl fails too); entries of
    ``KUBECONFIG`` that do not exist are skipped as kubectl skips them.
    """
    env = os.environ if environ is None else environ
    if kubeconfig:
        path = Path(kubeconfig).expanduser()
        if not path.is_file():
            raise InputError(f"--kubeconfig: file {kubeconfig} does not exist")
        return [path]
    listed = env.get("KUBECONFIG", "")
    if listed:
        paths = [Path(p).expanduser() for p in listed.split(os.pathsep) if p]
        # kubectl skips missing and empty files; the Python client rejects empty ones.
        found = [p for p in paths if p.is_file() and p.stat().st_size > 0]
        return list(dict.fromkeys(found))
    default = (home or Path.home()) / ".kube" / "config"
    return [default] if default.is_file() else []


def _first_current_context(paths: list[Path]) -> str | None:
    """``current-context`` as kubectl merges it: the first file that sets it wins.

    (The Python client's merger lets the last file win, so we decide it here.)
    Unreadable files are left for the client's loader to report.
    """
    import yaml

    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and data.get("current-context"):
            return str(data["current-context"])
    return None


def context_namespace(options: KubeOptions, environ: Mapping[str, str] | None = None) -> str | None:
    """The namespace kubectl would default to: the chosen context's, or the Pod's in-cluster.

    Reads the kubeconfig files only (no ``kubernetes`` import, no connection),
    so commands can settle their default namespace before loading the YAML.
    Raises InputError, as kubectl does, when ``--context`` (or
    ``current-context``) names a context no file defines.
    """
    import yaml

    env = os.environ if environ is None else environ
    paths = kubeconfig_paths(options.kubeconfig, env)
    if not paths:
        if options.context:
            raise InputError(f"--context: context {options.context!r} not found: no kubeconfig")
        if _in_cluster(env):
            ns_file = Path(IN_CLUSTER_NAMESPACE_FILE)
            return ns_file.read_text().strip() or None if ns_file.is_file() else None
        return None
    contexts: dict[str, Any] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # the client's loader reports unreadable files when it connects
        for entry in (data.get("contexts") if isinstance(data, dict) else None) or ():
            if isinstance(entry, dict) and entry.get("name"):
                contexts.setdefault(str(entry["name"]), entry.get("context") or {})
    wanted = options.context or _first_current_context(paths)
    if not wanted:
        return None
    if wanted not in contexts:
        flag = "--context" if options.context else "current-context"
        names = ", ".join(sorted(contexts)) or "none"
        raise InputError(f"{flag}: context {wanted!r} not found in kubeconfig (contexts: {names})")
    namespace = contexts[wanted].get("namespace") if isinstance(contexts[wanted], dict) else None
    return str(namespace) if namespace else None


def _in_cluster(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("KUBERNETES_SERVICE_HOST")) and Path(IN_CLUSTER_TOKEN_FILE).is_file()


class KubeConnection:
    """A lazily created, shared ``kubernetes.client.ApiClient`` plus the default namespace.

    ``ApiClient`` is safe to share between threads for synchronous calls (its
    urllib3 pool is thread-safe); what must not race is its creation, which
    this class guards.
    """

    def __init__(
        self, options: KubeOptions | None = None, environ: Mapping[str, str] | None = None
    ) -> None:
        self.options = options or KubeOptions()
        self._environ = dict(os.environ if environ is None else environ)
        self._lock = threading.Lock()
        self._client: Any = None
        self._namespace: str | None = None
        self._server = ""
        self._context = ""

    @classmethod
    def from_api_client(cls, api_client: Any, namespace: str = "default") -> KubeConnection:
        """Wrap an existing client (tests, embedding) with a fixed default namespace."""
        conn = cls(KubeOptions(namespace=namespace), environ={})
        conn._client = api_client
        conn._namespace = namespace
        conn._server = str(getattr(api_client.configuration, "host", ""))
        return conn

    @property
    def configured(self) -> bool:
        """Whether a kubeconfig or in-cluster config exists (no file is parsed)."""
        if self._client is not None:
            return True
        paths = kubeconfig_paths(self.options.kubeconfig, self._environ)
        return bool(paths) or _in_cluster(self._environ)

    def api_client(self) -> Any:
        """The shared ApiClient, loading configuration on first use."""
        with self._lock:
            if self._client is None:
                self._load()
            return self._client

    @property
    def namespace(self) -> str:
        """The default namespace (loads configuration if needed)."""
        self.api_client()
        assert self._namespace is not None
        return self._namespace

    @property
    def description(self) -> str:
        self.api_client()
        context = f" (context {self._context})" if self._context else ""
        return f"cluster {self._server}{context}"

    def _load(self) -> None:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        opts = self.options
        paths = kubeconfig_paths(opts.kubeconfig, self._environ)
        configuration = client.Configuration()
        if paths:
            joined = os.pathsep.join(str(p) for p in paths)
            try:
                contexts, current = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                    config_file=joined
                )
                chosen: dict[str, Any] | None = current
                wanted = opts.context or _first_current_context(paths)
                if wanted:
                    chosen = next((c for c in contexts if c.get("name") == wanted), None)
                    if chosen is None:
                        names = ", ".join(sorted(str(c.get("name")) for c in contexts))
                        flag = "--context" if opts.context else "current-context"
                        raise InputError(
                            f"{flag}: context {wanted!r} not found in kubeconfig "
                            f"(contexts: {names or 'none'})"
                        )
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=joined,
                    context=wanted,
                    client_configuration=configuration,
                    persist_config=False,
                )
            except ConfigException as e:
                # Messages name files and contexts; they never include tokens.
                raise InputError(f"kubeconfig {joined}: {e}") from None
            context_ns = ((chosen or {}).get("context") or {}).get("namespace")
            self._context = str((chosen or {}).get("name") or "")
            self._namespace = opts.namespace or context_ns or "default"
        elif _in_cluster(self._environ):
            try:
                config.load_incluster_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration
                )
            except ConfigException as e:
                raise InputError(f"in-cluster configuration: {e}") from None
            ns_file = Path(IN_CLUSTER_NAMESPACE_FILE)
            pod_ns = ns_file.read_text().strip() if ns_file.is_file() else ""
            self._namespace = opts.namespace or pod_ns or "default"
        else:
            raise ClusterConfigNotFound(
                "no cluster configured: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, "
                "or use --cluster-dir DIR"
            )
        self._server = str(configuration.host)
        self._client = client.ApiClient(configuration)
        logger.debug("connected to %s", self._server)

    def close(self) -> None:
        with self._lock:
            if self._client is not None and hasattr(self._client, "close"):
                self._client.close()
            self._client = None
