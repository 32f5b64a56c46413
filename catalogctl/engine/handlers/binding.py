"""ServiceBinding at plan time: check its instance's plan, merge parameters; observe it."""

from __future__ import annotations

import functools
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
from catalogctl.engine.handlers.create import (
    CreateRejected,
    Creation,
    create,
    osb_id,
    starting_state,
)
from catalogctl.engine.handlers.instance import current_record
from catalogctl.engine.handlers.parameters import (
    merged_parameters,
    parameter_path,
    sensitive_now,
    split_sensitive,
)
from catalogctl.engine.handlers.rollouts import wait_for_rollouts
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import LoadedResource
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Action, Change
from catalogctl.plan.payloads import BindingPayload
from catalogctl.providers.osb.catalog import ResolvedPlan
from catalogctl.providers.osb.identity import binding_context, platform_guids
from catalogctl.providers.osb.outcomes import (
    Conflict,
    Done,
    NotFound,
    Outcome,
    RequestKind,
    describe,
)
from catalogctl.providers.osb.params import validate_for_plan
from catalogctl.state.models import (
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
    RetiringBinding,
    checksum,
    retiring_text,
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
            rotation=binding.spec.rotation or "create-before-destroy",
            external_id=binding.spec.external_id,
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
        if change.action is Action.UPDATE:
            return  # only predecessors of a rotation to unbind: the retire step does it
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
        uncertain = prior is not None and (
            prior.orphan_mitigation_pending
            # a rotation's new binding that failed uncertainly is cleaned up, never dropped
            or (bool(prior.retiring) and prior.status is ResourceStatus.TAINTED)
        )
        if prior is not None and uncertain and prior.binding_id:
            prior = await steps.mitigate(client, prior, None)
        # Bindings a rotation retires stay recorded until they are unbound; a new
        # rotation adds the binding bound now, in the same record as the new id.
        retiring = prior.retiring if prior is not None else ()
        rotating = (
            change.action is Action.CREATE_THEN_DELETE
            and prior is not None
            and prior.status is ResourceStatus.READY
            and prior.binding_id is not None
        )
        if rotating:
            assert prior is not None and prior.binding_id is not None
            retiring = (*retiring, _retiring(prior, prior.binding_id))
        resuming, binding_id = osb_id(
            prior, prior.binding_id if prior else None, binding.spec.external_id
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
            retiring=retiring,
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

        try:
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
        except CreateRejected as rejected:
            if not retiring:
                raise
            if rotating:
                # The broker holds nothing for the new id: the binding is as it
                # was before this run, still bound and still in its Secret.
                assert prior is not None
                await ctx.persist(prior)
            raise StepFailed(_refused(rejected, retiring)) from None

    async def retire(self, change: Change, ctx: ApplyContext) -> None:
        """Unbind what a rotation replaced, once the new binding's Secret and mappings are applied.

        With ``apply --wait``, first wait until the workloads that read the
        Secret run their new pod template.
        """
        steps = ctx.broker
        res = steps.journal.get(change.address)
        if res is None or not res.retiring:
            return
        if res.status is not ResourceStatus.READY:
            old = retiring_text(res.retiring)
            raise StepFailed(f"binding {res.binding_id} is not bound, so {old} stays bound")
        workloads = BindingPayload.from_private(change.private).rotation.workloads
        await wait_for_rollouts(ctx, change.address, workloads)
        await _unbind_retiring(change.address, ctx)

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        if prior.retiring:
            await _unbind_retiring(change.address, ctx)
            prior = ctx.broker.journal.get(change.address) or prior
        await ctx.broker.delete(prior)


def _retiring(res: ResourceState, binding_id: str) -> RetiringBinding:
    return RetiringBinding(
        binding_id=binding_id,
        instance_id=res.instance_id or "",
        service_id=res.service_id,
        plan_id=res.plan_id,
        since=utcnow(),
    )


def _refused(rejected: CreateRejected, retiring: tuple[RetiringBinding, ...]) -> str:
    """Why a create-before-destroy bind failed, and what still holds."""
    old = retiring_text(retiring)
    message = str(rejected)
    if isinstance(rejected.outcome, Conflict):
        message += (
            f"; the broker refuses a second binding of the instance while {old} is bound: "
            "set spec.rotation: destroy-first on this ServiceBinding to unbind the old "
            "binding before binding again"
        )
    return f"{message} ({old} and its Secret are unchanged)"


async def _unbind_retiring(address: str, ctx: ApplyContext) -> None:
    """Unbind each binding a rotation retires, forgetting it once the broker confirms.

    Each step goes into the binding's own record (the unbind in flight, then
    its removal), so a run stopped in between unbinds it again next time.
    """
    steps = ctx.broker
    current = steps.journal.get(address)
    for entry in current.retiring if current is not None else ():
        owner = steps.journal.get(address)
        assert owner is not None
        old = owner.model_copy(
            update={
                "binding_id": entry.binding_id,
                "instance_id": entry.instance_id,
                "service_id": entry.service_id,
                "plan_id": entry.plan_id,
                "status": ResourceStatus.READY,
                "operation": None,
                "retiring": (),
            }
        )

        async def record(step: ResourceState | None, entry: RetiringBinding = entry) -> None:
            now = steps.journal.get(address)
            assert now is not None
            kept: list[RetiringBinding] = []
            for r in now.retiring:
                if r.binding_id != entry.binding_id:
                    kept.append(r)
                elif step is not None:  # None: the broker confirmed, it is forgotten
                    kept.append(r.model_copy(update={"operation": step.operation}))
            await ctx.persist(now.model_copy(update={"retiring": tuple(kept)}))

        await steps.delete(old, record)
