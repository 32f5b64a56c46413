"""Updating an instance in place (PATCH): plan, parameters, maintenance version."""

from __future__ import annotations

from typing import Any

from catalogctl.engine.handlers.base import ApplyContext
from catalogctl.engine.handlers.broker import StepFailed
from catalogctl.engine.handlers.parameters import sensitive_now
from catalogctl.model.instances import ServiceInstance
from catalogctl.plan.model import Change
from catalogctl.plan.payloads import InstancePayload
from catalogctl.providers.osb.identity import instance_context
from catalogctl.providers.osb.outcomes import Accepted, Done, describe
from catalogctl.providers.osb.poller import OperationKind as PollKind
from catalogctl.state.models import InFlightOperation, OperationKind, ResourceStatus


async def update_instance(change: Change, ctx: ApplyContext) -> None:
    """Send what changed, poll an async update, and record the instance as the broker left it.

    Updates are never orphan-mitigated: a failed PATCH changes nothing.  The
    payload's :class:`~catalogctl.plan.payloads.UpdateHints` say what to send.
    """
    steps = ctx.broker
    p = InstancePayload.from_private(change.private)
    hints = p.hints
    prior = steps.journal.get(change.address)
    if prior is None:
        raise StepFailed("not in state")
    inst = ServiceInstance.model_validate(p.spec)
    _, client = await steps.client(p.broker)
    _, ns, name = change.address.split("/")
    params = await steps.params(change, inst, p.parameters_checksum)
    changed = hints.changed_keys
    payload = {k: params.get(k) for k in changed} if changed else None
    new_plan = p.plan_id if p.plan_id != prior.plan_id or hints.plan_changed else None
    sensitive = sensitive_now(change, params, p.sensitive_keys)
    if hints.state_only:
        # Only where values come from changed (say a key moved from a Secret to
        # inline parameters): the broker already holds them, state learns it.
        await ctx.persist(
            prior.model_copy(
                update={
                    "parameters": {k: v for k, v in params.items() if k not in sensitive},
                    "sensitive_parameter_keys": sensitive,
                    "parameters_checksum": p.parameters_checksum or None,
                }
            )
        )
        return
    updating = prior.model_copy(
        update={
            "status": ResourceStatus.UPDATING,
            "operation": InFlightOperation(
                kind=OperationKind.UPDATE, request_sent=True, plan_id_before=prior.plan_id
            ),
        }
    )
    await ctx.persist(updating)
    async with ctx.progress.step(change.address, "update") as info:
        info["id"] = prior.instance_id or ""
        previous: dict[str, Any] = {"plan_id": prior.plan_id}
        if prior.maintenance_info_version:
            previous["maintenance_info"] = {"version": prior.maintenance_info_version}
        mi = p.maintenance_info if hints.upgrade or new_plan else None
        outcome = await steps.send(
            change.address,
            lambda: client.update(
                prior.instance_id or "",
                prior.service_id or p.service_id,
                plan_id=new_plan,
                parameters=payload,
                previous_values=previous,
                context=instance_context(client.conn, namespace=ns, instance_name=name),
                maintenance_info={"version": mi} if mi else None,
            ),
        )
        shown = change.after or {}
        attrs = dict(prior.attributes)
        attrs["update_requests"] = inst.spec.update_requests
        attrs["display"] = {
            "class": shown.get("class"),
            "plan": shown.get("plan"),
            "update_requests": inst.spec.update_requests,
        }
        done = prior.model_copy(
            update={
                "status": ResourceStatus.READY,
                "operation": None,
                "plan_id": p.plan_id,
                "parameters": {k: v for k, v in params.items() if k not in sensitive},
                "sensitive_parameter_keys": sensitive,
                "parameters_checksum": p.parameters_checksum or None,
                "maintenance_info_version": mi or prior.maintenance_info_version,
                "attributes": attrs,
            }
        )
        if isinstance(outcome, Done):
            url = outcome.body.get("dashboard_url")
            await ctx.persist(done.model_copy(update={"dashboard_url": url or prior.dashboard_url}))
            return
        if isinstance(outcome, Accepted):
            accepted_at = steps.scheduler.clock.monotonic()
            operation = InFlightOperation(
                kind=OperationKind.UPDATE,
                operation=outcome.operation,
                request_sent=True,
                plan_id_before=prior.plan_id,
            )
            await ctx.persist(updating.model_copy(update={"operation": operation}))
            # Polling an update uses the plan the instance had before it.
            polled = await steps.poll(
                client,
                prior,
                PollKind.UPDATE,
                outcome,
                accepted_at=accepted_at,
                max_duration=p.maximum_polling_duration,
            )
            if polled.succeeded:
                url = outcome.dashboard_url or prior.dashboard_url
                await ctx.persist(done.model_copy(update={"dashboard_url": url}))
                return
            await ctx.persist(prior.model_copy(update={"instance_usable": polled.instance_usable}))
            raise StepFailed(f"update failed: {polled.why}")
        usable = getattr(outcome, "instance_usable", True)
        await ctx.persist(prior.model_copy(update={"instance_usable": usable}))
        raise StepFailed(f"update rejected: {describe(outcome)}")
