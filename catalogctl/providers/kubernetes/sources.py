"""Where Secret values for inputs come from: environment, a secrets directory, the cluster.

``parametersFrom[].secretKeyRef``, broker ``authInfo`` and ``addKeysFrom``
refer to Secrets by namespace/name/key.  In a CI job or on a laptop the
Secret may not exist in any cluster yet, so a value is looked up in order:

1. the environment variable ``CATALOGCTL_SECRET_<NAMESPACE>_<NAME>_<KEY>``
   (upper-cased; every character that is not a letter or digit becomes ``_``;
   e.g. ``catalogctl-system/cloud-broker-auth`` key ``password`` →
   ``CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_BROKER_AUTH_PASSWORD``);
2. ``--secrets-dir DIR``: the file ``DIR/<namespace>/<name>/<key>`` (the
   layout of a mounted Secret volume, so a Pod can mount Secrets there);
3. the cluster target.

Whole-Secret reads (``addKeysFrom``) skip the environment, whose names cannot
be turned back into keys.  Values are bytes and must never be logged or put
in an exception message: errors here name the namespace, Secret, key and the
places searched, nothing else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from catalogctl.errors import ClusterError
from catalogctl.providers.kubernetes.cluster import ClusterTarget
from catalogctl.providers.kubernetes.secrets import MissingSecretError

__all__ = [
    "ChainSecretSource",
    "ClusterSecretSource",
    "DirectorySecretSource",
    "EnvSecretSource",
    "SecretSource",
    "env_var_name",
    "read_basic_auth",
    "read_bearer_token",
    "read_parameters_from",
]

_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")


def env_var_name(namespace: str, name: str, key: str) -> str:
    """``CATALOGCTL_SECRET_<NAMESPACE>_<NAME>_<KEY>`` with non-alphanumerics as ``_``."""
    parts = (namespace, name, key)
    return "CATALOGCTL_SECRET_" + "_".join(_NON_ALNUM.sub("_", p).upper() for p in parts)


@runtime_checkable
class SecretSource(Protocol):
    """One place Secret values can come from."""

    @property
    def description(self) -> str: ...

    def read_key(self, namespace: str, name: str, key: str) -> bytes | None:
        """The key's value, or None when this source does not have it."""
        ...

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        """Every key of the Secret, or None when this source cannot list it."""
        ...


class EnvSecretSource:
    """Environment variables (see :func:`env_var_name`)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    @property
    def description(self) -> str:
        return "environment (CATALOGCTL_SECRET_*)"

    def read_key(self, namespace: str, name: str, key: str) -> bytes | None:
        value = self._environ.get(env_var_name(namespace, name, key))
        return None if value is None else value.encode("utf-8")

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return None


class DirectorySecretSource:
    """Files ``DIR/<namespace>/<name>/<key>``, as a mounted Secret volume lays them out.

    Kubernetes mounts keys as symlinks into a ``..data`` directory; names
    starting with ``..`` are that machinery and are skipped when listing.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @property
    def description(self) -> str:
        return f"secrets directory {self.root}"

    def _dir(self, namespace: str, name: str) -> Path | None:
        if any(not p or "/" in p or p.startswith("..") for p in (namespace, name)):
            return None
        return self.root / namespace / name

    def read_key(self, namespace: str, name: str, key: str) -> bytes | None:
        base = self._dir(namespace, name)
        if base is None or not key or "/" in key or key.startswith(".."):
            return None
        try:
            return (base / key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        base = self._dir(namespace, name)
        if base is None or not base.is_dir():
            return None
        return {
            p.name: p.read_bytes()
            for p in sorted(base.iterdir())
            if not p.name.startswith("..") and p.is_file()
        }


class ClusterSecretSource:
    """The cluster target (Kubernetes API or cluster directory)."""

    def __init__(self, cluster: ClusterTarget) -> None:
        self.cluster = cluster

    @property
    def description(self) -> str:
        return self.cluster.description

    def read_key(self, namespace: str, name: str, key: str) -> bytes | None:
        return self.cluster.read_secret_key(namespace, name, key)

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        return self.cluster.read_secret(namespace, name)


class ChainSecretSource:
    """Sources tried in order; the first that has the value wins."""

    def __init__(self, sources: Sequence[SecretSource]) -> None:
        self.sources = tuple(sources)

    @classmethod
    def standard(
        cls,
        cluster: ClusterTarget | None,
        secrets_dir: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ChainSecretSource:
        """Environment, then ``--secrets-dir`` (when given), then the cluster (when any)."""
        sources: list[SecretSource] = [EnvSecretSource(environ)]
        if secrets_dir:
            sources.append(DirectorySecretSource(secrets_dir))
        if cluster is not None:
            sources.append(ClusterSecretSource(cluster))
        return cls(sources)

    @property
    def description(self) -> str:
        return ", ".join(s.description for s in self.sources)

    def read_key(self, namespace: str, name: str, key: str) -> bytes | None:
        for source in self.sources:
            value = source.read_key(namespace, name, key)
            if value is not None:
                return value
        return None

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        for source in self.sources:
            data = source.read_secret(namespace, name)
            if data is not None:
                return data
        return None

    def require_key(self, namespace: str, name: str, key: str) -> bytes:
        """The value, or MissingSecretError naming the Secret, key and sources searched."""
        value = self.read_key(namespace, name, key)
        if value is None:
            raise MissingSecretError(
                f"Secret {namespace}/{name} key {key!r} not found (looked in: {self.description}; "
                f"environment variable {env_var_name(namespace, name, key)})"
            )
        return value

    def require_secret(self, namespace: str, name: str) -> dict[str, bytes]:
        """Every key of the Secret, or MissingSecretError (usable as ``read_secret`` callback)."""
        data = self.read_secret(namespace, name)
        if data is None:
            searched = ", ".join(
                s.description for s in self.sources if not isinstance(s, EnvSecretSource)
            )
            raise MissingSecretError(
                f"Secret {namespace}/{name} not found (looked in: {searched or 'nowhere'})"
            )
        return data


def _text(value: bytes, namespace: str, name: str, key: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ClusterError(f"Secret {namespace}/{name} key {key!r} is not UTF-8 text") from None


def read_basic_auth(source: ChainSecretSource, namespace: str, name: str) -> tuple[str, str]:
    """``(username, password)`` for ``authInfo.basic``; both keys are required (as in SC)."""
    user = source.require_key(namespace, name, "username")
    password = source.require_key(namespace, name, "password")
    return (_text(user, namespace, name, "username"), _text(password, namespace, name, "password"))


def read_bearer_token(source: ChainSecretSource, namespace: str, name: str) -> str:
    """The bare ``token`` key for ``authInfo.bearer``."""
    return _text(source.require_key(namespace, name, "token"), namespace, name, "token")


def read_parameters_from(
    source: ChainSecretSource, namespace: str, name: str, key: str
) -> dict[str, Any]:
    """A ``parametersFrom`` value: must be a JSON object (errors never quote it)."""
    raw = source.require_key(namespace, name, key)
    try:
        value = json.loads(raw)
    except ValueError:
        raise ClusterError(
            f"Secret {namespace}/{name} key {key!r}: parametersFrom value is not valid JSON"
        ) from None
    if not isinstance(value, dict):
        raise ClusterError(
            f"Secret {namespace}/{name} key {key!r}: parametersFrom value must be a JSON object"
        )
    return value
