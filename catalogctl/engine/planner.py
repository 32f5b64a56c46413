"""Planning: resolve the desired state against broker catalogs, refresh, diff.

Everything here is read-only towards brokers and clusters (GET catalog, GET
instance/binding, read Secrets and workloads), which is what makes ``plan``
safe to run anywhere (architecture invariant 1).  What is specific to a kind
lives in its handler (:mod:`catalogctl.engine.handlers`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator
from datetime import UTC, datetime

from catalogctl import __version__
from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.handlers import (
    HANDLERS,
    ORDERED,
    ObserveContext,
    Resolution,
    ResolveContext,
)
from catalogctl.engine.handlers.parameters import SecretKey, read_secrets, secret_keys
from catalogctl.engine.inputs import Inputs
from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import ValidationFailed
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired
from catalogctl.model.instances import ServiceInstance
from catalogctl.plan.diff import compute_plan
from catalogctl.plan.inputs import DesiredResource, DiffOptions, ObservedResource
from catalogctl.plan.model import Plan
from catalogctl.plan.payloads import BrokerPayload
from catalogctl.providers.osb.catalog import Catalog
from catalogctl.state.models import ResourceStatus, State

__all__ = ["Resolution", "make_plan", "refresh", "resolve"]


async def resolve(
    inputs: Inputs,
    state: State,
    brokers: Brokers,
    cluster: ClusterPort,
    *,
    preview_workloads: bool = True,
    replacing: frozenset[str] = frozenset(),
) -> Resolution:
    """Fetch catalogs, then let each kind's handler resolve its resources.

    Raises ValidationFailed (with positions) for selector and parameter
    problems, before anything is changed anywhere.
    """
    desired = inputs.desired
    declared = list(desired.of_type(Broker))
    records = {
        str(res.address): BrokerRecord.from_broker(str(res.address), b, res.address.namespace)
        for res, b in declared
    }
    fetched = await asyncio.gather(
        *(brokers.catalog(records[str(res.address)], b) for res, b in declared)
    )
    cluster_catalogs: list[Catalog] = []
    namespaced: dict[str, list[Catalog]] = {}
    for (res, b), catalog in zip(declared, fetched, strict=True):
        if b.cluster_scoped:
            cluster_catalogs.append(catalog)
        else:
            namespaced.setdefault(res.address.namespace, []).append(catalog)
    ctx = ResolveContext(
        desired=desired,
        state=state,
        cluster=cluster,
        records=records,
        cluster_catalogs=cluster_catalogs,
        namespaced_catalogs=namespaced,
        preview_workloads=preview_workloads,
        replacing=replacing,
        secrets=await read_secrets(_parameter_secrets(desired), cluster),
    )
    for res, b in declared:
        address = str(res.address)
        ctx.out.desired[address] = DesiredResource(address, res.address.kind, {"url": b.spec.url})
        ctx.out.private[address] = functools.partial(BrokerPayload, records[address].to_dict())
    for handler in ORDERED:
        await handler.resolve(ctx)
    if ctx.problems:
        raise ValidationFailed(ctx.problems)
    return ctx.out


def _parameter_secrets(desired: Desired) -> Iterator[SecretKey]:
    for res, inst in desired.of_type(ServiceInstance):
        yield from secret_keys(res.address.namespace, inst.spec.parameters_from)
    for res, binding in desired.of_type(ServiceBinding):
        yield from secret_keys(res.address.namespace, binding.spec.parameters_from)


async def refresh(
    state: State,
    resolution: Resolution,
    brokers: Brokers,
    cluster: ClusterPort,
) -> dict[str, ObservedResource]:
    """Read live state for every ready resource in state, concurrently and read-only.

    Every read starts at once; what bounds them is where they wait: broker
    requests for a request slot (per broker and the run's --parallelism),
    cluster reads for a worker thread.
    """
    ctx = ObserveContext(state, resolution, brokers, cluster)
    observed: dict[str, ObservedResource] = {}

    async def observe(address: str) -> None:
        res = state.resources[address]
        handler = HANDLERS.get(res.kind)
        if handler is None or res.status is not ResourceStatus.READY:
            return
        result = await handler.observe(res, ctx)
        if result is not None:
            observed[address] = result

    await asyncio.gather(*(observe(a) for a in state.resources))
    return observed


async def make_plan(
    inputs: Inputs | None,
    state: State,
    brokers: Brokers,
    cluster: ClusterPort,
    options: DiffOptions,
    *,
    do_refresh: bool = True,
) -> Plan:
    """Resolve, refresh and diff: the whole of ``catalogctl plan``.

    A destroy plan needs no catalogs: everything to delete, and the broker to
    delete it at, is in state.
    """
    if inputs is None or options.destroy:
        resolution = Resolution()
    else:
        resolution = await resolve(
            inputs,
            state,
            brokers,
            cluster,
            preview_workloads=do_refresh,
            replacing=options.replace,
        )
    observed = await refresh(state, resolution, brokers, cluster) if do_refresh else {}
    return compute_plan(
        resolution.desired,
        state,
        observed,
        options,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        version=__version__,
        upgrades_available=tuple(sorted(resolution.upgrades)),
        private=resolution.private,
    )
