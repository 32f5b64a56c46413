"""Realistic state for the state-reading commands, written the way apply writes it.

States are built through the real :class:`LocalBackend` (lock, begin, record,
commit, unlock), with the attribute layout the executor records for an
instance, its binding, the binding's Secret and a PodMapping, so the commands
under test read exactly what a real run leaves behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from catalogctl.state import LocalBackend, ResourceState, State

BROKER = "ClusterServiceBroker/demo"
INSTANCE = "ServiceInstance/default/db"
BINDING = "ServiceBinding/default/db-binding"
SECRET = "Secret/default/db-creds"
MAPPING = "PodMapping/default/web-db"
WHEN = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)

BROKER_RECORD = {
    "address": BROKER,
    "url": "http://127.0.0.1:9000",
    "api_version": "2.17",
    "auth_kind": "basic",
    "auth_namespace": "default",
    "auth_name": "demo-auth",
    "ca_bundle": None,
    "insecure_skip_tls_verify": False,
}


def instance(address: str = INSTANCE, **update: object) -> ResourceState:
    data: dict[str, object] = dict(
        address=address,
        kind="ServiceInstance",
        broker=BROKER,
        service_id="svc-db",
        plan_id="plan-small",
        instance_id="6f1c6a1e-0000-4000-8000-000000000001",
        parameters={"size": "small", "tags": ["a", "b"]},
        sensitive_parameter_keys=("password",),
        parameters_checksum="a" * 64,
        dashboard_url="http://127.0.0.1:9000/dashboard/1",
        depends_on=(BROKER,),
        updated_at=WHEN,
        attributes={
            "broker_record": BROKER_RECORD,
            "instances_retrievable": True,
            "bindings_retrievable": True,
            "update_requests": 0,
            "maximum_polling_duration": None,
            "display": {"class": "database", "plan": "small", "update_requests": 0},
        },
    )
    data.update(update)
    return ResourceState.model_validate(data)


def binding(address: str = BINDING, **update: object) -> ResourceState:
    data: dict[str, object] = dict(
        address=address,
        kind="ServiceBinding",
        broker=BROKER,
        service_id="svc-db",
        plan_id="plan-small",
        instance_id="6f1c6a1e-0000-4000-8000-000000000001",
        binding_id="b1d1b1d1-0000-4000-8000-000000000002",
        credentials_hash="c" * 64,
        depends_on=(INSTANCE,),
        updated_at=WHEN,
        attributes={
            "broker_record": BROKER_RECORD,
            "checksum": "d" * 64,
            "bindings_retrievable": True,
            "display": {"instance": INSTANCE, "secret_name": "db-creds"},
        },
    )
    data.update(update)
    return ResourceState.model_validate(data)


def secret(
    address: str = SECRET, keys: tuple[str, ...] = ("password", "uri", "username")
) -> ResourceState:
    ns, name = address.split("/")[1:]
    return ResourceState(
        address=address,
        kind="Secret",
        depends_on=(BINDING,),
        updated_at=WHEN,
        attributes={
            "binding": BINDING,
            "checksum": "e" * 64,
            "data_hash": "f" * 64,
            "keys": list(keys),
            "display": {"namespace": ns, "name": name, "type": "Opaque"},
        },
    )


def mapping(address: str = MAPPING) -> ResourceState:
    return ResourceState(
        address=address,
        kind="PodMapping",
        depends_on=(SECRET,),
        updated_at=WHEN,
        attributes={
            "target": "Deployment/web",
            "checksum": "1" * 64,
            "secret_name": "db-creds",
            "display": {"target": "Deployment/web"},
        },
    )


def standard() -> list[ResourceState]:
    """An instance, its binding, the binding's Secret and a PodMapping using it."""
    return [instance(), binding(), secret(), mapping()]


def write_state(directory: Path, resources: list[ResourceState], *, commits: int = 1) -> State:
    """Commit ``resources`` into a local state at ``directory``; return what was stored.

    ``commits`` > 1 commits the last resource again with a later timestamp,
    so the state has a backup and a serial above 1, as after several runs.
    """
    backend = LocalBackend(directory)
    stored = backend.read()
    for n in range(commits):
        info = backend.lock("apply")
        try:
            journal = backend.begin(stored)
            batch = (
                resources
                if n == 0
                else [resources[-1].model_copy(update={"updated_at": WHEN.replace(minute=n)})]
            )
            for res in batch:
                journal.record(res)
            stored = journal.commit()
        finally:
            backend.unlock(info.id)
    return stored
