"""Ownership at plan time: refuse to write an object that another owner holds.

A plan writes binding Secrets and workload mapping entries.  Each of them
records the state that wrote it (see
:mod:`catalogctl.providers.kubernetes.statemark`), so before anything else
happens (before any broker is asked for its catalog) the objects this plan
would write for the first time are read and compared with the state the run
uses.  An object written by another state, a Secret catalogctl does not manage,
or one Service Catalog still controls, stops the plan with one message naming
every such object, both owners and the way out.  This is what keeps a
mistyped ``--state`` from provisioning a second copy of everything and
overwriting the live Secrets.

Objects this state already records were checked when they were first
written, so only the rest are read: a plan against an established state reads
nothing extra.

Callers: :meth:`catalogctl.engine.session.Session.plan` (and apply, which
plans first).  Other commands that write into a cluster (e.g. an import that
adopts Service Catalog's Secrets) build their :class:`Claim` s and call
:func:`check_ownership` with ``adopting`` naming what they take over on purpose.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from catalogctl.errors import OwnershipError
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import Desired
from catalogctl.model.podmappings import PodMapping
from catalogctl.providers.kubernetes.mappings import OwnedRecord
from catalogctl.providers.kubernetes.secrets import SecretObservation
from catalogctl.providers.kubernetes.statemark import LINEAGE_ANNOTATION, StateMark
from catalogctl.state.models import State

__all__ = ["Claim", "OwnershipReader", "check_ownership", "claims_of", "conflicts"]

#: reads in flight at once against the cluster (the same bound refresh uses)
_CONCURRENCY = 16


@dataclass(frozen=True)
class Claim:
    """One object a plan would write: a binding Secret, or a workload a mapping patches."""

    kind: str
    namespace: str
    name: str
    #: the address that writes it (a ServiceBinding for a Secret, a PodMapping for a workload)
    owner: str

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    @property
    def recorded_as(self) -> str:
        """The state address that records this write once it is made."""
        if self.kind == "Secret":
            return f"Secret/{self.namespace}/{self.name}"
        return self.owner


class OwnershipReader(Protocol):
    """The read-only cluster calls the check needs (the engine's cluster port has both)."""

    def observe_binding_secret(self, namespace: str, name: str) -> SecretObservation: ...

    def mapping_records(
        self, namespace: str, kind: str, name: str
    ) -> Mapping[str, OwnedRecord] | None: ...


def claims_of(
    desired: Desired, state: State, targets: Collection[str] | None = None
) -> list[Claim]:
    """What ``desired`` would write that ``state`` does not record yet.

    With ``targets`` (already grown by their dependencies), only their objects.
    """
    claims: list[Claim] = []
    for res, binding in desired.of_type(ServiceBinding):
        ns = res.address.namespace
        claims.append(Claim("Secret", ns, binding.effective_secret_name, str(res.address)))
    for res, mapping in desired.of_type(PodMapping):
        target = mapping.spec.target
        claims.append(Claim(target.kind, res.address.namespace, target.name, str(res.address)))
    return [
        c
        for c in claims
        if state.get(c.recorded_as) is None
        and (targets is None or c.owner in targets or c.recorded_as in targets)
    ]


def _secret_conflict(
    claim: Claim, seen: SecretObservation, ours: StateMark, adopting: Collection[str]
) -> tuple[str, str] | None:
    """(what is wrong, the way out) for one Secret, or None when it may be written."""
    if not seen.exists:
        return None
    where = f"{claim.ref} (for {claim.owner})"
    if not seen.managed:
        if f"{claim.namespace}/{claim.name}" in adopting:
            return None
        if seen.controller is not None:
            service_catalog = seen.controller.endswith("(servicecatalog.k8s.io)")
            return (
                f"{where} is controlled by {seen.controller}, not catalogctl",
                "take it over with `catalogctl migrate service-catalog` (it keeps the data), "
                "or set another spec.secretName"
                if service_catalog
                else "set another spec.secretName (its controller would fight over it)",
            )
        return (
            f"{where} exists and is not managed by catalogctl",
            "delete or rename that Secret, or set another spec.secretName",
        )
    if seen.mark is not None and seen.mark.lineage != ours.lineage:
        return (
            f"{where} was written by another state: {seen.mark.describe()}",
            _OTHER_STATE_WAY_OUT,
        )
    if seen.owner != claim.owner:
        return (
            f"{where} is owned by {seen.owner}",
            "remove that binding first, or set another spec.secretName",
        )
    return None


_OTHER_STATE_WAY_OUT = (
    "if --state is mistyped, pass the state that owns them; to move them to this state on "
    f"purpose, delete them (or their {LINEAGE_ANNOTATION} annotation) first"
)


def _mapping_conflict(
    claim: Claim, records: Mapping[str, OwnedRecord] | None, ours: StateMark
) -> tuple[str, str] | None:
    record = (records or {}).get(claim.owner)
    if record is None or record.mark is None or record.mark.lineage == ours.lineage:
        return None
    return (
        f"{claim.ref}: the entries of {claim.owner} were written by another state: "
        f"{record.mark.describe()}",
        _OTHER_STATE_WAY_OUT,
    )


async def conflicts(
    claims: Iterable[Claim],
    cluster: OwnershipReader,
    ours: StateMark,
    *,
    adopting: Collection[str] = (),
) -> list[tuple[str, str]]:
    """(what is wrong, the way out) for every claim another owner holds; reads only.

    ``adopting`` names Secrets (``namespace/name``) the caller takes over on
    purpose from outside catalogctl (such as Service Catalog's).
    """
    limit = asyncio.Semaphore(_CONCURRENCY)

    async def one(claim: Claim) -> tuple[str, str] | None:
        async with limit:
            if claim.kind == "Secret":
                seen = await asyncio.to_thread(
                    cluster.observe_binding_secret, claim.namespace, claim.name
                )
                return _secret_conflict(claim, seen, ours, adopting)
            records = await asyncio.to_thread(
                cluster.mapping_records, claim.namespace, claim.kind, claim.name
            )
            return _mapping_conflict(claim, records, ours)

    found = await asyncio.gather(*(one(c) for c in claims))
    return [f for f in found if f is not None]


async def check_ownership(
    claims: Iterable[Claim],
    cluster: OwnershipReader,
    ours: StateMark,
    *,
    adopting: Collection[str] = (),
) -> None:
    """Raise OwnershipError naming every claimed object another owner holds.

    ``ours.where`` should say which state the run uses (``local state at
    ./stat (new: nothing stored there yet)``); the message names it next to
    each other owner.
    """
    found = await conflicts(claims, cluster, ours, adopting=adopting)
    if not found:
        return
    lines = [
        f"this plan would write {len(found)} object{'s' if len(found) != 1 else ''} "
        f"that {'belong' if len(found) != 1 else 'belongs'} to someone else "
        f"(this run uses {ours.where or ours.describe()}):"
    ]
    lines += [f"  {what}" for what, _ in found]
    ways = list(dict.fromkeys(way for _, way in found))
    lines += ["Nothing was changed. To go on: " + "; ".join(ways) + "."]
    raise OwnershipError("\n".join(lines))
