"""Records for adopting instances and bindings that exist at a broker already.

``catalogctl import`` (one address or every manifest with ``spec.externalID``)
and ``catalogctl migrate service-catalog`` take over broker resources
catalogctl did not create.  Each is recorded with exactly the attribute
layout apply writes, so the next plan treats it like anything catalogctl
provisioned: no change when it matches the configuration, an in-place update
when its parameters differ, never a second provision.
Before recording, the broker is asked (when its catalog says it can answer
``GET`` for the resource) whether it knows the id and on which plan; a wrong
id or a different plan is refused here rather than discovered by a failing
apply.  The only broker calls are GETs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalogctl.engine.brokers import BrokerRecord, Brokers, BrokerSettings
from catalogctl.engine.handlers.binding import binding_attributes
from catalogctl.engine.handlers.instance import instance_attributes
from catalogctl.engine.inputs import Inputs
from catalogctl.engine.planner import Resolution, resolve
from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import BrokerError, UsageError
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.instances import ServiceInstance
from catalogctl.plan.inputs import DesiredResource
from catalogctl.plan.payloads import BindingPayload, InstancePayload
from catalogctl.providers.osb.outcomes import Done, NotFound, describe
from catalogctl.state.models import ResourceState, ResourceStatus, State, checksum


@dataclass(frozen=True)
class Imported:
    """The resource to record, and what to tell the user about it."""

    resource: ResourceState
    notes: tuple[str, ...] = ()


def external_ids(inputs: Inputs) -> list[tuple[str, str]]:
    """(address, spec.externalID) of every instance, then every binding, that carries one."""
    instances = [(res, i.spec.external_id) for res, i in inputs.desired.of_type(ServiceInstance)]
    bindings = [(res, b.spec.external_id) for res, b in inputs.desired.of_type(ServiceBinding)]
    return [(str(res.address), osb_id) for res, osb_id in (*instances, *bindings) if osb_id]


def check_manifest_id(inputs: Inputs, address: Address, osb_id: str) -> None:
    """Refuse an ID that contradicts the manifest's own ``spec.externalID``."""
    res = inputs.desired.get(address)
    if res is None:
        raise UsageError(
            f"cannot import {address}: it is not in the desired state (-f); "
            "add it to the YAML first, so catalogctl knows how it should look"
        )
    obj = res.obj
    assert isinstance(obj, ServiceInstance | ServiceBinding)
    written = obj.spec.external_id
    if written and written != osb_id:
        pos = res.position(("spec", "externalID"))
        raise UsageError(
            f"cannot import {address} as {osb_id}: its manifest "
            f"({pos.file}:{pos.line}) sets spec.externalID {written}; "
            "import that id, or correct the manifest"
        )


#: Where state keeps the OSB id of each kind import adopts.
ID_FIELD = {"ServiceInstance": "instance_id", "ServiceBinding": "binding_id"}


def check_not_tracked(state: State, address: str, osb_id: str) -> None:
    """Refuse an id that state already tracks: two addresses for one broker resource
    would make destroy delete it twice and plans fight over it."""
    field = ID_FIELD[address.split("/", 1)[0]]
    if address in state.resources:
        raise UsageError(
            f"{address} is already in the state; to adopt another id, "
            f"`catalogctl state rm {address}` first"
        )
    for other in state.resources.values():
        if getattr(other, field) == osb_id and other.kind == address.split("/", 1)[0]:
            raise UsageError(
                f"{field.replace('_', ' ')} {osb_id} is already tracked as {other.address}"
            )


def broker_error(address: str, subject: str, outcome: Any) -> Exception:
    """The error for a GET that did not return the resource (``subject``: what was asked for)."""

    if isinstance(outcome, NotFound):
        return UsageError(f"cannot import {address}: the broker does not know {subject} (404)")
    return BrokerError(f"cannot import {address}: GET {subject} failed: {describe(outcome)}")


async def adopt_instance(
    address: str, osb_id: str, resolution: Resolution, brokers: Brokers
) -> Imported:
    desired = resolution.desired[address]
    p = resolution.payload(address, InstancePayload)
    if p.broker is None:
        raise UsageError(
            f"cannot import {address}: its broker {desired.attributes.get('broker')} "
            "is not in the configuration"
        )
    record = BrokerRecord.from_dict(p.broker)
    notes: list[str] = []
    dashboard_url: str | None = None
    if p.instances_retrievable:
        outcome = await (await brokers.client(record)).get(osb_id, p.service_id, p.plan_id)
        if not isinstance(outcome, Done) or not isinstance(outcome.body, Mapping):
            raise broker_error(address, f"instance {osb_id}", outcome)
        body = outcome.body
        check_same(
            address,
            "service",
            body.get("service_id"),
            p.service_id,
            desired.attributes.get("class"),
        )
        check_same(address, "plan", body.get("plan_id"), p.plan_id, desired.attributes.get("plan"))
        url = body.get("dashboard_url")
        dashboard_url = url if isinstance(url, str) and url else None
        live = body.get("parameters")
        if isinstance(live, Mapping):
            differ = sorted(k for k, v in desired.parameters.items() if k in live and live[k] != v)
            if differ:
                notes.append(
                    "parameters at the broker differ from the configuration "
                    f"({', '.join(differ)}); the next plan shows the update"
                )
    else:
        notes.append(
            "the broker cannot return instances (instances_retrievable is false), so "
            f"catalogctl could not check that instance {osb_id} exists or uses plan "
            f"{desired.attributes.get('plan')!r}"
        )
    resource = _adopted(
        desired,
        record,
        p.parameters_checksum,
        service_id=p.service_id,
        plan_id=p.plan_id,
        instance_id=osb_id,
        dashboard_url=dashboard_url,
        maintenance_info_version=p.maintenance_info,
        attributes=instance_attributes(record, p, desired.update_requests, desired.attributes),
    )
    return Imported(resource, tuple(notes))


def _adopted(
    desired: DesiredResource, record: BrokerRecord, parameters_checksum: str, **ids: Any
) -> ResourceState:
    """The ready record of an adopted instance or binding: the configuration, and ``ids``."""
    return ResourceState(
        address=desired.address,
        kind=desired.kind,
        status=ResourceStatus.READY,
        broker=record.address,
        parameters=dict(desired.parameters),
        sensitive_parameter_keys=desired.sensitive_parameter_keys,
        parameters_checksum=parameters_checksum or None,
        depends_on=desired.depends_on,
        **ids,
    )


def check_same(address: str, what: str, live: Any, wanted: str, name: Any) -> None:

    if isinstance(live, str) and live and live != wanted:
        raise UsageError(
            f"cannot import {address}: the instance uses {what} id {live!r} at the broker, but the "
            f"configuration asks for {what} {name!r} ({wanted}); import it under a resource with "
            f"that {what}, or change it after import"
        )


async def adopt_binding(
    address: str, osb_id: str, inst: ResourceState | None, resolution: Resolution, brokers: Brokers
) -> Imported:
    """The state record of binding ``osb_id`` of ``inst`` (its instance's record, or None)."""
    desired = resolution.desired[address]
    p = resolution.payload(address, BindingPayload)
    instance_address = p.instance
    if inst is None or inst.status is not ResourceStatus.READY or not inst.instance_id:
        raise UsageError(
            f"cannot import {address}: its instance {instance_address} must be in the state "
            f"first (`catalogctl import {instance_address} INSTANCE_ID`)"
        )
    record_data = inst.attributes.get("broker_record")
    if not isinstance(record_data, Mapping):
        raise UsageError(
            f"cannot import {address}: state does not record the broker of {instance_address}"
        )
    record: BrokerRecord = BrokerRecord.from_dict(record_data)
    notes: list[str] = []
    credentials_hash: str | None = None
    if p.bindings_retrievable:
        outcome = await (await brokers.client(record)).get(
            inst.instance_id, inst.service_id, inst.plan_id, binding_id=osb_id
        )
        if not isinstance(outcome, Done) or not isinstance(outcome.body, Mapping):
            raise broker_error(address, f"binding {osb_id} of instance {inst.instance_id}", outcome)
        credentials = outcome.body.get("credentials")
        # Only a digest is kept, to notice rotation later; the body is dropped here.
        credentials_hash = checksum(dict(credentials)) if isinstance(credentials, Mapping) else None
        notes.append(
            f"the next apply writes Secret {desired.attributes.get('secret_name')} "
            "with credentials read from the broker again"
        )
    else:
        notes.append(
            "the broker cannot return this binding's credentials (bindings_retrievable is "
            f"false), so catalogctl could not check that binding {osb_id} exists; unless its "
            f"Secret {desired.attributes.get('secret_name')} is kept as it is, the next apply "
            "must replace the binding to write it"
        )
    resource = _adopted(
        desired,
        record,
        p.parameters_checksum,
        service_id=inst.service_id,
        plan_id=inst.plan_id,
        instance_id=inst.instance_id,
        binding_id=osb_id,
        credentials_hash=credentials_hash,
        attributes=binding_attributes(record, p, desired.attributes.get("secret_name")),
    )
    return Imported(resource, tuple(notes))


def adopt_secret(
    address: str, binding: str, resolution: Resolution, data_hash: str, keys: list[str]
) -> ResourceState:
    """The state record of a binding Secret taken over as it is, as apply records one it wrote.

    ``data_hash`` is the digest of the data found (its values never leave the
    cluster), so the next refresh sees no change unless someone edits it.
    """
    desired = resolution.desired[address]
    _, ns, name = address.split("/")
    return ResourceState(
        address=address,
        kind="Secret",
        depends_on=(binding,),
        attributes={
            "binding": binding,
            "checksum": desired.checksum,
            "data_hash": data_hash,
            "keys": sorted(keys),
            "display": {"namespace": ns, "name": name, "type": "Opaque"},
        },
    )


async def prepare_imports(
    inputs: Inputs,
    state: State,
    wanted: list[tuple[str, str]],
    *,
    settings: BrokerSettings,
    cluster: ClusterPort,
    parallelism: int,
) -> list[Imported]:
    """Resolve the desired state against catalogs and build the resources to record.

    ``wanted`` is (address, OSB id) pairs, instances first, so a binding finds
    its instance's record whether it is already in state or imported in the
    same run.  A binding Secret that catalogctl already marks as this
    binding's is recorded as it is (its digest, never its data), so the next
    plan does not rewrite it.
    """
    brokers = Brokers(settings, cluster.read_secret_key, asyncio.Semaphore(parallelism))
    out: list[Imported] = []
    try:
        resolution = await resolve(inputs, state, brokers, cluster)
        records = dict(state.resources)
        for address, osb_id in wanted:
            if address not in resolution.desired:
                raise UsageError(
                    f"cannot import {address}: it could not be resolved against the catalogs"
                )
            if address.startswith("ServiceInstance/"):
                imported = await adopt_instance(address, osb_id, resolution, brokers)
                records[address] = imported.resource
                out.append(imported)
                continue
            instance = resolution.payload(address, BindingPayload).instance
            imported = await adopt_binding(
                address, osb_id, records.get(instance), resolution, brokers
            )
            out.append(imported)
            secret = resolution.desired[address].attributes.get("secret_name")
            ns = address.split("/")[1]
            seen = await asyncio.to_thread(cluster.observe_binding_secret, ns, str(secret))
            if seen.exists and seen.owner == address and seen.data_hash is not None:
                secret_address = f"Secret/{ns}/{secret}"
                out.append(
                    Imported(
                        adopt_secret(
                            secret_address, address, resolution, seen.data_hash, list(seen.keys)
                        ),
                        (f"Secret {ns}/{secret} is kept as it is",),
                    )
                )
        return out
    finally:
        await brokers.aclose()
