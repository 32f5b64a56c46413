"""Apply: execute a plan as a parallel walk, each step by its kind's handler.

The walk (``graph/steps.py``, ``graph/walk.py``) orders destroy and apply
steps; each step goes to the handler of its resource's kind
(:mod:`catalogctl.engine.handlers`), which records every step durably
through the journal before going on (see ``handlers/broker.py`` for the
write-ahead rules).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.handlers import HANDLERS, ApplyContext
from catalogctl.engine.handlers.base import RetireSteps
from catalogctl.engine.handlers.broker import ApplyOptions, BrokerSteps, StepFailed
from catalogctl.engine.ports import ClusterPort
from catalogctl.engine.progress import Progress
from catalogctl.errors import ApplyFailed
from catalogctl.graph.steps import Step, StepGraph
from catalogctl.graph.walk import WalkResult, walk
from catalogctl.plan.model import Action, Plan
from catalogctl.plan.payloads import BrokerPayload, RotationHints
from catalogctl.providers.osb.poller import PollScheduler
from catalogctl.state.backend import Journal
from catalogctl.state.journal import EncodedStep, encode_step
from catalogctl.state.models import ResourceState

__all__ = ["Applier", "ApplyOptions", "Persister", "StepFailed", "summarize"]


class Persister:
    """Group commit for journal steps, off the event loop.

    Each caller awaits its own step's durability (write-ahead order holds);
    steps that arrive while a write is in progress go out together in the
    next one, so concurrent steps share fsyncs instead of queueing for one
    each.  A step is checked and encoded by its caller, so an invalid step
    fails that caller only.
    """

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._pending: list[tuple[EncodedStep, asyncio.Future[None]]] = []
        self._drain: asyncio.Future[None] | None = None

    async def __call__(self, step: ResourceState | str) -> None:
        encoded = encode_step(step)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((encoded, done))
        if self._drain is None or self._drain.done():
            self._drain = asyncio.ensure_future(self._write_pending())
        await done

    async def _write_pending(self) -> None:
        # Returns in the same loop step as its last look at _pending, so a
        # step queued later always finds this drain done and starts another.
        while self._pending:
            batch, self._pending = self._pending, []
            failure: Exception | None = None
            try:
                await asyncio.to_thread(self._journal.record_encoded, [e for e, _ in batch])
            except Exception as exc:  # every waiter of the batch learns why
                failure = exc
            for _, done in batch:
                if done.done():
                    continue
                if failure is not None:
                    done.set_exception(failure)
                else:
                    done.set_result(None)


@dataclass
class Applier:
    """Executes one plan against brokers and a cluster, recording into a journal."""

    plan: Plan
    journal: Journal
    brokers: Brokers
    cluster: ClusterPort
    scheduler: PollScheduler
    progress: Progress
    options: ApplyOptions = field(default_factory=ApplyOptions)
    _persister: Persister | None = None

    async def _persist(self, step: ResourceState | str) -> None:
        """Record (or, for an address, forget) a step durably before going on."""
        if self._persister is None:
            self._persister = Persister(self.journal)
        await self._persister(step)

    # ------------------------------------------------------------------ walk
    def step_graph(self) -> StepGraph:
        destroy = [
            c.address for c in self.plan.changes if c.action in (Action.DELETE, Action.REPLACE)
        ]
        apply = [
            c.address for c in self.plan.changes if c.action.creates or c.action is Action.UPDATE
        ]
        retire = [
            c.address
            for c in self.plan.changes
            if c.action in (Action.CREATE, Action.UPDATE, Action.CREATE_THEN_DELETE)
            and RotationHints.from_private(c.private).retire
        ]
        depends: dict[str, list[str]] = {}
        previously: dict[str, list[str]] = {}
        for c in self.plan.changes:
            deps = set(c.depends_on)
            prior = self.journal.get(c.address)
            if prior is not None:
                deps |= set(prior.depends_on)
                previously[c.address] = sorted(prior.depends_on)
            depends[c.address] = sorted(deps)
        return StepGraph.build(destroy, apply, depends, previously, retire)

    async def run(self, stop: asyncio.Event | None = None) -> WalkResult[Step]:
        changes = {c.address: c for c in self.plan.changes}
        ctx = ApplyContext(self.cluster, self.progress, self._persist, self._broker_steps(stop))

        async def work(step: Step) -> None:
            phase, address = step
            change = changes[address]
            handler = HANDLERS.get(change.kind)
            if handler is None:
                return  # brokers are read, never changed
            if phase == "apply":
                await handler.apply(change, ctx)
                return
            if phase == "retire":
                if isinstance(handler, RetireSteps):
                    await handler.retire(change, ctx)
                return
            prior = self.journal.get(address)
            if prior is not None:
                await handler.destroy(change, prior, ctx)

        return await walk(self.step_graph(), work, stop=stop)

    def _broker_steps(self, stop: asyncio.Event | None) -> BrokerSteps:
        current: dict[str, BrokerRecord] = {}
        for change in self.plan.changes:
            if change.kind in ("ClusterServiceBroker", "ServiceBroker") and change.private:
                record = BrokerPayload.from_private(change.private).record
                current[change.address] = BrokerRecord.from_dict(record)
        return BrokerSteps(
            journal=self.journal,
            brokers=self.brokers,
            cluster=self.cluster,
            scheduler=self.scheduler,
            progress=self.progress,
            persist=self._persist,
            options=self.options,
            current_brokers=current,
            stop=stop,
        )


def summarize(result: WalkResult[Step], command: str = "apply") -> ApplyFailed | None:
    """An ApplyFailed listing every failure and skip, or None when all went well.

    ``command`` (``apply`` or ``destroy``) names the run in the message.
    """
    if not result.failed and not result.skipped:
        return None
    lines = []
    for (_phase, address), exc in sorted(result.failed.items()):
        lines.append(f"{address}: {exc}")
    failed = {address for _phase, address in result.failed}
    for (_phase, address), cause in sorted(result.skipped.items()):
        if address in failed:
            continue  # another step of the same resource (a rotation's unbind): said above
        lines.append(f"{address}: skipped: upstream {cause[1]} failed")
    return ApplyFailed(f"{command} finished with errors:\n  " + "\n  ".join(lines))
