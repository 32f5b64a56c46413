"""Hand-built, realistic plans for the view tests.

Values follow what the engine puts in ``before``/``after`` per kind (see
catalogctl.plan.model); secrets are absent and named by ``sensitive_paths``.
"""

from __future__ import annotations

from typing import Any

from catalogctl.plan.model import Action, Change, Drift, Mode, Plan

NS = "cloud-apps"
BROKER = "ClusterServiceBroker/cloud-broker"
LINEAGE = "5f0c6a1e-8a43-4b0e-9a51-2f1d8c3b7e90"

#: Strings that must never appear in any rendering (see test_secrets).
SECRET_VALUES = ("hunter2-db-password", "s3cr3t-private-checksum", "AKIA-LEAKED-KEY")


def _instance(name: str, **over: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "broker": BROKER,
        "class": "cloud-queue",
        "plan": "standard",
        "service_id": "8a3f8c1e-queue-service",
        "plan_id": "b7e2d4c0-queue-standard",
        "instance_id": f"0d7c-{name}",
        "parameters": {},
        "dashboard_url": None,
        "update_requests": 0,
        "maintenance_info": "1.2.0",
    }
    value.update(over)
    return value


def queue_create() -> Change:
    after = _instance(
        "cloud-queue-instance",
        parameters={
            "region": "europe-west1",
            "retention": {"days": 7, "dead_letter": True},
            "subscribers": ["billing", "audit"],
        },
    )
    del after["instance_id"]
    return Change(
        address=f"ServiceInstance/{NS}/cloud-queue-instance",
        kind="ServiceInstance",
        action=Action.CREATE,
        reason="not in state",
        after=after,
        after_unknown=(("instance_id",), ("dashboard_url",)),
        sensitive_paths=(("parameters", "password"),),
        depends_on=(BROKER,),
        private={"instance_id": "0d7c-new", "parameters_checksum": "s3cr3t-private-checksum"},
    )


def db_update() -> Change:
    before = _instance(
        "cloud-db",
        **{"class": "cloud-sql", "plan": "small"},
        parameters={
            "tier": "db-small",
            "flags": ["log_connections", "log_disconnections"],
            "backup": {"enabled": True, "window": "02:00"},
            "labels": {"team": "payments", "cost-center": "cc-1"},
            "replicas": 1,
            "legacy_mode": False,
            "password": None,
        },
        dashboard_url="https://broker.example.com/dash/cloud-db",
    )
    after = _instance(
        "cloud-db",
        **{"class": "cloud-sql", "plan": "small"},
        parameters={
            "tier": "db-medium",
            "flags": ["log_connections", "slow_query_log", "log_disconnections"],
            "backup": {"enabled": True, "window": "03:00", "retention_days": 14},
            "labels": {"team": "payments", "cost-center": "cc-1"},
            "replicas": True,
            "maintenance": {"day": "sunday", "hours": [2, 3]},
            "password": None,
        },
        dashboard_url="https://broker.example.com/dash/cloud-db",
        update_requests=1,
    )
    return Change(
        address=f"ServiceInstance/{NS}/cloud-db",
        kind="ServiceInstance",
        action=Action.UPDATE,
        reason="parameters differ from the configuration",
        before=before,
        after=after,
        sensitive_paths=(("parameters", "password"),),
        depends_on=(BROKER,),
        private={"changed_keys": ["tier", "flags", "backup", "replicas", "maintenance"]},
    )


def cache_replace() -> Change:
    before = _instance(
        "cloud-cache", **{"class": "cloud-cache", "plan": "basic"},
        plan_id="c1-cache-basic", parameters={"memory_gb": 1},
    )
    after = _instance(
        "cloud-cache", **{"class": "cloud-cache", "plan": "highmem"},
        plan_id="c1-cache-highmem", parameters={"memory_gb": 8},
    )
    del after["instance_id"]
    return Change(
        address=f"ServiceInstance/{NS}/cloud-cache",
        kind="ServiceInstance",
        action=Action.REPLACE,
        reason="plan 'basic' cannot be updated to 'highmem' (plan_updateable: false)",
        before=before,
        after=after,
        after_unknown=(("instance_id",),),
        requires_replace=(("plan",), ("plan_id",)),
    )


def binding_create() -> Change:
    return Change(
        address=f"ServiceBinding/{NS}/cloud-queue-binding",
        kind="ServiceBinding",
        action=Action.CREATE,
        reason="not in state",
        after={
            "instance": f"ServiceInstance/{NS}/cloud-queue-instance",
            "secret_name": "cloud-queue-binding",
            "parameters": {"role": "publisher"},
            "credentials": None,
        },
        after_unknown=(("binding_id",), ("credentials",)),
        sensitive_paths=(("credentials",),),
        depends_on=(f"ServiceInstance/{NS}/cloud-queue-instance",),
    )


def secret_create() -> Change:
    return Change(
        address=f"Secret/{NS}/cloud-queue-binding",
        kind="Secret",
        action=Action.CREATE,
        reason="credentials of ServiceBinding/cloud-apps/cloud-queue-binding",
        after={"namespace": NS, "name": "cloud-queue-binding", "type": "Opaque",
               "data": {"topic": None, "project": None}},
        after_unknown=(("data",),),
        sensitive_paths=(("data", "topic"), ("data", "project")),
    )


def mapping_create() -> Change:
    return Change(
        address=f"PodMapping/{NS}/myapp-queue",
        kind="PodMapping",
        action=Action.CREATE,
        reason="not in state",
        after={
            "target": "Deployment/myapp",
            "containers": ["*"],
            "env": {
                "TOPIC": "secretKeyRef cloud-queue-binding/topic",
                "PROVIDER_APPLICATION_CREDENTIALS": "/var/secrets/provider/key.json",
            },
            "envFrom": None,
            "volume": {"mountPath": "/var/secrets/provider",
                       "items": {"privateKeyData": "key.json"}},
        },
    )


def binding_delete() -> Change:
    return Change(
        address=f"ServiceBinding/{NS}/old-binding",
        kind="ServiceBinding",
        action=Action.DELETE,
        reason="because ServiceBinding/cloud-apps/old-binding is not in configuration",
        before={
            "instance": f"ServiceInstance/{NS}/legacy-queue",
            "binding_id": "6b1e-old-binding",
            "secret_name": "old-binding",
            "parameters": {},
            "credentials": None,
        },
        sensitive_paths=(("credentials",),),
    )


def secret_delete() -> Change:
    return Change(
        address=f"Secret/{NS}/old-binding",
        kind="Secret",
        action=Action.DELETE,
        reason="because ServiceBinding/cloud-apps/old-binding is not in configuration",
        before={"namespace": NS, "name": "old-binding", "type": "Opaque",
                "data": {"uri": None}},
        sensitive_paths=(("data", "uri"),),
    )


def mapping_update() -> Change:
    before = mapping_create().after
    assert before is not None
    after = dict(before, containers=["web", "worker"], envFrom="cloud-queue-binding")
    return Change(
        address=f"PodMapping/{NS}/myapp-queue",
        kind="PodMapping",
        action=Action.UPDATE,
        reason="containers differ from the configuration",
        before=before,
        after=after,
    )


def mapping_delete() -> Change:
    return Change(
        address=f"PodMapping/{NS}/legacy-worker",
        kind="PodMapping",
        action=Action.DELETE,
        reason="because PodMapping/cloud-apps/legacy-worker is not in configuration",
        before={"target": "Deployment/legacy-worker", "containers": ["*"],
                "env": {}, "envFrom": "old-binding", "volume": None},
    )


def legacy_delete() -> Change:
    return Change(
        address=f"ServiceInstance/{NS}/legacy-queue",
        kind="ServiceInstance",
        action=Action.DELETE,
        reason="because ServiceInstance/cloud-apps/legacy-queue is not in configuration",
        before=_instance("legacy-queue", parameters={"region": "us-east1"}),
    )


def noop_broker() -> Change:
    value = {"url": "https://broker.example.com", "insecure_skip_tls_verify": False}
    return Change(address=BROKER, kind="ClusterServiceBroker", action=Action.NOOP,
                  reason="", before=value, after=value)


def drift_entries() -> tuple[Drift, ...]:
    return (
        Drift(
            address=f"ServiceInstance/{NS}/cloud-db",
            kind="ServiceInstance",
            what="changed",
            detail="the broker reports plan_id b7e2-small-v2 and a new dashboard_url",
            before={"plan_id": "b7e2d4c0-queue-standard",
                    "dashboard_url": "https://broker.example.com/dash/cloud-db",
                    "parameters": {"password": None}},
            after={"plan_id": "b7e2-small-v2",
                   "dashboard_url": "https://broker.example.com/d/cloud-db",
                   "parameters": {"password": None}},
        ),
        Drift(
            address=f"Secret/{NS}/cloud-cache-binding",
            kind="Secret",
            what="deleted",
            detail="the Secret was deleted from the cluster",
            before={"namespace": NS, "name": "cloud-cache-binding", "type": "Opaque",
                    "data": {"host": None, "port": None}},
        ),
        Drift(
            address=f"ServiceBinding/{NS}/stray",
            kind="ServiceBinding",
            what="appeared",
            detail="the broker knows a binding that the state does not",
        ),
    )


def full_plan(**over: Any) -> Plan:
    """A normal plan touching every kind with every action, plus drift."""
    values: dict[str, Any] = {
        "mode": Mode.NORMAL,
        "lineage": LINEAGE,
        "serial": 7,
        "changes": (
            noop_broker(), queue_create(), db_update(), cache_replace(), binding_create(),
            secret_create(), mapping_create(), binding_delete(), secret_delete(),
            mapping_delete(), legacy_delete(),
        ),
        "drift": drift_entries(),
        "upgrades_available": (f"ServiceInstance/{NS}/cloud-db: maintenance 1.2.0 -> 1.3.0",),
        "created_at": "2026-11-26T15:00:00Z",
        "catalogctl_version": "0.1.0",
    }
    values.update(over)
    return Plan(**values)


def small_plan() -> Plan:
    """One instance created, one updated: the colour golden's subject."""
    return full_plan(changes=(queue_create(), mapping_update()), drift=(),
                     upgrades_available=())


def empty_plan(mode: Mode) -> Plan:
    return full_plan(mode=mode, changes=(noop_broker(),), drift=(), upgrades_available=())


def destroy_plan() -> Plan:
    return full_plan(
        mode=Mode.DESTROY,
        changes=(binding_delete(), secret_delete(), mapping_delete(), legacy_delete()),
        drift=(), upgrades_available=(),
    )


def refresh_only_plan() -> Plan:
    return full_plan(mode=Mode.REFRESH_ONLY, changes=(), upgrades_available=())


def leaky_plan() -> Plan:
    """A plan whose caller wrongly left secrets at sensitive paths and in private."""
    create = queue_create()
    after = dict(create.after or {})
    after["parameters"] = dict(after["parameters"], password=SECRET_VALUES[0])
    update = db_update()
    before = dict(update.before or {})
    before["parameters"] = dict(before["parameters"], password=SECRET_VALUES[2])
    after2 = dict(update.after or {})
    after2["parameters"] = dict(after2["parameters"], password=SECRET_VALUES[0])
    binding = binding_delete()
    bbefore = dict(binding.before or {}, credentials={"key": SECRET_VALUES[2]})
    secret = secret_delete()
    sbefore = dict(secret.before or {}, data={"uri": SECRET_VALUES[0]})
    changes = (
        Change(**{**create.__dict__, "after": after,
                  "private": {"password": SECRET_VALUES[1]}}),
        Change(**{**update.__dict__, "before": before, "after": after2}),
        Change(**{**binding.__dict__, "before": bbefore, "sensitive_paths": ()}),
        Change(**{**secret.__dict__, "before": sbefore, "sensitive_paths": ()}),
    )
    drift = (
        Drift(address=f"Secret/{NS}/old-binding", kind="Secret", what="changed",
              detail="data changed", before={"data": {"uri": SECRET_VALUES[2]}},
              after={"data": {"uri": SECRET_VALUES[0]}}),
        Drift(address=f"ServiceInstance/{NS}/cloud-db", kind="ServiceInstance",
              what="changed", detail="password rotated",
              before={"parameters": {"password": SECRET_VALUES[2]}},
              after={"parameters": {"password": SECRET_VALUES[0]}}),
    )
    return full_plan(changes=changes, drift=drift)
