"""``DirectoryCluster``: a :class:`ClusterTarget` made of YAML files.

Layout: ``DIR/<namespace>/<kind-lowercase>/<name>.yaml`` (``secret``,
``deployment``, ``statefulset``, ``daemonset``, ``job``, ``cronjob``), each
file one Kubernetes object exactly as ``kubectl get -o yaml`` would show it
(Secret ``data`` base64-encoded), so the directory can be inspected, committed
or ``kubectl apply``-ed.  It serves the quickstart when no cluster is
configured and lets the whole plan/apply cycle run without an apiserver.

Mappings go through the same pure code as :class:`KubeCluster`
(:func:`plan_apply`, then :func:`strategic_merge` locally instead of a PATCH),
so both targets produce the same objects.

Secrets written here are plaintext on disk (base64 is not encryption): files
are created with mode 0600 and a warning is logged once per directory.  Every
write goes to a temporary file in the same directory, is fsync'd and renamed
into place, so a crash never leaves a half-written object.  A lock per object
serialises read-modify-write sequences on it from the engine's threads.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import yaml

from catalogctl.errors import ClusterError
from catalogctl.model.names import dns1123_label_error, dns1123_subdomain_error
from catalogctl.providers.kubernetes.access import Access
from catalogctl.providers.kubernetes.filewrites import atomic_write
from catalogctl.providers.kubernetes.mappings import (
    POD_SPEC_PATHS,
    MappingEntries,
    MappingObservation,
    MappingPatch,
    WorkloadNotFound,
    observe_entries,
    plan_apply,
    plan_remove,
)
from catalogctl.providers.kubernetes.rollouts import RolloutStatus
from catalogctl.providers.kubernetes.secrets import (
    SecretObservation,
    check_owner,
    decode_data,
    observation_of,
    secret_data_digest,
    secret_manifest,
)
from catalogctl.providers.kubernetes.statemark import StateMark

__all__ = ["DirectoryCluster"]

logger = logging.getLogger(__name__)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class DirectoryCluster:
    """Secrets and workloads as files under ``root``."""

    _warned: ClassVar[set[Path]] = set()
    _warned_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: str | os.PathLike[str], default_namespace: str = "default") -> None:
        self.root = Path(root)
        self._root = str(self.root)
        self._default_namespace = default_namespace
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._made_dirs: set[str] = set()
        #: directories under the root found to be real directories (not links)
        self._real_dirs: set[str] = set()
        self._plaintext_warned = False

    @property
    def description(self) -> str:
        return f"cluster directory {self.root}"

    @property
    def default_namespace(self) -> str:
        return self._default_namespace

    # --- files ------------------------------------------------------------------------------------

    def path_of(self, namespace: str, kind: str, name: str) -> Path:
        """Where an object lives; names are validated so they cannot escape the root."""
        return Path(self._path(namespace, kind, name))

    def _path(self, namespace: str, kind: str, name: str) -> str:
        # The API server's name rules: no "/", no "..", so no path leaves the root.
        if dns1123_label_error(namespace) or dns1123_subdomain_error(name):
            raise ClusterError(f"{kind} {namespace}/{name}: invalid name for {self.description}")
        self._refuse_links(f"{self._root}/{namespace}", f"{self._root}/{namespace}/{kind.lower()}")
        return f"{self._root}/{namespace}/{kind.lower()}/{name}.yaml"

    def _refuse_links(self, *directories: str) -> None:
        """Raise ClusterError if the root or one of ``directories`` is a link or not a directory.

        A link committed into a cluster directory would send writes (Secrets!)
        anywhere on the machine, so none is followed: directories are checked
        with ``lstat`` (once per run each; missing ones are created real), files
        are opened with ``O_NOFOLLOW``.
        """
        for path in (self._root, *directories):
            if path in self._real_dirs:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                return  # created as a real directory when written to
            except OSError as e:
                raise ClusterError(f"{path}: {e.strerror}") from None
            if stat.S_ISLNK(st.st_mode):
                raise ClusterError(
                    f"{path} is a symbolic link; catalogctl does not follow links in "
                    f"{self.description}"
                )
            if not stat.S_ISDIR(st.st_mode):
                raise ClusterError(f"{path} is not a directory ({self.description})")
            self._real_dirs.add(path)

    @contextlib.contextmanager
    def _locked(self, path: str) -> Iterator[None]:
        """Hold the lock of the object at ``path`` for a read-modify-write sequence."""
        with self._locks_guard:
            lock = self._locks.setdefault(path, threading.Lock())
        with lock:
            yield

    def _read(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        return self._read_at(self._path(namespace, kind, name), namespace, kind, name)

    def _read_at(self, path: str, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ClusterError(
                    f"{path} is a symbolic link; catalogctl does not follow links in "
                    f"{self.description}"
                ) from None
            raise ClusterError(f"read {path}: {e.strerror}") from None
        try:
            with open(fd, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ClusterError(f"read {path}: {e.strerror}") from None
        try:
            obj = yaml.load(data, Loader=_Loader)
        except yaml.YAMLError:
            # The parser's message may quote file content, which can be Secret data.
            raise ClusterError(f"read {path}: not valid YAML") from None
        if not isinstance(obj, dict):
            raise ClusterError(f"read {path}: expected one {kind} object")
        obj.setdefault("kind", kind)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("name", name)
        meta.setdefault("namespace", namespace)
        return obj

    def _write(self, path: str, kind: str, obj: Mapping[str, Any]) -> None:
        mode = 0o600 if kind == "Secret" else 0o644
        try:
            text = yaml.dump(dict(obj), Dumper=_Dumper, sort_keys=False, default_flow_style=False)
            atomic_write(path, text.encode("utf-8"), mode, self._made_dirs)
        except OSError as e:
            raise ClusterError(f"write {path}: {e.strerror}") from None

    def _warn_plaintext(self) -> None:
        if self._plaintext_warned:  # checked before resolving the path: once per write
            return
        self._plaintext_warned = True
        root = self.root.resolve()
        with self._warned_lock:
            if root in self._warned:
                return
            self._warned.add(root)
        logger.warning(
            "Secrets are written in plaintext (base64) to %s; keep this directory private "
            "and out of version control",
            self.root,
        )

    # --- Secrets ----------------------------------------------------------------------------------

    def read_secret(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self._read(namespace, "Secret", name)
        if obj is None:
            return None
        data = decode_data(obj.get("data") or {})
        for key, value in (obj.get("stringData") or {}).items():
            data[key] = str(value).encode("utf-8")
        return data

    def read_secret_key(self, namespace: str, name: str, key: str) -> bytes | None:
        data = self.read_secret(namespace, name)
        return None if data is None else data.get(key)

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation:
        return observation_of(namespace, name, self._read(namespace, "Secret", name))

    def write_binding_secret(
        self,
        *,
        namespace: str,
        name: str,
        owner: str,
        data: Mapping[str, bytes],
        mark: StateMark | None = None,
    ) -> SecretObservation:
        """Create or update a binding Secret ``owner`` owns; unchanged content is not rewritten.

        ``mark`` (the state this run writes for) is recorded on the Secret.
        """
        path = self._path(namespace, "Secret", name)
        with self._locked(path):
            current = self._read_at(path, namespace, "Secret", name)
            if current is not None:
                check_owner(
                    "Secret",
                    namespace,
                    name,
                    current.get("metadata") or {},
                    owner,
                    "overwrite",
                    mark,
                )
            body = secret_manifest(namespace, name, owner, data, base=current, mark=mark)
            body["metadata"].pop("resourceVersion", None)
            if current is not None:
                before = observation_of(namespace, name, current)
                if before.data_sha256 == secret_data_digest(data) and current == body:
                    return before
            self._warn_plaintext()
            self._write(path, "Secret", body)
        logger.info("wrote Secret %s/%s for %s to %s", namespace, name, owner, self.root)
        return observation_of(namespace, name, body)

    def delete_binding_secret(self, *, namespace: str, name: str, owner: str) -> bool:
        path = self._path(namespace, "Secret", name)
        with self._locked(path):
            current = self._read_at(path, namespace, "Secret", name)
            if current is None:
                return False
            check_owner("Secret", namespace, name, current.get("metadata") or {}, owner, "delete")
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            logger.info("deleted Secret %s/%s of %s from %s", namespace, name, owner, self.root)
            return True

    # --- workloads --------------------------------------------------------------------------------

    def read_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        if kind not in POD_SPEC_PATHS:
            raise ClusterError(
                f"kind {kind} cannot be a PodMapping target (one of {', '.join(POD_SPEC_PATHS)})"
            )
        return self._read(namespace, kind, name)

    def rollout_status(self, namespace: str, kind: str, name: str) -> RolloutStatus:
        """Always done: no controller acts on a cluster directory, so nothing rolls out here."""
        return RolloutStatus(True)

    def _require_workload(self, namespace: str, kind: str, name: str) -> dict[str, Any]:
        obj = self.read_workload(namespace, kind, name)
        if obj is None:
            raise WorkloadNotFound(
                f"{kind} {namespace}/{name} not found in {self.description} (expected "
                f"{self.path_of(namespace, kind, name)}); a PodMapping can only patch an existing "
                f"workload"
            )
        return obj

    def observe_mapping(
        self, *, namespace: str, kind: str, name: str, address: str, entries: MappingEntries | None
    ) -> MappingObservation:
        if entries is None:
            obj = self.read_workload(namespace, kind, name)
            if obj is None:
                return MappingObservation(address, f"{kind}/{namespace}/{name}", False, False)
        else:
            obj = self._require_workload(namespace, kind, name)
        return observe_entries(obj, address, entries)

    def apply_mapping(
        self, *, namespace: str, kind: str, name: str, entries: MappingEntries
    ) -> MappingPatch:
        path = self._path(namespace, kind, name)
        with self._locked(path):
            obj = self._require_workload(namespace, kind, name)
            result = plan_apply(obj, entries)
            if result.changed:
                self._write(path, kind, result.after)
            return result

    def remove_mapping(
        self, *, namespace: str, kind: str, name: str, address: str
    ) -> MappingPatch | None:
        path = self._path(namespace, kind, name)
        with self._locked(path):
            obj = self.read_workload(namespace, kind, name)
            if obj is None:
                return None
            result = plan_remove(obj, address)
            if result.changed:
                self._write(path, kind, result.after)
            return result

    def namespace_uid(self, namespace: str) -> str | None:
        """Directories have no namespace objects, so no UID (brokers get the namespace name)."""
        return None

    # --- permissions ------------------------------------------------------------------------------

    def check_access(self, accesses: Sequence[Access]) -> list[str]:
        """Whether every directory the accesses write to is a real, writable directory.

        Each existing directory on the way (root, namespace, kind) must be a
        directory and not a link; the deepest existing one must take a new
        file (a probe file is created and removed: permission bits alone say
        nothing for root or on a read-only mount).
        """
        problems: list[str] = []
        wanted = sorted({(a.namespace, a.resource) for a in accesses})
        probed: set[str] = set()
        for namespace, resource in wanted:
            kind_dir = _KIND_DIRS.get(resource, resource)
            try:
                self._path(namespace, kind_dir, "probe")
            except ClusterError as e:
                if str(e) not in problems:
                    problems.append(str(e))
                continue
            deepest = _deepest_existing(f"{self._root}/{namespace}/{kind_dir}")
            if deepest in probed:
                continue
            probed.add(deepest)
            if not os.path.isdir(deepest):
                problems.append(f"{deepest} is not a directory ({self.description})")
                continue
            probe = f"{deepest}/.catalogctl-probe.{os.getpid()}.{threading.get_ident()}"
            try:
                os.close(
                    os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                )
                os.unlink(probe)
            except OSError as e:
                problems.append(f"cannot write in {deepest} ({self.description}): {e.strerror}")
        return problems


#: resource (as in an Access) -> the directory its objects live in
_KIND_DIRS: dict[str, str] = {
    "secrets": "secret",
    "deployments": "deployment",
    "statefulsets": "statefulset",
    "daemonsets": "daemonset",
    "jobs": "job",
    "cronjobs": "cronjob",
}


def _deepest_existing(path: str) -> str:
    """``path`` or its nearest ancestor that exists (without following a final link)."""
    while not os.path.lexists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path
