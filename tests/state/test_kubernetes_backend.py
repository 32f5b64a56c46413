"""The Kubernetes backend: the conformance suite plus what only Secrets and Leases show.

Everything runs against the real kube-apiserver of ``tests/cluster`` (TLS, RBAC,
audit log), each test in a namespace of its own.
"""

from __future__ import annotations

import base64
import functools
import gzip
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from catalogctl.errors import LockError, StateError
from catalogctl.state import State, StateBackend
from catalogctl.state.kubernetes import KubernetesBackend
from catalogctl.state.naming import KubernetesStateName
from tests.fixtures.cluster import KubeApiServer
from tests.state.conformance import (
    BackendFactory,
    StateBackendConformance,
    instance,
    locked,
    run,
)


class ShiftedClock:
    """Real time plus an offset a test moves forward (picklable for child processes)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass(frozen=True)
class StateCluster:
    """Where the tests keep states: an API server and a namespace (picklable for children)."""

    url: str
    token: str
    namespace: str = "default"
    ca_file: str | None = None

    def api_client(self) -> Any:
        configuration = client.Configuration()
        configuration.host = self.url
        if self.ca_file is not None:
            configuration.ssl_ca_cert = self.ca_file
        configuration.api_key = {"authorization": self.token}
        configuration.api_key_prefix = {"authorization": "Bearer"}
        return client.ApiClient(configuration)


@pytest.fixture
def state_cluster(kube_apiserver: KubeApiServer, kube_namespace: str) -> StateCluster:
    return StateCluster(
        url=kube_apiserver.url,
        token=kube_apiserver.token,
        namespace=kube_namespace,
        ca_file=str(kube_apiserver.cluster.ca_file),
    )


def make_backend(
    cluster: StateCluster, name: str, clock: ShiftedClock, **kwargs: Any
) -> KubernetesBackend:
    return KubernetesBackend(
        KubernetesStateName(cluster.namespace, name), cluster.api_client, clock=clock, **kwargs
    )


def secrets_of(backend: KubernetesBackend) -> list[Any]:
    core = backend.api.core
    selector = f"catalogctl.io/state={backend.target.name}"
    return list(core.list_namespaced_secret(backend.namespace, label_selector=selector).items)


class TestKubernetesBackendConformance(StateBackendConformance):
    @pytest.fixture
    def factory(self, state_cluster: StateCluster) -> BackendFactory:
        return functools.partial(
            make_backend, state_cluster, f"t{uuid.uuid4().hex[:10]}", ShiftedClock()
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
            f"{backend.base_name}.j{seq}",
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


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def make(state_cluster: StateCluster, clock: ShiftedClock) -> BackendFactory:
    return functools.partial(make_backend, state_cluster, "prod", clock)


def _lease(backend: KubernetesBackend) -> Any:
    return backend.api.coordination.read_namespaced_lease(backend.base_name, backend.namespace)


def test_large_state_is_chunked_and_chunks_are_written_before_the_index(
    make: BackendFactory,
    kube_apiserver: KubeApiServer,
    state_cluster: StateCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import catalogctl.state.kubernetes as kube_state

    monkeypatch.setattr(kube_state, "CHUNK_BYTES", 2048)
    resources = tuple(
        instance(f"i{n}", parameters={"noise": "".join(uuid.uuid4().hex for _ in range(4))})
        for n in range(100)
    )
    backend = make()
    assert isinstance(backend, KubernetesBackend)
    written = run(backend, record=resources)
    secrets = {s.metadata.name: s for s in secrets_of(backend)}
    chunks = sorted(n for n in secrets if n.startswith(f"{backend.base_name}.g1.c"))
    assert len(chunks) > 3
    for name in chunks:
        assert secrets[name].type == "catalogctl.io/state"
        assert secrets[name].metadata.labels["catalogctl.io/role"] == "chunk"
        assert len(base64.b64decode(secrets[name].data["chunk"])) <= 2048
    assert make().read() == written
    # Every chunk was created before the index pointed at them (the server's audit log).
    writes = [
        r.name
        for r in kube_apiserver.audit(state_cluster.namespace)
        if r.resource == "secrets" and r.verb in ("create", "update") and r.code < 300
    ]
    assert writes.index(backend.base_name) > max(writes.index(c) for c in chunks)


def test_journal_steps_are_small_objects_removed_at_commit(make: BackendFactory) -> None:
    backend = make()
    assert isinstance(backend, KubernetesBackend)
    run(backend, record=tuple(instance(f"i{n}") for n in range(30)))
    with locked(backend):
        journal = backend.begin(backend.read())
        before = len(secrets_of(backend))
        journal.record(instance("x"))
        journal.record(instance("y"))
        roles = [s.metadata.labels["catalogctl.io/role"] for s in secrets_of(backend)]
        assert len(roles) == before + 2 and roles.count("journal") == 3  # header + 2 steps
        journal.commit()
    roles = [s.metadata.labels["catalogctl.io/role"] for s in secrets_of(backend)]
    assert roles.count("journal") == 0
    # The index and two generations (current and backup), nothing older.
    assert roles.count("index") == 1
    gens = {
        s.metadata.name.split(".g")[1].split(".")[0]
        for s in secrets_of(backend)
        if s.metadata.labels["catalogctl.io/role"] == "chunk"
    }
    assert gens == {"1", "2"}


def test_lease_fields_and_renewal(make: BackendFactory, clock: ShiftedClock) -> None:
    backend = make()
    assert isinstance(backend, KubernetesBackend)
    with locked(backend) as info:
        lease = _lease(backend)
        assert lease.spec.holder_identity == info.id
        assert lease.spec.lease_duration_seconds == 60
        first = lease.spec.renew_time
        assert lease.metadata.labels["catalogctl.io/role"] == "lock"
        clock.advance(30)
        renewer = backend._renewer
        assert renewer is not None
        renewer.renew(backend)
        renewed = _lease(backend).spec.renew_time
        assert renewed - first >= timedelta(seconds=30)
        # Renewed, so 45 s after the first renewTime it is not expired for others.
        clock.advance(45)
        other = make()
        with pytest.raises(LockError, match=f"lock id {info.id}"):
            other.lock("apply", timeout=0)
        assert other.taken_over() is None
    assert make().lock_info() is None


def test_expired_lease_taken_over_and_the_old_holder_stops(
    make: BackendFactory, clock: ShiftedClock
) -> None:
    old = make()
    assert isinstance(old, KubernetesBackend)
    old_info = old.lock("apply", timeout=0)
    journal = old.begin(old.read())
    journal.record(instance("a"))
    clock.advance(61)  # the old run stopped renewing (a frozen node)
    new = make()
    info = new.lock("apply", timeout=0)
    gone = new.taken_over()
    assert gone is not None and gone.id == old_info.id
    # The old run notices at its next renewal and writes no further step.
    renewer = old._renewer
    assert renewer is not None
    renewer.renew(old)
    assert old.lease_lost() is not None
    with pytest.raises(StateError, match="no longer held"):
        journal.record(instance("b"))
    assert set(new.read().resources) == {"ServiceInstance/ns/a"}
    new.unlock(info.id)
    old.unlock(old_info.id)  # releasing a lost Lease leaves the new holder's alone


def test_two_runs_racing_for_an_expired_lease_cannot_both_win(
    make: BackendFactory, clock: ShiftedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = make()
    dead.lock("apply", timeout=0)
    assert isinstance(dead, KubernetesBackend) and dead._renewer is not None
    dead._renewer.stop()
    clock.advance(61)
    first, second = make(), make()
    assert isinstance(first, KubernetesBackend) and isinstance(second, KubernetesBackend)
    stale = _lease(first)  # both read the expired Lease at the same moment ...
    real_read = second.api.coordination.read_namespaced_lease
    reads = iter([stale])
    monkeypatch.setattr(
        second.api.coordination,
        "read_namespaced_lease",
        lambda *a, **k: next(reads, None) or real_read(*a, **k),
    )
    won = first.lock("apply", timeout=0)  # ... the first writes first ...
    with pytest.raises(LockError, match=f"lock id {won.id}"):
        second.lock("apply", timeout=0)  # ... and the second's write is refused (409)
    assert first.lock_info() == won
    first.unlock(won.id)


#: The Role docs/state.md lists, as RBAC rules.
DOCUMENTED_RULES = [
    {
        "apiGroups": [""],
        "resources": ["secrets"],
        "verbs": ["get", "list", "create", "update", "delete", "deletecollection"],
    },
    {
        "apiGroups": ["coordination.k8s.io"],
        "resources": ["leases"],
        "verbs": ["get", "create", "update", "delete"],
    },
]


def _limited(kube_apiserver: KubeApiServer, namespace: str) -> KubernetesBackend:
    from catalogctl.engine.statestore import open_state

    backend = open_state(
        f"kubernetes://{namespace}/prod",
        kubeconfig=str(kube_apiserver.kubeconfig(namespace, limited=True)),
    )
    assert isinstance(backend, KubernetesBackend)
    return backend


def test_the_documented_role_is_enough_for_every_step(
    kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    kube_apiserver.grant(kube_namespace, DOCUMENTED_RULES)
    backend = _limited(kube_apiserver, kube_namespace)
    with locked(backend):
        assert backend.check_writable() == []
        journal = backend.begin(backend.read())
        journal.record(instance("a"))
        journal.commit()
    state = run(backend, record=(instance("b"),), forget=("ServiceInstance/ns/a",))
    assert set(_limited(kube_apiserver, kube_namespace).read().resources) == set(state.resources)
    holder = _limited(kube_apiserver, kube_namespace)
    info = holder.lock("apply", timeout=0)
    _limited(kube_apiserver, kube_namespace).force_unlock(info.id)
    assert backend.lock_info() is None


def test_write_problems_name_each_verb_the_role_lacks(
    kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    kube_apiserver.grant(
        kube_namespace,
        [
            {
                "apiGroups": [""],
                "resources": ["secrets"],
                "verbs": ["get", "list", "create", "update"],
            },
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "delete"],
            },
        ],
    )
    backend = _limited(kube_apiserver, kube_namespace)
    where = f"Kubernetes state kubernetes://{kube_namespace}/prod"
    assert backend.check_writable() == [
        f"{where}: not allowed to delete secrets in namespace {kube_namespace}",
        f"{where}: not allowed to deletecollection secrets in namespace {kube_namespace}",
        f"{where}: not allowed to update leases in namespace {kube_namespace}",
    ]
