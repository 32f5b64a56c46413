"""The binding Secret at plan time: one per resolved binding; observed in the cluster."""

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
from catalogctl.engine.ports import ClusterPort
from catalogctl.model.address import Address
from catalogctl.model.bindings import SecretTransform, ServiceBinding
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Change
from catalogctl.plan.payloads import SecretPayload
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
            ctx.out.private[secret] = functools.partial(
                SecretPayload, address, tuple(transforms), checksum
            )

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        _, ns, name = res.address.split("/")
        seen = await asyncio.to_thread(ctx.cluster.observe_binding_secret, ns, name)
        if not seen.exists:
            return ObservedResource(res.address, False, detail="the Secret no longer exists")
        return ObservedResource(res.address, True, content_hash=seen.data_hash)

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        payload = SecretPayload.from_private(change.private)
        _, ns, name = change.address.split("/")
        transforms = [SecretTransform.model_validate(t) for t in payload.transforms]
        async with ctx.progress.step(change.address, "write"):
            credentials = await ctx.broker.credentials_for(payload.binding)
            source = ctx.broker.journal.get(payload.binding)  # whose credentials these are
            # Both are blocking cluster calls (addKeysFrom reads other Secrets):
            # one trip to a worker thread for the two.
            data, digest = await asyncio.to_thread(
                _build_and_write, ctx.cluster, ns, name, credentials, transforms, payload.binding
            )
        await ctx.written(
            change,
            {
                "binding": payload.binding,
                "checksum": payload.checksum,
                "data_hash": digest,
                "revision": secret_revision(ctx.broker.journal.get(change.address), digest),
                "binding_id": source.binding_id if source is not None else None,
                "keys": sorted(data),
                "display": {"namespace": ns, "name": name, "type": "Opaque"},
            },
        )

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        _, ns, name = change.address.split("/")
        owner = str(prior.attributes.get("binding", ""))
        async with ctx.progress.step(change.address, "delete"):
            await asyncio.to_thread(ctx.cluster.delete_binding_secret, ns, name, owner)
        await ctx.persist(change.address)


def _build_and_write(
    cluster: ClusterPort,
    namespace: str,
    name: str,
    credentials: Mapping[str, Any],
    transforms: list[SecretTransform],
    binding: str,
) -> tuple[dict[str, bytes], str]:
    """Build a binding Secret's data and write it: its data and the sha256 digest of it."""
    data = cluster.build_secret_data(namespace, credentials, transforms, binding)
    return data, cluster.write_binding_secret(namespace, name, data, binding)


def secret_revision(prior: ResourceState | None, digest: str) -> int:
    """The revision of a binding Secret just written with data of sha256 ``digest``.

    A counter, raised when the data differs from the last write recorded in
    state: mapped workloads record it in their pod template, so it must move
    exactly when what the workloads would read changes (a rewrite of the same
    data keeps it, and rolls nothing).
    """
    if prior is None:
        return 1
    raw = prior.attributes.get("revision")
    previous = raw if isinstance(raw, int) else 1
    return previous if prior.attributes.get("data_hash") == digest else previous + 1
