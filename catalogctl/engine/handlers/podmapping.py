"""PodMapping at plan time: check the workload exists, preview the patch; observe the workload."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping
from typing import Any

from catalogctl.engine.handlers.base import (
    ApplyContext,
    ObserveContext,
    ResolveContext,
    spec_checksum,
)
from catalogctl.engine.handlers.rollouts import wait_for_rollouts
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import LoadedResource
from catalogctl.model.podmappings import PodMapping
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Change
from catalogctl.plan.payloads import MappingPayload
from catalogctl.state.models import ResourceState


def mapping_checksum(spec: Mapping[str, Any], secret_name: str) -> str:
    """A PodMapping's checksum: its spec and the Secret it maps.

    ``rollout`` at its default (true) is left out, so mappings applied before
    the field existed keep their checksum and are not all re-applied (and their
    workloads rolled) by an upgrade; they pick up the revision annotation at
    their Secret's next change.
    """
    if spec.get("rollout") is True:
        spec = {k: v for k, v in spec.items() if k != "rollout"}
    return spec_checksum([spec, secret_name])


class PodMappingHandler:
    kind = "PodMapping"

    async def resolve(self, ctx: ResolveContext) -> None:
        mappings = list(ctx.desired.of_type(PodMapping))
        # A mapping into a workload that does not exist is an input error: say
        # so at plan time, not halfway through an apply.
        exists = await asyncio.gather(
            *(
                asyncio.to_thread(
                    ctx.cluster.workload_exists,
                    res.address.namespace,
                    m.spec.target.kind,
                    m.spec.target.name,
                )
                for res, m in mappings
            )
        )
        found = list(zip(mappings, exists, strict=True))
        for (res, mapping), present in found:
            if present:
                continue
            wanted = mapping.spec.target
            ctx.problems.append(
                res.problem(
                    ("spec", "target", "name"),
                    f"{wanted.kind} {wanted.name!r} does not exist in namespace "
                    f"{res.address.namespace!r}",
                )
            )
        await asyncio.gather(
            *(
                self._resolve_one(ctx, res, mapping, present)
                for (res, mapping), present in found
            )
        )

    async def _resolve_one(
        self, ctx: ResolveContext, res: LoadedResource, mapping: PodMapping, present: bool
    ) -> None:
        address = str(res.address)
        ns = res.address.namespace
        bres = ctx.desired.get(Address("ServiceBinding", ns, mapping.spec.binding_ref.name))
        if bres is None or not isinstance(bres.obj, ServiceBinding):
            return
        secret_name = bres.obj.effective_secret_name
        secret = str(Address("Secret", ns, secret_name))
        spec = mapping.model_dump(by_alias=True, exclude_none=True, mode="json")
        target = f"{mapping.spec.target.kind}/{mapping.spec.target.name}"
        attrs: dict[str, Any] = {
            "target": target,
            "containers": mapping.spec.target.containers or ["*"],
            "env": {
                e.name: (f"secretKeyRef {secret_name}/{e.key}" if e.key is not None else e.value)
                for e in mapping.spec.env
            },
            "envFrom": spec["spec"].get("envFrom"),
            "volume": spec["spec"].get("volume"),
            "rollout": mapping.spec.rollout,
        }
        if ctx.preview_workloads and present:
            # What the patch will do to the workload, as the plan shows it
            # (read-only; nothing here is a Secret value).
            seen = await asyncio.to_thread(
                ctx.cluster.observe_mapping, ns, mapping, secret_name, address
            )
            if seen.pending:
                attrs["workload"] = [str(change) for change in seen.pending]
        checksum = mapping_checksum(spec["spec"], secret_name)
        ctx.out.desired[address] = DesiredResource(
            address,
            self.kind,
            attrs,
            depends_on=(secret,),
            identity={"target": target},
            checksum=checksum,
        )
        ctx.out.private[address] = functools.partial(
            MappingPayload, spec, secret_name, checksum, target
        )

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        payload = ctx.resolution.find(res.address, MappingPayload)
        if payload is None:
            return None
        mapping = PodMapping.model_validate(payload.spec)
        ns = res.address.split("/")[1]
        seen = await asyncio.to_thread(
            ctx.cluster.observe_mapping, ns, mapping, payload.secret_name, res.address
        )
        if not seen.workload_exists:
            target = mapping.spec.target
            return ObservedResource(
                res.address, False, detail=f"{target.kind}/{target.name} no longer exists"
            )
        if payload.checksum != res.attributes.get("checksum"):
            # The configuration changed the mapping: its new entries are not applied yet, so
            # their absence is the pending update, not a change made outside catalogctl.
            return ObservedResource(res.address, True)
        # An entry edited in place (say TOPIC now from another key) is as wrong as a missing one.
        return ObservedResource(res.address, True, missing=(*seen.missing, *seen.changed))

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        payload = MappingPayload.from_private(change.private)
        ns = change.address.split("/")[1]
        mapping = PodMapping.model_validate(payload.spec)
        secret = ctx.broker.journal.get(str(Address("Secret", ns, payload.secret_name)))
        raw = secret.attributes.get("revision") if secret is not None else None
        revision = raw if isinstance(raw, int) and mapping.spec.rollout else None
        async with ctx.progress.step(change.address, "map"):
            await asyncio.to_thread(
                ctx.cluster.apply_mapping,
                ns,
                mapping,
                payload.secret_name,
                change.address,
                revision,
            )
        binding = ctx.broker.journal.get(str(secret.attributes.get("binding"))) if secret else None
        # A rotation's retire step waits for its workloads itself, before it unbinds.
        if change.private.get("rollout") and revision and not (binding and binding.retiring):
            target = mapping.spec.target
            await wait_for_rollouts(ctx, change.address, [f"{target.kind}/{ns}/{target.name}"])
        shown = {k: v for k, v in (change.after or {}).items() if k != "workload"}
        await ctx.written(
            change,
            {
                "target": payload.target,
                "checksum": payload.checksum,
                "secret_name": payload.secret_name,
                "secret_revision": revision,
                "display": shown,
            },
        )

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        ns = change.address.split("/")[1]
        kind, _, name = str(prior.attributes.get("target", "")).partition("/")
        async with ctx.progress.step(change.address, "unmap"):
            await asyncio.to_thread(ctx.cluster.remove_mapping, ns, kind, name, change.address)
        await ctx.persist(change.address)
