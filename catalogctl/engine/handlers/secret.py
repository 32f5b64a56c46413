"""The binding Secret at plan time: one per resolved binding; observed in the cluster."""

from __future__ import annotations

import asyncio

from catalogctl.engine.handlers.base import ObserveContext, ResolveContext, spec_checksum
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.state.models import ResourceState


class SecretHandler:
    kind = "Secret"

    async def resolve(self, ctx: ResolveContext) -> None:
        for res, binding in ctx.desired.of_type(ServiceBinding):
            address = str(res.address)
            if address not in ctx.out.desired:
                continue  # the binding did not resolve: its problem is reported
            ns = res.address.namespace
            name = binding.effective_secret_name
            secret = str(Address(self.kind, ns, name))
            transforms = [
                t.model_dump(by_alias=True, exclude_none=True, mode="json")
                for t in binding.spec.secret_transforms
            ]
            checksum = spec_checksum(transforms)
            ctx.out.desired[secret] = DesiredResource(
                secret,
                self.kind,
                {"namespace": ns, "name": name, "type": "Opaque"},
                depends_on=(address,),
                checksum=checksum,
                producer=address,
            )
            ctx.out.private[secret] = {
                "binding": address,
                "transforms": transforms,
                "checksum": checksum,
            }

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        _, ns, name = res.address.split("/")
        seen = await asyncio.to_thread(ctx.cluster.observe_binding_secret, ns, name)
        if not seen.exists:
            return ObservedResource(res.address, False, detail="the Secret no longer exists")
        return ObservedResource(res.address, True, content_hash=seen.data_hash)
