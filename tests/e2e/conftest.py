"""Helpers for the end-to-end tests: a workspace (desired-state files, state and cluster
directories) driven through the real CLI, a request recorder for the openbrokerapi broker,
output normalisation for golden files, and bounded polling."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.brokers.obapi import ObapiBroker
from tests.cli import CliResult, run_cli

GOLDEN = Path(__file__).parent / "golden"
AUTH_NAMESPACE = "catalogctl-system"
AUTH_NAME = "obapi-auth"

T = TypeVar("T")


@pytest.fixture(autouse=True)
def _quiet_test_servers() -> Iterator[None]:
    """werkzeug logs every request of the test broker at INFO; keep it out of captured output."""
    logger = logging.getLogger("werkzeug")
    before = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(before)


# --------------------------------------------------------------------------- recording


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: str
    body: Any


class RecordingMiddleware:
    """WSGI middleware recording every request (method, path, query, JSON body)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[Recorded] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(
            Recorded(
                environ["REQUEST_METHOD"],
                environ["PATH_INFO"],
                environ.get("QUERY_STRING", ""),
                body,
            )
        )
        return self.app(environ, start_response)

    def of(self, method: str, pattern: str = "") -> list[Recorded]:
        regex = re.compile(pattern)
        return [r for r in self.requests if r.method == method and regex.search(r.path)]


@pytest.fixture
def obapi_recorder(obapi_broker: ObapiBroker) -> RecordingMiddleware:
    """Record what the openbrokerapi broker receives (it keeps no request log itself)."""
    server = obapi_broker._server
    recorder = RecordingMiddleware(server.app)
    server.app = recorder
    return recorder


# --------------------------------------------------------------------------- workspace


@dataclass
class Workspace:
    """Desired-state YAML in ``services/``, state in ``state/``, and a cluster target."""

    root: Path
    cluster_dir: Path | None = None
    kubeconfig: Path | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Path:
        return self.root / "services"

    @property
    def state(self) -> Path:
        return self.root / "state"

    def write(self, name: str, text: str) -> Path:
        self.services.mkdir(parents=True, exist_ok=True)
        path = self.services / name
        path.write_text(text)
        self.files[name] = text
        return path

    def remove(self, name: str) -> None:
        (self.services / name).unlink()
        self.files.pop(name, None)

    def target_args(self) -> list[str]:
        args = ["--state", str(self.state)]
        if self.cluster_dir is not None:
            args += ["--cluster-dir", str(self.cluster_dir)]
        if self.kubeconfig is not None:
            args += ["--kubeconfig", str(self.kubeconfig)]
        return args

    def run(self, command: str, *extra: str, with_files: bool = True) -> CliResult:
        """``catalogctl --no-color COMMAND -f services --state ... EXTRA`` in-process."""
        args = ["--no-color", command]
        if with_files:
            args += ["-f", str(self.services)]
        return run_cli(*args, *self.target_args(), *extra)

    def ok(self, command: str, *extra: str, code: int = 0, with_files: bool = True) -> CliResult:
        result = self.run(command, *extra, with_files=with_files)
        assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    def state_doc(self) -> dict[str, Any]:
        path = self.state / "catalogctl.state.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def resources(self) -> dict[str, Any]:
        return dict(self.state_doc().get("resources") or {})

    # cluster directory helpers
    def cluster_object(self, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
        assert self.cluster_dir is not None
        path = self.cluster_dir / namespace / kind.lower() / f"{name}.yaml"
        if not path.exists():
            return None
        loaded = yaml.safe_load(path.read_text())
        assert isinstance(loaded, dict)
        return loaded

    def secret_data(self, namespace: str, name: str) -> dict[str, bytes] | None:
        obj = self.cluster_object(namespace, "Secret", name)
        if obj is None:
            return None
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}


def broker_yaml(url: str, *, name: str = "obapi", auth: bool = True) -> str:
    text = f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: {name}
spec:
  url: {url}
"""
    if auth:
        text += f"""\
  authInfo:
    basic:
      secretRef:
        namespace: {AUTH_NAMESPACE}
        name: {AUTH_NAME}
"""
    return text


@pytest.fixture
def obapi_auth(obapi_broker: ObapiBroker, monkeypatch: pytest.MonkeyPatch) -> ObapiBroker:
    """The broker's basic-auth Secret provided the CI way, through CATALOGCTL_SECRET_* vars."""
    prefix = "CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_OBAPI_AUTH_"
    monkeypatch.setenv(prefix + "USERNAME", obapi_broker.username)
    monkeypatch.setenv(prefix + "PASSWORD", obapi_broker.password)
    return obapi_broker


def service_catalog_data(credentials: Mapping[str, Any]) -> dict[str, bytes]:
    """Secret data as Service Catalog writes it: strings raw, everything else as compact,
    key-sorted JSON (Go's json.Marshal for the plain values the test brokers return)."""
    out = {}
    for key, value in credentials.items():
        if isinstance(value, str):
            out[key] = value.encode()
        else:
            out[key] = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    return out


# --------------------------------------------------------------------------- normalising

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PORT = re.compile(r"127\.0\.0\.1:\d+")
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?")
_HEX = re.compile(r"\b[0-9a-f]{64}\b")


def normalise(text: str) -> str:
    """Replace what differs between runs: ids (numbered in order of appearance), ports,
    timestamps, checksums and the catalogctl version."""
    ids: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"<id-{len(ids) + 1}>")

    text = _UUID.sub(number, text)
    text = _PORT.sub("127.0.0.1:<port>", text)
    text = _TIMESTAMP.sub("<timestamp>", text)
    text = _HEX.sub("<sha256>", text)
    from catalogctl import __version__

    return text.replace(f'"{__version__}"', '"<version>"')


def assert_golden(name: str, actual: str) -> None:
    """Compare with ``golden/NAME``; ``UPDATE_GOLDEN=1`` rewrites the file instead."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
    assert path.exists(), f"{path} is missing: run with UPDATE_GOLDEN=1 to create it"
    expected = path.read_text()
    assert actual == expected, f"output differs from {path} (UPDATE_GOLDEN=1 to regenerate)"


# --------------------------------------------------------------------------- waiting


def wait_for(condition: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``condition`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def instance_yaml(name: str, plan: str = "sync", *, namespace: str = "apps", **params: Any) -> str:
    """A ServiceInstance of the programmable broker's ``programmable-db`` class."""
    text = f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: {name}
  namespace: {namespace}
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: {plan}
"""
    if params:
        text += "  parameters:\n" + "".join(
            f"    {k}: {json.dumps(v)}\n" for k, v in params.items()
        )
    return text


def binding_yaml(name: str, instance: str, *, namespace: str = "apps") -> str:
    return f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: {name}
  namespace: {namespace}
spec:
  instanceRef:
    name: {instance}
"""


MUTATING = ("PUT", "PATCH", "DELETE", "POST")


def mutating(requests: list[Any]) -> list[tuple[str, str]]:
    """(method, path) of every request that could change something."""
    return [(r.method, r.path) for r in requests if r.method in MUTATING]
