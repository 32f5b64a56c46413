"""ServiceBinding at plan time: check its instance's plan, merge parameters; observe it."""

from __future__ import annotations

import asyncio

from catalogctl.engine.handlers.base import ObserveContext, ResolveContext, spec_checksum
from catalogctl.engine.handlers.instance import current_record
from catalogctl.engine.handlers.parameters import (
    merged_parameters,
    parameter_path,
    split_sensitive,
)
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import LoadedResource
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.payloads import BindingPayload
from catalogctl.providers.osb.outcomes import Done, NotFound
from catalogctl.providers.osb.params import validate_for_plan
from catalogctl.state.models import ResourceState


class BindingHandler:
    kind = "ServiceBinding"

    async def resolve(self, ctx: ResolveContext) -> None:
        # Concurrently: parametersFrom Secrets are cluster reads.
        await asyncio.gather(
            *(self._resolve_one(ctx, res, b) for res, b in ctx.desired.of_type(ServiceBinding))
        )

    async def _resolve_one(
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
        merged, found = await merged_parameters(
            ns, binding.spec.parameters, binding.spec.parameters_from, ctx.cluster
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
        ctx.out.private[address] = BindingPayload(
            spec=binding.model_dump(by_alias=True, exclude_none=True, mode="json"),
            instance=instance,
            checksum=checksum,
            parameters_checksum=merged_sum,
            bindings_retrievable=plan.bindings_retrievable,
            maximum_polling_duration=plan.maximum_polling_duration,
        ).to_private()

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
