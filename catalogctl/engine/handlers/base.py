"""What every resource kind's handler offers, and the context each step gets.

A handler knows one kind catalogctl manages.  At plan time it *resolves* the
kind's desired resources (what the diff compares and the plan shows, plus the
private payload apply needs) and *observes* resources in state (read-only:
what the broker or cluster says now).  The decision between them is the pure
diff (``catalogctl.plan.diff``).  At apply time it *applies* a change (create
or update) and *destroys* what state holds, recording each step through the
:class:`ApplyContext`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, runtime_checkable

from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.handlers.broker import BrokerSteps
from catalogctl.engine.handlers.parameters import SecretValues
from catalogctl.engine.ports import ClusterPort
from catalogctl.engine.progress import Progress
from catalogctl.errors import Problem
from catalogctl.model.desired import Desired, LoadedResource
from catalogctl.plan.inputs import DesiredResource, ObservedResource
from catalogctl.plan.model import Change
from catalogctl.plan.payloads import Payload
from catalogctl.providers.osb.catalog import Catalog, ResolvedPlan
from catalogctl.state.models import ResourceState, State


def spec_checksum(value: Any) -> str:
    """sha256 of a JSON value, keys sorted: equal specs, equal checksums."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


P = TypeVar("P", bound=Payload)


@dataclass
class Resolution:
    """What resolution learned: desired resources, apply's private payloads, upgrades."""

    desired: dict[str, DesiredResource] = field(default_factory=dict)
    #: address -> builds apply's private payload of it (``catalogctl.plan.payloads``).
    #: Built when asked for: the diff asks only for changes apply acts on, so a
    #: plan of no-ops copies no specs or broker records.
    private: dict[str, Callable[[], Payload]] = field(default_factory=dict)
    upgrades: list[str] = field(default_factory=list)

    def find(self, address: str, kind: type[P]) -> P | None:
        """The payload of ``address``, if resolution made one of ``kind``."""
        build = self.private.get(address)
        found = build() if build is not None else None
        return found if isinstance(found, kind) else None

    def payload(self, address: str, kind: type[P]) -> P:
        """The payload of ``address``; KeyError if resolution made none of ``kind``."""
        found = self.find(address, kind)
        if found is None:
            raise KeyError(address)
        return found


@dataclass
class ResolveContext:
    """Everything resolution reads, and where handlers put what they found.

    Handlers run in dependency order (instances, bindings, mappings): each
    may read what an earlier one resolved (``plans`` of instances).
    """

    desired: Desired
    state: State
    cluster: ClusterPort
    #: broker address -> how to reach it
    records: dict[str, BrokerRecord]
    cluster_catalogs: list[Catalog]
    #: namespace -> catalogs of its namespaced brokers
    namespaced_catalogs: dict[str, list[Catalog]]
    #: every parametersFrom Secret key the desired state reads, as read
    secrets: SecretValues = field(default_factory=dict)
    #: show what PodMapping patches would change in workloads (plan output)
    preview_workloads: bool = True
    #: addresses the run replaces (--replace): no update schema applies to them
    replacing: frozenset[str] = frozenset()
    out: Resolution = field(default_factory=Resolution)
    problems: list[Problem] = field(default_factory=list)
    #: instance address -> its resolved plan
    plans: dict[str, ResolvedPlan] = field(default_factory=dict)

    def field_problems(self, res: LoadedResource, found: list[tuple[Any, str]]) -> None:
        """Record problems found at field paths of ``res``, positioned in its YAML."""
        self.problems.extend(res.problem(path, message) for path, message in found)


@dataclass(frozen=True)
class ObserveContext:
    """What refresh reads with: the resolution (current broker records), brokers, cluster."""

    state: State
    resolution: Resolution
    brokers: Brokers
    cluster: ClusterPort


@dataclass(frozen=True)
class ApplyContext:
    """What a handler's apply and destroy steps work with."""

    cluster: ClusterPort
    progress: Progress
    #: record a resource's new state (or, given an address, forget it) durably
    persist: Callable[[ResourceState | str], Awaitable[None]]
    #: the run's brokers: clients, polling, orphan mitigation, credentials
    broker: BrokerSteps

    async def written(self, change: Change, attributes: dict[str, Any]) -> None:
        """Record the cluster object ``change`` wrote (a Secret, a workload's mapping)."""
        res = ResourceState(
            address=change.address,
            kind=change.kind,
            depends_on=change.depends_on,
            attributes=attributes,
        )
        await self.persist(res)


class PlanSteps(Protocol):
    """A managed kind at plan time."""

    kind: str

    async def resolve(self, ctx: ResolveContext) -> None:
        """Add this kind's desired resources (and problems) to ``ctx``."""
        ...

    async def observe(self, res: ResourceState, ctx: ObserveContext) -> ObservedResource | None:
        """What the live world says about ``res`` (None: cannot tell). Read-only."""
        ...


class ApplySteps(Protocol):
    """A managed kind at apply time."""

    kind: str

    async def apply(self, change: Change, ctx: ApplyContext) -> None:
        """Create or update the resource as ``change`` says, recording each step."""
        ...

    async def destroy(self, change: Change, prior: ResourceState, ctx: ApplyContext) -> None:
        """Delete ``prior`` (the resource as state holds it) and forget it."""
        ...


@runtime_checkable
class RetireSteps(Protocol):
    """A kind whose replacement can retire the old resource after the new one is in place."""

    async def retire(self, change: Change, ctx: ApplyContext) -> None:
        """Delete what the resource replaced (recorded in state), once the new one serves."""
        ...


class Handler(PlanSteps, ApplySteps, Protocol):
    """One managed kind, from resolution to deletion."""
