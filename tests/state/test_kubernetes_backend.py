"""The Kubernetes backend: the conformance suite plus what only Secrets and Leases show.

Runs against the project's API server emulator (``tests/kube``) over real HTTP
with the official client, until a real kube-apiserver fixture is available.
"""

from __future__ import annotations

import base64
import functools
import gzip
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from catalogctl.state import State, StateBackend
from catalogctl.state.kubernetes import KubernetesBackend
from catalogctl.state.naming import KubernetesStateName
from tests.fixtures.kube import KubeApiServer
from tests.state.conformance import BackendFactory, StateBackendConformance


class ShiftedClock:
    """Real time plus an offset a test moves forward (picklable for child processes)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def api_client_for(url: str) -> Any:
    configuration = client.Configuration()
    configuration.host = url
    configuration.api_key = {"authorization": "emulator-token"}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    return client.ApiClient(configuration)


def make_backend(url: str, name: str, clock: ShiftedClock, **kwargs: Any) -> KubernetesBackend:
    return KubernetesBackend(
        KubernetesStateName("default", name),
        functools.partial(api_client_for, url),
        clock=clock,
        **kwargs,
    )


def secrets_of(backend: KubernetesBackend) -> list[Any]:
    core = backend.api.core
    selector = f"catalogctl.io/state={backend.target.name}"
    return list(core.list_namespaced_secret(backend.namespace, label_selector=selector).items)


class TestKubernetesBackendConformance(StateBackendConformance):
    @pytest.fixture
    def factory(self, kube_apiserver: KubeApiServer) -> BackendFactory:
        return functools.partial(
            make_backend, kube_apiserver.url, f"t{uuid.uuid4().hex[:10]}", ShiftedClock()
        )

    def tear_journal(self, backend: StateBackend) -> None:
        # Each step is a whole object: a kill mid-write leaves it absent or
        # complete, never torn.  A torn object is made by hand to check replay
        # would still drop it.
        assert isinstance(backend, KubernetesBackend)
        seq = len(
            [s for s in secrets_of(backend) if s.metadata.labels["catalogctl.io/role"] == "journal"]
        )
        body = backend._secret_body(
            f"{backend.base_name}-j{seq}",
            "journal",
            {"line": base64.b64encode(b'{"op":"record","resource":{"address":"Se').decode()},
        )
        backend.api.core.create_namespaced_secret(backend.namespace, body)

    def read_backup(self, backend: StateBackend) -> State | None:
        assert isinstance(backend, KubernetesBackend)
        return backend.read_backup()

    def stored_bytes(self, backend: StateBackend) -> bytes:
        assert isinstance(backend, KubernetesBackend)
        out: list[bytes] = []
        for secret in secrets_of(backend):
            for key, value in (secret.data or {}).items():
                raw = base64.b64decode(value)
                out.append(gzip.decompress(raw) if key == "chunk" else raw)
        return b"".join(out)

    def let_time_pass(self, backend: StateBackend, seconds: float) -> None:
        assert isinstance(backend, KubernetesBackend)
        clock = backend._clock
        assert isinstance(clock, ShiftedClock)
        clock.advance(seconds)
