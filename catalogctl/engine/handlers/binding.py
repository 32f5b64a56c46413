"""ServiceBinding at plan time: check its instance's plan, merge parameters; observe it."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from typing import Any

from catalogctl.engine.brokers import BrokerRecord
from catalogctl.engine.handlers.base import (
    ApplyContext,
    ObserveContext,
    ResolveContext,
    spec_checksum,
)
from catalogctl.engine.handlers.broker import StepFailed
from catalogctl.engine.handlers.create import Creation, create, resumed, starting_state
from catalogctl.engine.handlers.instance import current_record
from catalogctl.engine.handlers.parameters import (
    merged_parameters,
    parameter_path,
    sensitive_now,
    split_sensitive,
)
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import LoadedResource
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Change
from catalogctl.plan.payloads import BindingPayload
from catalogctl.providers.osb.catalog import ResolvedPlan
from catalogctl.providers.osb.identity import binding_context, platform_guids
from catalogctl.providers.osb.outcomes import Done, NotFound, Outcome, RequestKind, describe
from catalogctl.providers.osb.params import validate_for_plan
from catalogctl.state.models import (
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
    checksum,
    utcnow,
)


def binding_attributes(
    record: BrokerRecord, p: BindingPayload, secret_name: str | None
) -> dict[str, Any]:
    """What state keeps about a binding beyond its ids: how to reach its broker, and more."""
    return {
        "broker_record": record.to_dict(),
        "checksum": p.checksum,
        "bindings_retrievable": p.bindings_retrievable,
        "display": {"instance": p.instance, "secret_name": secret_name},
    }


def _payload(
    binding: ServiceBinding,
    instance: str,
    checksum: str,
    parameters_checksum: str,
    plan: ResolvedPlan,
    sensitive: tuple[str, ...],
) -> BindingPayload:
    return BindingPayload(
        spec=binding.model_dump(by_alias=True, exclude_none=True, mode="json"),
        instance=instance,
        checksum=checksum,
        parameters_checksum=parameters_checksum,
        bindings_retrievable=plan.bindings_retrievable,
        maximum_polling_duration=plan.maximum_polling_duration,
        sensitive_keys=sensitive,
    )


class BindingHandler:
    kind = "ServiceBinding"

    async def resolve(self, ctx: ResolveContext) -> None:
        for res, binding in ctx.desired.of_type(ServiceBinding):
            self._resolve_one(ctx, res, binding)

    def _resolve_one(
        self, ctx: ResolveContext, res: LoadedResource, binding: ServiceBinding
    ) -> None:
        address = str(res.address)
        ns = res.address.namespace
        instance = str(Address("ServiceInstance", ns, binding.spec.instance_ref.name))
        plan = ctx.plans.get(instance)
        if plan is None:
            return  # the instance's own problem is reported
        if not plan.bindable:
            ctx.problems.append(
                res.problem(
                    ("spec", "instanceRef", "name"),
                    f"{instance} uses plan {plan.plan.name!r}, which is not bindable",
                )
            )
            return
        merged, found = merged_parameters(
            ns, binding.spec.parameters, binding.spec.parameters_from, ctx.secrets
        )
        ctx.field_problems(res, found)
        if merged is None:
            return
        merged_sum = merged.checksum
        ctx.field_problems(
            res,
            [
                (parameter_path(p.source, p.parts), f"rejected by the plan's schema: {p.message}")
                for p in validate_for_plan(plan, "binding_create", merged)
            ],
        )
        sensitive, visible, shown = split_sensitive(merged)
        secret_name = binding.effective_secret_name
        checksum = spec_checksum([instance, merged_sum, binding.spec.external_id])
        ctx.out.desired[address] = DesiredResource(
            address,
            self.kind,
            {"instance": instance, "secret_name": secret_name, "parameters": shown},
            depends_on=(instance,),
            sensitive_paths=(*(("parameters", k) for k in sensitive), ("credentials",)),
            identity={"instance": instance},
            checksum=checksum,
            parameters=visible,
            sensitive_parameter_keys=sensitive,
            parameters_checksum=merged_sum,
            retrievable=plan.bindings_retrievable,
        )
        ctx.out.private[address] = functools.partial(
            _payload, binding, instance, checksum, merged_sum, plan, sensitive
        )

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        record = current_record(res, ctx)
        if record is None or not res.attributes.get("bindings_retrievable"):
            return None
        client = await ctx.brokers.client(record)
        outcome = await client.get_binding(
            res.instance_id or "",
            res.binding_id or "",
            service_id=res.service_id,
            plan_id=res.plan_id,
        )
        if isinstance(outcome, Done):
            return ObservedResource(res.address, True)
        if isinstance(outcome, NotFound):
            return ObservedResource(
                res.address, False, detail=f"the broker answered 404 for binding {res.binding_id}"
            )
        return None

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        steps = ctx.broker
        p = BindingPayload.from_private(change.private)
        binding = ServiceBinding.model_validate(p.spec)
        inst = steps.journal.get(p.instance)
        if inst is None or inst.status is not ResourceStatus.READY or not inst.instance_id:
            raise StepFailed(f"{p.instance} is not provisioned")
        if not inst.instance_usable:
            raise StepFailed(
                f"{p.instance} is not usable after a failed operation; bindings are not created"
            )
        instance_id = inst.instance_id
        record, client = await steps.client(inst.attributes.get("broker_record"))
        ns = change.address.split("/")[1]
        prior = steps.journal.get(change.address)
        if prior is not None and prior.orphan_mitigation_pending and prior.binding_id:
            prior = await steps.mitigate(client, prior, None)
        resuming = resumed(prior, prior.binding_id if prior else None)
        binding_id = (
            resuming.binding_id
            if resuming is not None and resuming.binding_id
            else (binding.spec.external_id or str(uuid.uuid4()))
        )
        params = await steps.params(change, binding, p.parameters_checksum)
        sensitive = sensitive_now(change, params, p.sensitive_keys)
        base = ResourceState(
            address=change.address,
            kind=self.kind,
            status=ResourceStatus.CREATING,
            broker=record.address,
            service_id=inst.service_id,
            plan_id=inst.plan_id,
            instance_id=instance_id,
            binding_id=binding_id,
            parameters={k: v for k, v in params.items() if k not in sensitive},
            sensitive_parameter_keys=sensitive,
            parameters_checksum=p.parameters_checksum or None,
            operation=InFlightOperation(kind=OperationKind.BIND, request_sent=True),
            depends_on=change.depends_on,
            attributes=binding_attributes(record, p, binding.effective_secret_name),
        )
        service_id, plan_id = inst.service_id or "", inst.plan_id or ""

        async def send() -> Outcome:
            ns_uid = await steps.namespace_uid(ns)
            guids = platform_guids(client.conn, namespace=ns, namespace_uid=ns_uid)
            return await client.bind(
                instance_id,
                binding_id,
                service_id,
                plan_id,
                context=binding_context(client.conn, namespace=ns),
                parameters=params or None,
                bind_resource={"app_guid": guids.space_guid},
                app_guid=guids.space_guid,
            )

        async def ready(state: ResourceState, body: Mapping[str, Any] | None) -> ResourceState:
            if body is None:
                # An async bind's credentials are fetched once it succeeded.
                fetched = await steps.send(
                    change.address,
                    lambda: client.get_binding(
                        instance_id, binding_id, inst.service_id, inst.plan_id
                    ),
                )
                if not isinstance(fetched, Done):
                    failure = (
                        "binding succeeded but its credentials could not be read: "
                        f"{describe(fetched)}"
                    )
                    await steps.mitigate(client, base, None, failure)
                    raise StepFailed(failure)
                body = fetched.body
            found = body.get("credentials", {})
            credentials = found if isinstance(found, Mapping) else {}
            steps.credentials[change.address] = credentials
            return state.model_copy(
                update={
                    "status": ResourceStatus.READY,
                    "operation": None,
                    "credentials_hash": checksum(dict(credentials)),
                    # The credentials' age, for --rotate-older-than.
                    "attributes": dict(
                        sorted({**state.attributes, "bound_at": utcnow().isoformat()}.items())
                    ),
                }
            )

        await create(
            steps,
            Creation(
                verb="bind",
                doing="binding",
                request=RequestKind.BIND,
                client=client,
                base=starting_state(resuming, base),
                max_duration=p.maximum_polling_duration,
                send=send,
                ready=ready,
            ),
        )

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        await ctx.broker.delete(prior)
