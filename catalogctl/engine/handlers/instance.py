"""ServiceInstance at plan time: resolve class and plan, merge parameters; observe at the broker."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

from catalogctl.engine.brokers import BrokerRecord
from catalogctl.engine.handlers.base import ApplyContext, ObserveContext, ResolveContext
from catalogctl.engine.handlers.create import Creation, create, osb_id, starting_state
from catalogctl.engine.handlers.parameters import (
    merged_parameters,
    parameter_path,
    sensitive_now,
    split_sensitive,
)
from catalogctl.engine.handlers.update import update_instance
from catalogctl.model.desired import LoadedResource
from catalogctl.model.instances import ServiceInstance
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Action, Change, JSONPath
from catalogctl.plan.payloads import BrokerPayload, InstancePayload
from catalogctl.providers.osb.catalog import (
    PlanReference,
    PlanResolutionError,
    ResolvedPlan,
    resolve_plan,
    visible_catalogs,
)
from catalogctl.providers.osb.identity import instance_context, platform_guids
from catalogctl.providers.osb.outcomes import Done, NotFound, Outcome, RequestKind
from catalogctl.providers.osb.params import validate_for_plan
from catalogctl.state.models import (
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
)

_CLASS_SELECTORS = (
    "clusterServiceClassExternalName",
    "clusterServiceClassExternalID",
    "clusterServiceClassName",
    "serviceClassExternalName",
    "serviceClassExternalID",
    "serviceClassName",
)


def plan_reference(inst: ServiceInstance, namespace: str) -> PlanReference:
    s = inst.spec
    return PlanReference(
        cluster_service_class_external_name=s.cluster_service_class_external_name,
        cluster_service_plan_external_name=s.cluster_service_plan_external_name,
        cluster_service_class_external_id=s.cluster_service_class_external_id,
        cluster_service_plan_external_id=s.cluster_service_plan_external_id,
        cluster_service_class_name=s.cluster_service_class_name,
        cluster_service_plan_name=s.cluster_service_plan_name,
        service_class_external_name=s.service_class_external_name,
        service_plan_external_name=s.service_plan_external_name,
        service_class_external_id=s.service_class_external_id,
        service_plan_external_id=s.service_plan_external_id,
        service_class_name=s.service_class_name,
        service_plan_name=s.service_plan_name,
        namespace=namespace,
    )


def _selector_path(inst: ServiceInstance) -> JSONPath:
    for alias in _CLASS_SELECTORS:
        if inst.spec.selector(alias) is not None:
            return ("spec", alias)
    return ("spec",)


def create_only_keys(plan: ResolvedPlan, keys: Iterable[str]) -> tuple[str, ...]:
    """Of ``keys``, those the broker accepts only when an instance is created.

    That is: the create schema declares them, and the update schema declares
    its keys and admits no others.  A change to one of them needs a new
    instance, as Terraform's ``# forces replacement`` says.
    """
    create = plan.schemas.instance_create or {}
    update = plan.schemas.instance_update or {}
    created = create.get("properties")
    updated = update.get("properties")
    if not isinstance(created, Mapping) or not isinstance(updated, Mapping):
        return ()
    if update.get("additionalProperties", True) is not False:
        return ()
    return tuple(sorted(k for k in keys if k in created and k not in updated))


def current_record(res: ResourceState, ctx: ObserveContext) -> BrokerRecord | None:
    """How to reach the broker of ``res``: as configured now if it still is, else as recorded."""
    record = res.attributes.get("broker_record")
    if not isinstance(record, Mapping):
        return None
    current = ctx.resolution.find(res.broker or "", BrokerPayload)
    return BrokerRecord.from_dict(current.record if current is not None else record)


def _payload(
    inst: ServiceInstance,
    plan: ResolvedPlan,
    record: BrokerRecord | None,
    parameters_checksum: str,
    sensitive: tuple[str, ...],
) -> InstancePayload:
    return InstancePayload(
        spec=inst.model_dump(by_alias=True, exclude_none=True, mode="json"),
        broker=record.to_dict() if record is not None else None,
        service_id=plan.service_id,
        plan_id=plan.plan_id,
        maximum_polling_duration=plan.maximum_polling_duration,
        instances_retrievable=plan.instances_retrievable,
        bindings_retrievable=plan.bindings_retrievable,
        maintenance_info=plan.maintenance_info.version if plan.maintenance_info else None,
        external_id=inst.spec.external_id,
        parameters_checksum=parameters_checksum,
        sensitive_keys=sensitive,
    )


def instance_attributes(
    record: BrokerRecord, p: InstancePayload, update_requests: int, shown: Mapping[str, Any]
) -> dict[str, Any]:
    """What state keeps about an instance beyond its ids: how to reach its broker, and more."""
    return {
        "broker_record": record.to_dict(),
        "instances_retrievable": p.instances_retrievable,
        "bindings_retrievable": p.bindings_retrievable,
        "update_requests": update_requests,
        "maximum_polling_duration": p.maximum_polling_duration,
        "display": {
            "class": shown.get("class"),
            "plan": shown.get("plan"),
            "update_requests": update_requests,
        },
    }


class InstanceHandler:
    kind = "ServiceInstance"

    async def resolve(self, ctx: ResolveContext) -> None:
        # Instances share a handful of selectors: each distinct one is resolved once.
        by_reference: dict[PlanReference, ResolvedPlan | PlanResolutionError] = {}
        for res, inst in ctx.desired.of_type(ServiceInstance):
            ref = plan_reference(inst, res.address.namespace)
            found = by_reference.get(ref)
            if found is None:
                visible = visible_catalogs(
                    ref, cluster=ctx.cluster_catalogs, namespaced=ctx.namespaced_catalogs
                )
                try:
                    found = resolve_plan(ref, visible)
                except PlanResolutionError as exc:
                    found = exc
                by_reference[ref] = found
            if isinstance(found, PlanResolutionError):
                # Point at the field the resolver blamed (an unknown plan is the plan's fault).
                where = ("spec", found.field) if found.field else _selector_path(inst)
                ctx.problems.append(res.problem(where, str(found)))
                continue
            ctx.plans[str(res.address)] = found
            self._resolve_one(ctx, res, inst, found)

    def _resolve_one(
        self, ctx: ResolveContext, res: LoadedResource, inst: ServiceInstance, plan: ResolvedPlan
    ) -> None:
        address = str(res.address)
        merged, found = merged_parameters(
            res.address.namespace, inst.spec.parameters, inst.spec.parameters_from, ctx.secrets
        )
        ctx.field_problems(res, found)
        if merged is None:
            return
        merged_sum = merged.checksum
        prior = ctx.state.get(address)
        create_only: tuple[str, ...] = ()
        if (
            prior is not None
            and prior.status is ResourceStatus.READY
            and address not in ctx.replacing
        ):
            # An update sends only the changed keys, so that is what the update schema sees;
            # a key only the create schema knows forces a replacement, which the create
            # schema must then accept.
            moved = merged_sum != (prior.parameters_checksum or "")
            payload = {
                k: v
                for k, v in merged.values.items()
                if (k in merged.sensitive_keys and moved) or prior.parameters.get(k) != v
            }
            create_only = create_only_keys(plan, payload)
            if create_only:
                schema_found = validate_for_plan(plan, "instance_create", merged)
            elif payload:
                schema_found = validate_for_plan(plan, "instance_update", payload)
            else:
                schema_found = []
        else:
            schema_found = validate_for_plan(plan, "instance_create", merged)
        ctx.field_problems(
            res,
            [
                (parameter_path(p.source, p.parts), f"rejected by the plan's schema: {p.message}")
                for p in schema_found
            ],
        )
        sensitive, visible, shown = split_sensitive(merged)
        mi = plan.maintenance_info.version if plan.maintenance_info else None
        before = prior.maintenance_info_version if prior is not None else None
        if mi and before and before != mi:
            ctx.out.upgrades.append(f"{address}: maintenance_info {before} -> {mi}")
        ctx.out.desired[address] = DesiredResource(
            address,
            self.kind,
            {
                "broker": plan.broker,
                "class": plan.offering.name,
                "plan": plan.plan.name,
                "service_id": plan.service_id,
                "plan_id": plan.plan_id,
                "parameters": shown,
                "update_requests": inst.spec.update_requests,
            },
            depends_on=(plan.broker,),
            sensitive_paths=tuple(("parameters", k) for k in sensitive),
            identity={"broker": plan.broker, "service_id": plan.service_id},
            plan_id=plan.plan_id,
            plan_updateable=plan.plan_updateable,
            parameters=visible,
            sensitive_parameter_keys=sensitive,
            parameters_checksum=merged_sum,
            update_requests=inst.spec.update_requests,
            maintenance_info_version=mi,
            create_only_keys=create_only,
            retrievable=plan.instances_retrievable,
        )
        ctx.out.private[address] = functools.partial(
            _payload, inst, plan, ctx.records.get(plan.broker), merged_sum, sensitive
        )

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        record = current_record(res, ctx)
        if record is None or not res.attributes.get("instances_retrievable"):
            return None
        client = await ctx.brokers.client(record)
        outcome = await client.get(res.instance_id or "", res.service_id, res.plan_id)
        if isinstance(outcome, Done) and isinstance(outcome.body, Mapping):
            body = outcome.body
            seen = {"parameters": body.get("parameters"), "plan_id": body.get("plan_id")}
            return ObservedResource(res.address, True, seen)
        if isinstance(outcome, NotFound):
            return ObservedResource(
                res.address, False, detail=f"the broker answered 404 for instance {res.instance_id}"
            )
        return None

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        if change.action is Action.UPDATE:
            await update_instance(change, ctx)
        else:
            await self._provision(change, ctx)

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        await ctx.broker.delete(prior)

    async def _provision(self, change: Change, ctx: ApplyContext) -> None:
        steps = ctx.broker
        p = InstancePayload.from_private(change.private)
        inst = ServiceInstance.model_validate(p.spec)
        record, client = await steps.client(p.broker)
        _, ns, name = change.address.split("/")
        prior = steps.journal.get(change.address)
        if prior is not None and prior.orphan_mitigation_pending and prior.instance_id:
            prior = await steps.mitigate(client, prior, p.maximum_polling_duration)
        resuming, instance_id = osb_id(prior, prior.instance_id if prior else None, p.external_id)
        params = await steps.params(change, inst, p.parameters_checksum)
        sensitive = sensitive_now(change, params, p.sensitive_keys)
        shown = change.after or {}
        base = ResourceState(
            address=change.address,
            kind=self.kind,
            status=ResourceStatus.CREATING,
            broker=record.address,
            service_id=p.service_id,
            plan_id=p.plan_id,
            instance_id=instance_id,
            parameters={k: v for k, v in params.items() if k not in sensitive},
            sensitive_parameter_keys=sensitive,
            operation=InFlightOperation(kind=OperationKind.PROVISION, request_sent=True),
            depends_on=change.depends_on,
            attributes=instance_attributes(record, p, inst.spec.update_requests, shown),
        )

        async def send() -> Outcome:
            ns_uid = await steps.namespace_uid(ns)
            guids = platform_guids(client.conn, namespace=ns, namespace_uid=ns_uid)
            mi = p.maintenance_info
            return await client.provision(
                instance_id,
                p.service_id,
                p.plan_id,
                context=instance_context(client.conn, namespace=ns, instance_name=name),
                organization_guid=guids.organization_guid,
                space_guid=guids.space_guid,
                parameters=params or None,
                maintenance_info={"version": mi} if mi else None,
            )

        async def ready(state: ResourceState, body: Mapping[str, Any] | None) -> ResourceState:
            update: dict[str, Any] = {
                "status": ResourceStatus.READY,
                "operation": None,
                "parameters_checksum": p.parameters_checksum or None,
                "maintenance_info_version": p.maintenance_info,
            }
            if body is not None:
                update["dashboard_url"] = body.get("dashboard_url")
            return state.model_copy(update=update)

        await create(
            steps,
            Creation(
                verb="provision",
                doing="provisioning",
                request=RequestKind.PROVISION,
                client=client,
                base=starting_state(resuming, base),
                max_duration=p.maximum_polling_duration,
                send=send,
                ready=ready,
            ),
        )
