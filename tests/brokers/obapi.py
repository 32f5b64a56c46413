"""A well-behaved OSB broker built on the ``openbrokerapi`` library, on a real socket.

Why a second test broker next to the programmable one: that one injects faults
at the HTTP level; this one is an independent, third-party implementation of
the broker side, so tests that pass against it show catalogctl interoperates
with a broker it did not write.  It is deliberately ordinary: correct status
codes, async operations that finish after ``async_delay`` seconds, schemas the
broker itself enforces.

Catalog (ids are fixed so tests can refer to them):

* ``obapi-db`` (synchronous): ``plan_updateable: true``,
  ``instances_retrievable``, ``bindings_retrievable``; plans ``small`` (create
  schema: ``size`` enum, ``replicas`` integer; update schema: ``replicas``) and
  ``large`` (``maintenance_info`` 2.1.0, ``free: false``).
* ``obapi-queue`` (asynchronous provision, deprovision and bind):
  ``plan_updateable: false``, ``bindings_retrievable``; plans ``standard``,
  ``premium`` (overrides ``plan_updateable: true``) and ``nobind``
  (``bindable: false`` override, no ``free`` field).

Run standalone: ``python -m tests.brokers.obapi --port 0`` prints
``READY http://127.0.0.1:<port>`` once it accepts connections.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import signal
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from flask import Flask
from openbrokerapi import api, errors
from openbrokerapi.catalog import ServicePlan
from openbrokerapi.service_broker import (
    BindDetails,
    Binding,
    BindState,
    DeprovisionDetails,
    DeprovisionServiceSpec,
    GetBindingSpec,
    GetInstanceDetailsSpec,
    LastOperation,
    OperationState,
    ProvisionDetails,
    ProvisionedServiceSpec,
    ProvisionState,
    Service,
    ServiceBroker,
    UnbindDetails,
    UnbindSpec,
    UpdateDetails,
    UpdateServiceSpec,
)
from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["DB_SERVICE_ID", "QUEUE_SERVICE_ID", "ObapiBroker", "start_obapi_broker"]

log = logging.getLogger("tests.brokers.obapi")

DB_SERVICE_ID = "6d0e4a2c-obapi-db"
DB_SMALL_PLAN_ID = "6d0e4a2c-obapi-db-small"
DB_LARGE_PLAN_ID = "6d0e4a2c-obapi-db-large"
QUEUE_SERVICE_ID = "9b7f1e55-obapi-queue"
QUEUE_STANDARD_PLAN_ID = "9b7f1e55-obapi-queue-standard"
QUEUE_PREMIUM_PLAN_ID = "9b7f1e55-obapi-queue-premium"
QUEUE_NOBIND_PLAN_ID = "9b7f1e55-obapi-queue-nobind"

_DRAFT4 = "http://json-schema.org/draft-04/schema#"

DB_SMALL_CREATE_SCHEMA: dict[str, Any] = {
    "$schema": _DRAFT4,
    "type": "object",
    "properties": {
        "size": {"type": "string", "enum": ["s", "m", "l"]},
        "replicas": {"type": "integer", "minimum": 1, "maximum": 5},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "required": ["size"],
    "additionalProperties": False,
}
DB_SMALL_UPDATE_SCHEMA: dict[str, Any] = {
    "$schema": _DRAFT4,
    "type": "object",
    "properties": {"replicas": {"type": ["integer", "null"], "minimum": 1, "maximum": 5}},
    "additionalProperties": False,
}
QUEUE_CREATE_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "topic": {"type": "string", "pattern": "^[a-z][a-z0-9-]{2,40}$"},
        "retentionHours": {"type": "integer", "minimum": 1, "maximum": 168},
    },
    "required": ["topic"],
}
QUEUE_BIND_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"role": {"type": "string", "enum": ["producer", "consumer"]}},
}


def _schemas(
    create: dict[str, Any] | None = None,
    update: dict[str, Any] | None = None,
    bind: dict[str, Any] | None = None,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    instance = {k: {"parameters": v} for k, v in (("create", create), ("update", update)) if v}
    if instance:
        result["service_instance"] = instance
    if bind:
        result["service_binding"] = {"create": {"parameters": bind}}
    return result


def _services() -> list[Service]:
    # openbrokerapi's classes pass unknown keyword arguments through to the JSON,
    # which is how the newer OSB fields (maintenance_info, ...) are published.
    db = Service(
        id=DB_SERVICE_ID,
        name="obapi-db",
        description="A synchronous test database",
        bindable=True,
        plan_updateable=True,
        instances_retrievable=True,
        bindings_retrievable=True,
        tags=["sql", "test"],
        plans=[
            ServicePlan(
                id=DB_SMALL_PLAN_ID,
                name="small",
                description="Small database",
                free=True,
                schemas=_schemas(DB_SMALL_CREATE_SCHEMA, DB_SMALL_UPDATE_SCHEMA),
            ),
            ServicePlan(
                id=DB_LARGE_PLAN_ID,
                name="large",
                description="Large database",
                free=False,
                maximum_polling_duration=600,
                maintenance_info={"version": "2.1.0", "description": "PostgreSQL 16.2"},
            ),
        ],
    )
    queue = Service(
        id=QUEUE_SERVICE_ID,
        name="obapi-queue",
        description="An asynchronous test queue",
        bindable=True,
        plan_updateable=False,
        instances_retrievable=False,
        bindings_retrievable=True,
        plans=[
            ServicePlan(
                id=QUEUE_STANDARD_PLAN_ID,
                name="standard",
                description="Standard queue",
                free=True,
                schemas=_schemas(QUEUE_CREATE_SCHEMA, None, QUEUE_BIND_SCHEMA),
            ),
            ServicePlan(
                id=QUEUE_PREMIUM_PLAN_ID,
                name="premium",
                description="Premium queue",
                free=False,
                plan_updateable=True,
                schemas=_schemas(QUEUE_CREATE_SCHEMA),
            ),
            ServicePlan(
                id=QUEUE_NOBIND_PLAN_ID,
                name="nobind",
                description="Unbindable queue",
                bindable=False,
            ),
        ],
    )
    return [db, queue]


@dataclass
class InstanceRecord:
    """What the broker holds for one instance (``state``: provisioning/ready/deprovisioning)."""

    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    context: dict[str, Any] | None
    state: str = "ready"
    operation: str | None = None


@dataclass
class BindingRecord:
    """What the broker holds for one binding (``state``: binding/ready/unbinding)."""

    instance_id: str
    service_id: str
    plan_id: str
    parameters: dict[str, Any]
    credentials: dict[str, Any]
    state: str = "ready"
    operation: str | None = None


@dataclass
class _Operation:
    kind: str  # provision / deprovision / bind / unbind
    instance_id: str
    binding_id: str | None
    done_at: float
    finished: bool = False
    result: OperationState = OperationState.IN_PROGRESS


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    instances: dict[str, InstanceRecord] = field(default_factory=dict)
    bindings: dict[tuple[str, str], BindingRecord] = field(default_factory=dict)
    operations: dict[str, _Operation] = field(default_factory=dict)


def _validate(schema: Mapping[str, Any] | None, params: Mapping[str, Any] | None) -> None:
    if not schema:
        return
    cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(cls(schema).iter_errors(dict(params or {})))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise errors.ErrInvalidParameters(f"{where}: {error.message}")


def _plan_schemas(plan_id: str) -> dict[str, Any]:
    for service in _services():
        for plan in service.plans:
            if plan.id == plan_id:
                return getattr(plan, "schemas", None) or {}
    return {}


def _schema_at(schemas: Mapping[str, Any], *path: str) -> Mapping[str, Any] | None:
    node: Any = schemas
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, Mapping) else None


class _ObapiServiceBroker(ServiceBroker):  # type: ignore[misc]
    """The broker logic; HTTP handling and status codes come from openbrokerapi."""

    def __init__(self, state: _State, async_delay: float) -> None:
        self.state = state
        self.async_delay = async_delay

    # -- helpers

    def _is_async(self, service_id: str) -> bool:
        return service_id == QUEUE_SERVICE_ID

    def _start(self, kind: str, instance_id: str, binding_id: str | None = None) -> str:
        op = f"{kind}-{uuid.uuid4().hex[:12]}"
        self.state.operations[op] = _Operation(
            kind, instance_id, binding_id, time.monotonic() + self.async_delay
        )
        return op

    def settle(self) -> None:
        """Complete every async operation whose time has come."""
        now = time.monotonic()
        with self.state.lock:
            for op in self.state.operations.values():
                if op.finished or now < op.done_at:
                    continue
                op.finished, op.result = True, OperationState.SUCCEEDED
                if op.kind == "provision" and op.instance_id in self.state.instances:
                    self.state.instances[op.instance_id].state = "ready"
                elif op.kind == "deprovision":
                    self.state.instances.pop(op.instance_id, None)
                elif op.kind == "bind" and op.binding_id is not None:
                    record = self.state.bindings.get((op.instance_id, op.binding_id))
                    if record is not None:
                        record.state = "ready"
                elif op.kind == "unbind" and op.binding_id is not None:
                    self.state.bindings.pop((op.instance_id, op.binding_id), None)

    def catalog(self) -> list[Service]:
        return _services()

    # -- instances

    def provision(
        self, instance_id: str, details: ProvisionDetails, async_allowed: bool, **kwargs: Any
    ) -> ProvisionedServiceSpec:
        self.settle()
        params = dict(details.parameters or {})
        with self.state.lock:
            existing = self.state.instances.get(instance_id)
            if existing is not None:
                same = (
                    existing.plan_id == details.plan_id
                    and existing.parameters == params
                    and existing.service_id == details.service_id
                )
                if not same:
                    raise errors.ErrInstanceAlreadyExists()
                if existing.state == "provisioning":
                    return ProvisionedServiceSpec(
                        ProvisionState.IS_ASYNC, operation=existing.operation
                    )
                return ProvisionedServiceSpec(ProvisionState.IDENTICAL_ALREADY_EXISTS)
            _validate(
                _schema_at(
                    _plan_schemas(details.plan_id), "service_instance", "create", "parameters"
                ),
                params,
            )
            record = InstanceRecord(details.service_id, details.plan_id, params, details.context)
            dashboard = f"http://dashboard.invalid/instances/{instance_id}"
            if self._is_async(details.service_id):
                if not async_allowed:
                    raise errors.ErrAsyncRequired()
                record.state = "provisioning"
                record.operation = self._start("provision", instance_id)
                self.state.instances[instance_id] = record
                return ProvisionedServiceSpec(ProvisionState.IS_ASYNC, dashboard, record.operation)
            self.state.instances[instance_id] = record
            return ProvisionedServiceSpec(ProvisionState.SUCCESSFUL_CREATED, dashboard)

    def update(
        self, instance_id: str, details: UpdateDetails, async_allowed: bool, **kwargs: Any
    ) -> UpdateServiceSpec:
        self.settle()
        with self.state.lock:
            record = self.state.instances.get(instance_id)
            if record is None:
                raise errors.ErrBadRequest(f"instance {instance_id} does not exist")
            if record.state != "ready":
                raise errors.ErrConcurrentInstanceAccess()
            if details.plan_id and details.plan_id != record.plan_id:
                service = next(s for s in _services() if s.id == record.service_id)
                plan = next((p for p in service.plans if p.id == details.plan_id), None)
                override = getattr(plan, "plan_updateable", None)
                allowed = service.plan_updateable if override is None else override
                if plan is None or not allowed:
                    raise errors.ErrPlanChangeNotSupported()
            if details.parameters is not None:
                _validate(
                    _schema_at(
                        _plan_schemas(details.plan_id or record.plan_id),
                        "service_instance",
                        "update",
                        "parameters",
                    ),
                    details.parameters,
                )
                for key, value in details.parameters.items():
                    if value is None:
                        record.parameters.pop(key, None)  # null removes (merge-patch)
                    else:
                        record.parameters[key] = value
            if details.plan_id:
                record.plan_id = details.plan_id
            return UpdateServiceSpec(is_async=False)

    def deprovision(
        self, instance_id: str, details: DeprovisionDetails, async_allowed: bool, **kwargs: Any
    ) -> DeprovisionServiceSpec:
        self.settle()
        with self.state.lock:
            record = self.state.instances.get(instance_id)
            if record is None:
                raise errors.ErrInstanceDoesNotExist()
            if any(b.instance_id == instance_id for b in self.state.bindings.values()):
                raise errors.ErrBadRequest("instance still has bindings")
            if self._is_async(record.service_id):
                if not async_allowed:
                    raise errors.ErrAsyncRequired()
                if record.state == "deprovisioning":
                    return DeprovisionServiceSpec(True, record.operation)
                record.state = "deprovisioning"
                record.operation = self._start("deprovision", instance_id)
                return DeprovisionServiceSpec(True, record.operation)
            del self.state.instances[instance_id]
            return DeprovisionServiceSpec(False)

    def get_instance(self, instance_id: str, **kwargs: Any) -> GetInstanceDetailsSpec:
        self.settle()
        with self.state.lock:
            record = self.state.instances.get(instance_id)
            if record is None or record.state == "provisioning":
                raise errors.ErrInstanceDoesNotExist()
            return GetInstanceDetailsSpec(
                record.service_id, record.plan_id, parameters=copy.deepcopy(record.parameters)
            )

    def last_operation(
        self,
        instance_id: str,
        operation_data: str | None,
        service_id: str | None = None,
        plan_id: str | None = None,
        **kwargs: Any,
    ) -> LastOperation:
        self.settle()
        with self.state.lock:
            record = self.state.instances.get(instance_id)
            # Without an operation string, report the instance's current operation.
            op = self.state.operations.get(operation_data or (record and record.operation) or "")
            if op is None:
                if record is None:
                    raise errors.ErrInstanceDoesNotExist()
                return LastOperation(OperationState.SUCCEEDED, "no operation in progress")
            if op.kind == "deprovision" and op.finished:
                raise errors.ErrInstanceDoesNotExist()  # 410 Gone: forget the instance
            return LastOperation(op.result, f"{op.kind} {op.result.value}")

    # -- bindings

    def _credentials(self, instance_id: str, binding_id: str) -> dict[str, Any]:
        token = hashlib.sha256(f"{instance_id}/{binding_id}".encode()).hexdigest()[:24]
        return {
            "uri": f"obapi://u-{binding_id[:8]}:{token}@127.0.0.1:5432/{instance_id[:8]}",
            "username": f"u-{binding_id[:8]}",
            "password": token,
            "port": 5432,
            "tls": True,
            "limits": {"connections": 20, "ratio": 0.75, "burst": False},
            "hosts": ["primary.obapi.invalid", "replica.obapi.invalid"],
        }

    def bind(
        self,
        instance_id: str,
        binding_id: str,
        details: BindDetails,
        async_allowed: bool,
        **kwargs: Any,
    ) -> Binding:
        self.settle()
        params = dict(details.parameters or {})
        with self.state.lock:
            instance = self.state.instances.get(instance_id)
            if instance is None or instance.state != "ready":
                raise errors.ErrBadRequest(f"instance {instance_id} is not ready")
            if details.plan_id == QUEUE_NOBIND_PLAN_ID:
                raise errors.ErrBadRequest("plan is not bindable")
            key = (instance_id, binding_id)
            existing = self.state.bindings.get(key)
            if existing is not None:
                if existing.parameters != params:
                    raise errors.ErrBindingAlreadyExists()
                if existing.state == "binding":
                    return Binding(BindState.IS_ASYNC, operation=existing.operation)
                return Binding(BindState.IDENTICAL_ALREADY_EXISTS, credentials=existing.credentials)
            _validate(
                _schema_at(
                    _plan_schemas(details.plan_id), "service_binding", "create", "parameters"
                ),
                params,
            )
            record = BindingRecord(
                instance_id,
                details.service_id,
                details.plan_id,
                params,
                self._credentials(instance_id, binding_id),
            )
            if self._is_async(details.service_id) and async_allowed:
                record.state = "binding"
                record.operation = self._start("bind", instance_id, binding_id)
                self.state.bindings[key] = record
                return Binding(BindState.IS_ASYNC, operation=record.operation)
            self.state.bindings[key] = record
            return Binding(BindState.SUCCESSFUL_BOUND, credentials=record.credentials)

    def unbind(
        self,
        instance_id: str,
        binding_id: str,
        details: UnbindDetails,
        async_allowed: bool,
        **kwargs: Any,
    ) -> UnbindSpec:
        self.settle()
        with self.state.lock:
            record = self.state.bindings.get((instance_id, binding_id))
            if record is None:
                raise errors.ErrBindingDoesNotExist()
            if self._is_async(record.service_id) and async_allowed:
                if record.state != "unbinding":
                    record.state = "unbinding"
                    record.operation = self._start("unbind", instance_id, binding_id)
                return UnbindSpec(True, record.operation)
            del self.state.bindings[(instance_id, binding_id)]
            return UnbindSpec(False)

    def get_binding(self, instance_id: str, binding_id: str, **kwargs: Any) -> GetBindingSpec:
        self.settle()
        with self.state.lock:
            record = self.state.bindings.get((instance_id, binding_id))
            if record is None or record.state == "binding":
                raise errors.ErrBindingDoesNotExist()
            return GetBindingSpec(
                credentials=copy.deepcopy(record.credentials),
                parameters=copy.deepcopy(record.parameters),
            )

    def last_binding_operation(
        self,
        instance_id: str,
        binding_id: str,
        operation_data: str | None,
        service_id: str | None = None,
        plan_id: str | None = None,
        **kwargs: Any,
    ) -> LastOperation:
        self.settle()
        with self.state.lock:
            op = self.state.operations.get(operation_data or "")
            if op is None:
                if (instance_id, binding_id) in self.state.bindings:
                    return LastOperation(OperationState.SUCCEEDED, "no operation in progress")
                return LastOperation(OperationState.FAILED, "unknown binding or operation")
            return LastOperation(op.result, f"{op.kind} {op.result.value}")


class ObapiBroker:
    """A running openbrokerapi broker: ``.url``, ``.username``, ``.password``, ``.stop()``.

    ``.instances`` and ``.bindings`` are snapshots (deep copies) of what the
    broker holds right now, after completing due async operations: instance id
    → :class:`InstanceRecord`, ``(instance_id, binding_id)`` →
    :class:`BindingRecord`.
    """

    def __init__(
        self,
        *,
        username: str = "obapi-user",
        password: str = "obapi-pass",
        async_delay: float = 0.3,
        port: int = 0,
    ) -> None:
        self.username = username
        self.password = password
        self.async_delay = async_delay
        self._state = _State()
        self._broker = _ObapiServiceBroker(self._state, async_delay)
        app = Flask("obapi-test-broker")
        app.register_blueprint(
            api.get_blueprint(self._broker, api.BrokerCredentials(username, password), log)
        )
        self._server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        # serve_forever checks for shutdown every poll_interval: the default
        # half second would be added to every test that stops a broker.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"obapi-broker-{self.port}",
            daemon=True,
        )

    def start(self) -> ObapiBroker:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket; safe to call twice."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    @property
    def instances(self) -> dict[str, InstanceRecord]:
        self._broker.settle()
        with self._state.lock:
            return copy.deepcopy(self._state.instances)

    @property
    def bindings(self) -> dict[tuple[str, str], BindingRecord]:
        self._broker.settle()
        with self._state.lock:
            return copy.deepcopy(self._state.bindings)

    def catalog_json(self) -> dict[str, Any]:
        """The catalog as the broker serves it (for tests that do not need HTTP)."""
        from openbrokerapi.helper import _to_dict  # the library's own serializer

        result: dict[str, Any] = {"services": _to_dict(_services())}
        return result

    def __enter__(self) -> ObapiBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_obapi_broker(**kwargs: Any) -> ObapiBroker:
    """Create and start an :class:`ObapiBroker` (see its ``__init__`` for options)."""
    return ObapiBroker(**kwargs).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--username", default="obapi-user")
    parser.add_argument("--password", default="obapi-pass")
    parser.add_argument("--async-delay", type=float, default=0.3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    broker = ObapiBroker(
        username=args.username, password=args.password, async_delay=args.async_delay, port=args.port
    )
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    broker.start()
    print(f"READY {broker.url}", flush=True)
    while not stopped.wait(0.2):
        pass
    broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
