"""``catalogctl import``: adopt a service instance or binding that already exists.

Migrating from Service Catalog (or recovering after ``state rm``) means
taking over broker resources catalogctl did not create.  Import records one
in state under the address it has in the desired YAML, with exactly the
attribute layout apply writes, so that the next plan treats it like anything
catalogctl provisioned itself: no change when it matches the configuration,
an in-place update when its live parameters differ, never a second provision.

Before recording, the broker is asked (when its catalog says it can answer
``GET`` for the resource) whether it knows the id and on which plan; a wrong
id or a different plan is refused here rather than discovered by a failing
apply.  The only broker calls are GETs; the state change goes through the
journal under the lock, like any apply step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from catalogctl.cli.console import Console, console_of
from catalogctl.cli.options import input_options, run_options

if TYPE_CHECKING:
    from catalogctl.engine.brokers import BrokerRecord, Brokers
    from catalogctl.engine.inputs import Inputs
    from catalogctl.engine.planner import Resolution
    from catalogctl.engine.session import Session
    from catalogctl.state.models import ResourceState, State

_KINDS = ("ServiceInstance", "ServiceBinding")


@dataclass(frozen=True)
class Imported:
    """The resource to record, and what to tell the user about it."""

    resource: ResourceState
    notes: tuple[str, ...] = ()


def _check_not_tracked(state: State, address: str, field: str, osb_id: str) -> None:
    """Refuse an id that state already tracks: two addresses for one broker resource
    would make destroy delete it twice and plans fight over it."""
    from catalogctl.errors import UsageError

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


def _broker_error(address: str, subject: str, outcome: Any) -> Exception:
    """The error for a GET that did not return the resource (``subject``: what was asked for)."""
    from catalogctl.errors import BrokerError, UsageError
    from catalogctl.providers.osb.outcomes import NotFound, describe

    if isinstance(outcome, NotFound):
        return UsageError(f"cannot import {address}: the broker does not know {subject} (404)")
    return BrokerError(f"cannot import {address}: GET {subject} failed: {describe(outcome)}")


async def _import_instance(
    address: str, osb_id: str, resolution: Resolution, brokers: Brokers
) -> Imported:
    from catalogctl.engine.brokers import BrokerRecord
    from catalogctl.errors import UsageError
    from catalogctl.providers.osb.outcomes import Done
    from catalogctl.state.models import ResourceState, ResourceStatus

    desired = resolution.desired[address]
    p = resolution.private[address]
    if not isinstance(p.get("broker"), Mapping):
        raise UsageError(
            f"cannot import {address}: its broker {desired.attributes.get('broker')} "
            "is not in the configuration"
        )
    record = BrokerRecord.from_dict(p["broker"])
    notes: list[str] = []
    dashboard_url: str | None = None
    if p.get("instances_retrievable"):
        outcome = await (await brokers.client(record)).get_instance(
            osb_id, service_id=p["service_id"], plan_id=p["plan_id"]
        )
        if not isinstance(outcome, Done) or not isinstance(outcome.body, Mapping):
            raise _broker_error(address, f"instance {osb_id}", outcome)
        body = outcome.body
        _check_same(
            address,
            "service",
            body.get("service_id"),
            p["service_id"],
            desired.attributes.get("class"),
        )
        _check_same(
            address, "plan", body.get("plan_id"), p["plan_id"], desired.attributes.get("plan")
        )
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
    display = {
        "class": desired.attributes.get("class"),
        "plan": desired.attributes.get("plan"),
        "update_requests": desired.update_requests,
    }
    resource = ResourceState(
        address=address,
        kind="ServiceInstance",
        status=ResourceStatus.READY,
        broker=record.address,
        service_id=p["service_id"],
        plan_id=p["plan_id"],
        instance_id=osb_id,
        parameters=dict(desired.parameters),
        sensitive_parameter_keys=desired.sensitive_parameter_keys,
        parameters_checksum=p.get("parameters_checksum") or None,
        dashboard_url=dashboard_url,
        maintenance_info_version=p.get("maintenance_info"),
        depends_on=desired.depends_on,
        attributes={
            "broker_record": record.to_dict(),
            "instances_retrievable": bool(p.get("instances_retrievable")),
            "bindings_retrievable": bool(p.get("bindings_retrievable")),
            "update_requests": desired.update_requests,
            "maximum_polling_duration": p.get("maximum_polling_duration"),
            "display": display,
        },
    )
    return Imported(resource, tuple(notes))


def _check_same(address: str, what: str, live: Any, wanted: str, name: Any) -> None:
    from catalogctl.errors import UsageError

    if isinstance(live, str) and live and live != wanted:
        raise UsageError(
            f"cannot import {address}: the instance uses {what} id {live!r} at the broker, but the "
            f"configuration asks for {what} {name!r} ({wanted}); import it under a resource with "
            f"that {what}, or change it after import"
        )


async def _import_binding(
    address: str, osb_id: str, state: State, resolution: Resolution, brokers: Brokers
) -> Imported:
    from catalogctl.engine.brokers import BrokerRecord
    from catalogctl.errors import UsageError
    from catalogctl.providers.osb.outcomes import Done
    from catalogctl.state.models import ResourceState, ResourceStatus, checksum

    desired = resolution.desired[address]
    p = resolution.private[address]
    instance_address = str(p["instance"])
    inst = state.get(instance_address)
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
    if p.get("bindings_retrievable"):
        outcome = await (await brokers.client(record)).get_binding(
            inst.instance_id, osb_id, service_id=inst.service_id, plan_id=inst.plan_id
        )
        if not isinstance(outcome, Done) or not isinstance(outcome.body, Mapping):
            raise _broker_error(
                address, f"binding {osb_id} of instance {inst.instance_id}", outcome
            )
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
            f"false), so catalogctl could not check that binding {osb_id} exists, and the "
            f"next apply must replace it to write Secret {desired.attributes.get('secret_name')}"
        )
    resource = ResourceState(
        address=address,
        kind="ServiceBinding",
        status=ResourceStatus.READY,
        broker=record.address,
        service_id=inst.service_id,
        plan_id=inst.plan_id,
        instance_id=inst.instance_id,
        binding_id=osb_id,
        parameters=dict(desired.parameters),
        sensitive_parameter_keys=desired.sensitive_parameter_keys,
        parameters_checksum=p.get("parameters_checksum") or None,
        depends_on=desired.depends_on,
        credentials_hash=credentials_hash,
        attributes={
            "broker_record": record.to_dict(),
            "checksum": p.get("checksum"),
            "bindings_retrievable": bool(p.get("bindings_retrievable")),
            "display": {
                "instance": instance_address,
                "secret_name": desired.attributes.get("secret_name"),
            },
        },
    )
    return Imported(resource, tuple(notes))


async def _prepare(
    session: Session, inputs: Inputs, state: State, address: str, osb_id: str
) -> Imported:
    """Resolve the desired state against catalogs and build the resource to record."""
    from catalogctl.engine.brokers import Brokers
    from catalogctl.engine.planner import resolve
    from catalogctl.errors import UsageError

    brokers = Brokers(
        session.settings, session.cluster.read_secret_key, asyncio.Semaphore(session.parallelism)
    )
    try:
        resolution = await resolve(inputs, state, brokers, session.cluster)
        if address not in resolution.desired:
            raise UsageError(
                f"cannot import {address}: it could not be resolved against the catalogs"
            )
        if address.startswith("ServiceInstance/"):
            return await _import_instance(address, osb_id, resolution, brokers)
        return await _import_binding(address, osb_id, state, resolution, brokers)
    finally:
        await brokers.aclose()


def _report(console: Console, imported: Imported) -> None:
    res = imported.resource
    what = (
        f"instance {res.instance_id}"
        if res.kind == "ServiceInstance"
        else f"binding {res.binding_id} of instance {res.instance_id}"
    )
    console.out(f"{res.address}: Import complete ({what}, plan {res.plan_id})")
    for note in imported.notes:
        console.err(f"Note: {res.address}: {note}.")
    console.out("")
    console.out(console.style("Import successful!", fg="green", bold=True))
    console.out("")
    console.out(f"{res.address} is now in the state and will be managed by catalogctl.")
    console.out('Run "catalogctl plan" to see whether it matches the configuration.')


@click.command("import")
@click.argument("address", metavar="ADDR")
@click.argument("osb_id", metavar="ID")
@input_options
@run_options
@click.pass_context
def import_(ctx: click.Context, /, **params: Any) -> int:
    """Adopt an existing service instance or binding by its OSB id.

    ADDR must be a ServiceInstance or ServiceBinding in the desired state
    (-f); ID is the instance id, or for a binding the binding id (its
    instance must be imported first). The broker is asked, read-only, whether
    it knows the id and on which plan; a different plan is refused. Nothing
    is created or changed at the broker. Exit codes: 0 imported, 1 error.
    """
    from catalogctl.cli.session import build_session
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.errors import UsageError
    from catalogctl.model.address import Address

    console = console_of(ctx)
    osb_id: str = params["osb_id"]
    if not osb_id.strip():
        raise UsageError("ID must not be empty")
    try:
        parsed = Address.parse(params["address"], params["namespace"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    address = str(parsed)
    if parsed.kind not in _KINDS:
        raise UsageError(
            f"cannot import {address}: only ServiceInstance and ServiceBinding addresses "
            "can be imported (the rest is derived from them by apply)"
        )
    inputs = load_inputs(params["filenames"], params["namespace"], params["strict_kinds"])
    if inputs.desired.get(parsed) is None:
        raise UsageError(
            f"cannot import {address}: it is not in the desired state (-f); "
            "add it to the YAML first, so catalogctl knows how it should look"
        )
    session = build_session(console, params, params["namespace"])
    console.out(f'{address}: Importing from ID "{osb_id}"...')
    with session.locked("import"):
        state = session.backend.read()
        _check_not_tracked(
            state,
            address,
            "instance_id" if parsed.kind == "ServiceInstance" else "binding_id",
            osb_id,
        )
        imported = asyncio.run(_prepare(session, inputs, state, address, osb_id))
        with session.backend.begin(state) as journal:
            journal.record(imported.resource)
            journal.commit()
    _report(console, imported)
    return 0
