"""Apply: execute a plan as a parallel walk, persisting every step as it happens.

Write-ahead discipline (architecture: state and crash safety): an instance or
binding id is generated and recorded with the intended operation *before* the
request that uses it is sent, and every later step (operation string,
success, failure, orphan mitigation pending) is recorded when it happens.  A
run killed at any point therefore leaves state from which the next apply can
resume: re-send the idempotent PUT, poll the recorded operation, or finish
orphan mitigation.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from catalogctl.engine.admission import Admission
from catalogctl.engine.batching import ThreadBatches
from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.planner import merged_parameters
from catalogctl.engine.ports import BindingSecretWrite, ClusterPort
from catalogctl.engine.progress import Progress, StepInterrupted
from catalogctl.errors import ApplyFailed, BrokerError, CatalogctlError, ClusterError, InputError
from catalogctl.graph.steps import Step, StepGraph
from catalogctl.graph.walk import NotStarted, WalkResult, walk
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import LoadedResource
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.podmappings import PodMapping
from catalogctl.model.source import Document, Position
from catalogctl.plan.model import Action, Change, Plan
from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.identity import binding_context, instance_context, platform_guids
from catalogctl.providers.osb.orphan import MitigationPolicy, mitigate_binding, mitigate_instance
from catalogctl.providers.osb.outcomes import (
    Accepted,
    Done,
    Gone,
    Outcome,
    RequestKind,
    TimedOut,
    Unreachable,
    describe,
    needs_orphan_mitigation,
)
from catalogctl.providers.osb.poller import OperationKind as PollKind
from catalogctl.providers.osb.poller import PollScheduler, PollTarget, ResourceType
from catalogctl.providers.osb.retrying import RetryNotice, RetryStopped, send_with_retries
from catalogctl.state.backend import Journal
from catalogctl.state.journal import EncodedStep, encode_step
from catalogctl.state.models import (
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
    checksum,
    utcnow,
)


class Persister:
    """Group commit for journal steps.

    Each caller awaits its own step's durability (write-ahead order holds),
    but steps arriving while a write is in progress are written together with
    one fsync, off the event loop: a thousand concurrent provisions cost a
    handful of fsyncs instead of a thousand serial ones.

    A step is checked and encoded on the loop, as it arrives, and only the
    write goes to a worker thread.  Encoding is CPU under the GIL either way;
    done on the worker, a batch of it held the GIL for milliseconds while the
    loop waited to send requests and read answers.
    """

    #: Steps written per append.  Bounded so that the first of a thousand
    #: write-aheads queued in one loop turn are durable (and their requests
    #: under way) after one small write, not after the whole thousand.
    max_batch = 64

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self._batches: ThreadBatches[EncodedStep, None] = ThreadBatches(
            self._write, max_batch=self.max_batch
        )

    async def __call__(self, step: ResourceState | str) -> None:
        encoded = encode_step(step)  # an invalid step fails its own caller only
        await self._batches.submit(encoded)

    def _write(self, steps: list[EncodedStep]) -> list[None]:
        self._journal.record_encoded(steps)
        return [None] * len(steps)


class SecretWriter:
    """Binding Secrets handed to a target that groups writes, a batch per thread trip.

    For a target whose ``write_binding_secrets`` beats one call per Secret
    (files sharing fsyncs), the Secrets that become due while earlier ones
    are being written go over together: one worker-thread trip for a batch
    instead of one per Secret, whose wake-ups and GIL hand-offs delayed the
    event loop reading broker answers.  At most ``trips`` batches are out at
    once (the directory target writes two at a time), each of at most
    ``max_batch``.  Each caller still awaits its own Secret, and gets its own
    error.
    """

    max_batch = 64
    trips = 2

    def __init__(self, cluster: ClusterPort) -> None:
        self._batches: ThreadBatches[BindingSecretWrite, str] = ThreadBatches(
            cluster.write_binding_secrets,
            max_batch=self.max_batch,
            trips=self.trips,
            short_answer=lambda got, sent: ClusterError(
                f"the cluster answered {got} of {sent} Secret writes"
            ),
        )

    async def __call__(self, write: BindingSecretWrite) -> str:
        return await self._batches.submit(write)


#: Kinds whose steps send broker requests, and so go through admission.
_BROKER_KINDS = frozenset({"ServiceInstance", "ServiceBinding"})


class StepFailed(CatalogctlError):
    """One resource's step failed; the message is safe to print."""


@dataclass
class ApplyOptions:
    orphan_mitigation: bool = True
    mitigation_deadline: float = 600.0


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
    #: the run's --parallelism: steps that talk to a broker are admitted a few times this
    parallelism: int = 16
    #: binding address -> credentials received in this run (memory only, never persisted)
    _credentials: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    _persister: Persister | None = None
    _secret_writer: SecretWriter | None = None
    _stop: asyncio.Event | None = None
    #: broker address -> connection record from this plan (the configuration wins over state)
    _current_brokers: dict[str, BrokerRecord] = field(default_factory=dict)
    #: namespace -> its UID (a namespace's UID cannot change while it exists)
    _namespace_uids: dict[str, asyncio.Future[str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for change in self.plan.changes:
            record = change.private.get("broker")
            if change.kind in ("ClusterServiceBroker", "ServiceBroker") and isinstance(
                record, Mapping
            ):
                self._current_brokers[change.address] = BrokerRecord.from_dict(record)

    async def _namespace_uid(self, namespace: str) -> str | None:
        """Look a namespace's UID up once per run; concurrent callers share the lookup."""
        known = self._namespace_uids.get(namespace)
        if known is None:
            known = self._namespace_uids[namespace] = asyncio.ensure_future(
                asyncio.to_thread(self.cluster.namespace_uid, namespace)
            )
        try:
            return await asyncio.shield(known)
        except Exception:
            # A failed lookup is not cached: the next step asks again.
            if self._namespace_uids.get(namespace) is known:
                del self._namespace_uids[namespace]
            raise

    async def _persist(self, step: ResourceState | str) -> None:
        """Record (or, for an address, forget) a step durably before going on."""
        if self._persister is None:
            self._persister = Persister(self.journal)
        await self._persister(step)
        # A step's first record is its write-ahead: it is ready to send.
        Admission.let_through()

    async def _send(
        self,
        address: str,
        send: Callable[[], Awaitable[Outcome]],
        before_retry: Callable[[Outcome], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Send one broker request with the run's retries, each shown in the progress output."""

        def shown(notice: RetryNotice) -> None:
            self.progress.note(address, str(notice))
            Admission.let_through()  # backing off is not preparing a request

        try:
            return await send_with_retries(
                send,
                self.brokers.settings.retry,
                before_retry=before_retry,
                on_retry=shown,
                stop=self._stop,
            )
        except RetryStopped as stopped:
            raise StepInterrupted(str(stopped)) from None

    # ------------------------------------------------------------------ walk
    def step_graph(self) -> StepGraph:
        destroy = [
            c.address for c in self.plan.changes if c.action in (Action.DELETE, Action.REPLACE)
        ]
        apply = [
            c.address
            for c in self.plan.changes
            if c.action in (Action.CREATE, Action.UPDATE, Action.REPLACE)
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
        return StepGraph.build(destroy, apply, depends, previously)

    async def run(self, stop: asyncio.Event | None = None) -> WalkResult[Step]:
        self._stop = stop
        changes = {c.address: c for c in self.plan.changes}

        admission = Admission(2 * max(1, self.parallelism))

        async def work(step: Step) -> None:
            phase, address = step
            change = changes[address]
            run = self._destroy if phase == "destroy" else self._apply
            if change.kind in _BROKER_KINDS:
                async with admission.admitted():
                    if stop is not None and stop.is_set():
                        raise NotStarted  # stopped while it waited for admission
                    await run(change)
            else:
                await run(change)

        return await walk(self.step_graph(), work, stop=stop)

    # ------------------------------------------------------------------ dispatch
    async def _apply(self, change: Change) -> None:
        kind = change.kind
        if kind == "ServiceInstance":
            if change.action is Action.UPDATE:
                await self._update_instance(change)
            else:
                await self._provision(change)
        elif kind == "ServiceBinding":
            await self._bind(change)
        elif kind == "Secret":
            await self._write_secret(change)
        elif kind == "PodMapping":
            await self._map(change)

    async def _destroy(self, change: Change) -> None:
        prior = self.journal.get(change.address)
        if prior is None:
            return
        if change.kind == "ServiceInstance":
            await self._deprovision(prior)
        elif change.kind == "ServiceBinding":
            await self._unbind(prior)
        elif change.kind == "Secret":
            ns, name = change.address.split("/")[1:]
            async with self.progress.step(change.address, "delete"):
                await asyncio.to_thread(
                    self.cluster.delete_binding_secret,
                    ns,
                    name,
                    str(prior.attributes.get("binding", "")),
                )
            await self._persist(change.address)
        elif change.kind == "PodMapping":
            ns = change.address.split("/")[1]
            target = str(prior.attributes.get("target", ""))
            kind, _, name = target.partition("/")
            async with self.progress.step(change.address, "unmap"):
                await asyncio.to_thread(self.cluster.remove_mapping, ns, kind, name, change.address)
            await self._persist(change.address)

    # ------------------------------------------------------------------ helpers
    def _client(self, record_data: Any) -> tuple[BrokerRecord, OSBClient]:
        if not isinstance(record_data, Mapping):
            raise StepFailed(
                "the broker of this resource is unknown (not in the configuration or state)"
            )
        record = BrokerRecord.from_dict(record_data)
        # A broker still in the configuration is reached as configured now (its
        # URL, API version or credentials may have changed since state was written).
        record = self._current_brokers.get(record.address, record)
        return record, self.brokers.client(record)

    def _params(self, change: Change, spec_obj: ServiceInstance | ServiceBinding) -> dict[str, Any]:
        """Merge parameters again at apply time and check they are what the plan saw."""
        address = Address.parse(change.address)
        doc = Document(change.address, 0, {}, Position(change.address, 0, 0))
        res = LoadedResource(address, spec_obj, doc)
        merged, problems = merged_parameters(
            res, spec_obj.spec.parameters, spec_obj.spec.parameters_from, self.cluster
        )
        if merged is None:
            raise StepFailed("; ".join(p.message for p in problems))
        expected = change.private.get("parameters_checksum")
        if expected is not None and merged.checksum != expected:
            raise InputError(
                f"{change.address}: parameters from Secrets changed since the plan was made; "
                "plan again"
            )
        return merged.as_dict()

    async def _poll(
        self,
        client: OSBClient,
        record_kind: ResourceType,
        kind: PollKind,
        *,
        instance_id: str,
        service_id: str,
        plan_id: str,
        operation: str | None,
        binding_id: str | None = None,
        max_duration: Any = None,
        retry_after: str | None = None,
        elapsed_before: float = 0.0,
        accepted_at: float | None = None,
    ) -> tuple[bool, str, bool]:
        """Poll until terminal; on Ctrl-C/SIGTERM stop waiting at once.

        The operation string is already in state, so the next apply resumes
        polling where this one stopped, with the deadline counted from the start.
        """
        Admission.let_through()  # waiting on a poll is not preparing a request
        waiting = asyncio.ensure_future(
            self.scheduler.wait(
                PollTarget(
                    client=client,
                    resource=record_kind,
                    instance_id=instance_id,
                    service_id=service_id,
                    plan_id=plan_id,
                    operation=operation,
                    kind=kind,
                    binding_id=binding_id,
                    maximum_polling_duration=float(max_duration) if max_duration else None,
                    retry_after=retry_after,
                    elapsed_before=elapsed_before,
                    accepted_at=accepted_at,
                )
            )
        )
        if self._stop is not None:
            stopping = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                waiting.cancel()
                raise StepInterrupted(
                    "interrupted while polling; the next apply resumes this operation"
                )
        result = await waiting
        return result.succeeded, result.description or result.reason, result.instance_usable

    # ------------------------------------------------------------------ instances
    async def _provision(self, change: Change) -> None:
        p = change.private
        inst = ServiceInstance.model_validate(p["spec"])
        record, client = self._client(p.get("broker"))
        ns, name = change.address.split("/")[1:]
        prior = self.journal.get(change.address)
        if prior is not None and prior.orphan_mitigation_pending and prior.instance_id:
            prior = await self._mitigate_instance(client, prior, p.get("maximum_polling_duration"))
        resume = prior is not None and prior.status is ResourceStatus.CREATING and prior.instance_id
        instance_id = (
            prior.instance_id
            if resume and prior is not None and prior.instance_id
            else (p.get("external_id") or str(uuid.uuid4()))
        )
        params = self._params(change, inst)
        sensitive = _sensitive_now(change, params)
        visible = {k: v for k, v in params.items() if k not in sensitive}
        base = ResourceState(
            address=change.address,
            kind="ServiceInstance",
            status=ResourceStatus.CREATING,
            broker=record.address,
            service_id=p["service_id"],
            plan_id=p["plan_id"],
            instance_id=instance_id,
            parameters=visible,
            sensitive_parameter_keys=sensitive,
            operation=InFlightOperation(kind=OperationKind.PROVISION, request_sent=True),
            depends_on=change.depends_on,
            attributes={
                "broker_record": record.to_dict(),
                "instances_retrievable": bool(p.get("instances_retrievable")),
                "bindings_retrievable": bool(p.get("bindings_retrievable")),
                "update_requests": inst.spec.update_requests,
                "maximum_polling_duration": p.get("maximum_polling_duration"),
                "display": {
                    "class": (change.after or {}).get("class"),
                    "plan": (change.after or {}).get("plan"),
                    "update_requests": inst.spec.update_requests,
                },
            },
        )
        if (
            prior is not None
            and resume
            and prior.operation is not None
            and prior.operation.operation
        ):
            base = base.model_copy(update={"operation": prior.operation})
        await self._persist(base)  # write-ahead: the id exists in state before the PUT
        async with self.progress.step(change.address, "provision") as info:
            info["id"] = instance_id
            op = base.operation
            resumed_after = 0.0
            if op is not None and op.operation is not None:
                outcome: Outcome = Accepted(operation=op.operation)
                resumed_after = _elapsed_since(op)
            else:
                ns_uid = await self._namespace_uid(ns)
                guids = platform_guids(client.conn, namespace=ns, namespace_uid=ns_uid)
                mi = p.get("maintenance_info")

                async def mitigate_then_resend(failed: Outcome) -> None:
                    # The same id is sent again, so whatever the failed PUT may have
                    # left behind is deleted first (the spec's orphan-mitigation table).
                    if needs_orphan_mitigation(RequestKind.PROVISION, failed):
                        await self._mitigate_instance(
                            client, base, p.get("maximum_polling_duration"), describe(failed)
                        )
                        await self._persist(base)

                outcome = await self._send(
                    change.address,
                    lambda: client.provision(
                        instance_id,
                        p["service_id"],
                        p["plan_id"],
                        context=instance_context(client.conn, namespace=ns, instance_name=name),
                        organization_guid=guids.organization_guid,
                        space_guid=guids.space_guid,
                        parameters=params or None,
                        maintenance_info={"version": mi} if mi else None,
                    ),
                    mitigate_then_resend,
                )
            ready = base.model_copy(
                update={
                    "status": ResourceStatus.READY,
                    "operation": None,
                    "parameters_checksum": p.get("parameters_checksum") or None,
                    "maintenance_info_version": p.get("maintenance_info"),
                }
            )
            if isinstance(outcome, Done):
                await self._persist(
                    ready.model_copy(update={"dashboard_url": outcome.body.get("dashboard_url")})
                )
                return
            if isinstance(outcome, Accepted):
                accepted_at = self.scheduler.clock.monotonic()
                in_flight = base.model_copy(
                    update={
                        "operation": InFlightOperation(
                            kind=OperationKind.PROVISION,
                            operation=outcome.operation,
                            request_sent=True,
                        )
                    },
                )
                if outcome.dashboard_url:
                    in_flight = in_flight.model_copy(
                        update={"dashboard_url": outcome.dashboard_url}
                    )
                await self._persist(in_flight)
                ok, why, _ = await self._poll(
                    client,
                    ResourceType.INSTANCE,
                    PollKind.CREATE,
                    instance_id=instance_id,
                    service_id=p["service_id"],
                    plan_id=p["plan_id"],
                    operation=outcome.operation,
                    max_duration=p.get("maximum_polling_duration"),
                    retry_after=outcome.retry_after,
                    accepted_at=accepted_at,
                    elapsed_before=resumed_after,
                )
                if ok:
                    await self._persist(
                        ready.model_copy(update={"dashboard_url": in_flight.dashboard_url})
                    )
                    return
                failure = f"provisioning failed: {why}"
                await self._mitigate_instance(
                    client, in_flight, p.get("maximum_polling_duration"), failure
                )
                raise StepFailed(failure)
            if needs_orphan_mitigation(RequestKind.PROVISION, outcome):
                failure = f"provisioning failed: {describe(outcome)}"
                await self._mitigate_instance(
                    client, base, p.get("maximum_polling_duration"), failure
                )
                raise StepFailed(failure)
            # A 4xx leaves the broker unchanged; the id stays recorded so that
            # the next run sends the same one (a broker may have counted it).
            await self._persist(base.model_copy(update={"operation": None}))
            raise StepFailed(f"provisioning rejected: {describe(outcome)}")

    async def _mitigate_instance(
        self, client: OSBClient, res: ResourceState, max_duration: Any, cause: str = ""
    ) -> ResourceState:
        return await self._mitigate(
            client, res, binding=False, max_duration=max_duration, cause=cause
        )

    async def _mitigate(
        self,
        client: OSBClient,
        res: ResourceState,
        *,
        binding: bool,
        max_duration: Any = None,
        cause: str = "",
    ) -> ResourceState:
        """Orphan mitigation: record it as pending, then DELETE until the broker confirms.

        Recorded first so that a crash or a refusal leaves it pending, and the
        next run finishes it before creating anything again.  Once the broker
        confirms, the resource is recorded as a create still to do *with the
        same id* (returned), so no later attempt sends a fresh one.  ``cause``
        is the failure that made mitigation necessary, kept in the error.
        """
        noun, ident = ("binding", res.binding_id) if binding else ("instance", res.instance_id)
        await self._persist(
            res.model_copy(
                update={
                    "status": ResourceStatus.TAINTED,
                    "orphan_mitigation_pending": True,
                    "operation": None,
                }
            )
        )
        first = f"{cause}; " if cause else ""
        if not self.options.orphan_mitigation:
            raise StepFailed(
                f"{first}{noun} {ident} may exist at the broker; orphan mitigation is off, "
                "so it is left tainted in state"
            )
        policy = MitigationPolicy(deadline=self.options.mitigation_deadline)
        async with self.progress.step(res.address, "mitigate"):
            if binding:
                result = await mitigate_binding(
                    client,
                    self.scheduler,
                    instance_id=res.instance_id or "",
                    binding_id=res.binding_id or "",
                    service_id=res.service_id or "",
                    plan_id=res.plan_id or "",
                    policy=policy,
                )
            else:
                result = await mitigate_instance(
                    client,
                    self.scheduler,
                    instance_id=res.instance_id or "",
                    service_id=res.service_id or "",
                    plan_id=res.plan_id or "",
                    policy=policy,
                    maximum_polling_duration=float(max_duration) if max_duration else None,
                )
            if result.status != "mitigated":
                # Raised inside the step, so the progress line says it failed.
                raise StepFailed(
                    f"{first}orphan mitigation of {noun} {ident} did not finish: {result.detail}"
                )
        retry = res.model_copy(
            update={
                "status": ResourceStatus.CREATING,
                "orphan_mitigation_pending": False,
                "operation": None,
            }
        )
        await self._persist(retry)
        return retry

    async def _update_instance(self, change: Change) -> None:
        p = change.private
        prior = self.journal.get(change.address)
        if prior is None:
            raise StepFailed("not in state")
        inst = ServiceInstance.model_validate(p["spec"])
        _, client = self._client(p.get("broker"))
        ns, name = change.address.split("/")[1:]
        params = self._params(change, inst)
        changed = list(p.get("changed_keys") or [])
        payload = {k: params.get(k) for k in changed} if changed else None
        new_plan = p["plan_id"] if p["plan_id"] != prior.plan_id or p.get("plan_changed") else None
        sensitive = _sensitive_now(change, params)
        if p.get("state_only"):
            # Only where values come from changed (say a key moved from a Secret to
            # inline parameters): the broker already holds them, state learns it.
            await self._persist(
                prior.model_copy(
                    update={
                        "parameters": {k: v for k, v in params.items() if k not in sensitive},
                        "sensitive_parameter_keys": sensitive,
                        "parameters_checksum": p.get("parameters_checksum") or None,
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
        await self._persist(updating)
        async with self.progress.step(change.address, "update") as info:
            info["id"] = prior.instance_id or ""
            previous: dict[str, Any] = {"plan_id": prior.plan_id}
            if prior.maintenance_info_version:
                previous["maintenance_info"] = {"version": prior.maintenance_info_version}
            mi = p.get("maintenance_info") if p.get("upgrade") or new_plan else None
            outcome = await self._send(
                change.address,
                lambda: client.update(
                    prior.instance_id or "",
                    prior.service_id or p["service_id"],
                    plan_id=new_plan,
                    parameters=payload,
                    previous_values=previous,
                    context=instance_context(client.conn, namespace=ns, instance_name=name),
                    maintenance_info={"version": mi} if mi else None,
                ),
            )
            attrs = dict(prior.attributes)
            attrs["update_requests"] = inst.spec.update_requests
            attrs["display"] = {
                "class": (change.after or {}).get("class"),
                "plan": (change.after or {}).get("plan"),
                "update_requests": inst.spec.update_requests,
            }
            done = prior.model_copy(
                update={
                    "status": ResourceStatus.READY,
                    "operation": None,
                    "plan_id": p["plan_id"],
                    "parameters": {k: v for k, v in params.items() if k not in sensitive},
                    "sensitive_parameter_keys": sensitive,
                    "parameters_checksum": p.get("parameters_checksum") or None,
                    "maintenance_info_version": mi or prior.maintenance_info_version,
                    "attributes": attrs,
                }
            )
            if isinstance(outcome, Done):
                url = outcome.body.get("dashboard_url")
                await self._persist(
                    done.model_copy(update={"dashboard_url": url or prior.dashboard_url})
                )
                return
            if isinstance(outcome, Accepted):
                accepted_at = self.scheduler.clock.monotonic()
                await self._persist(
                    updating.model_copy(
                        update={
                            "operation": InFlightOperation(
                                kind=OperationKind.UPDATE,
                                operation=outcome.operation,
                                request_sent=True,
                                plan_id_before=prior.plan_id,
                            )
                        }
                    )
                )
                # Polling an update uses the plan the instance had before it.
                ok, why, usable = await self._poll(
                    client,
                    ResourceType.INSTANCE,
                    PollKind.UPDATE,
                    instance_id=prior.instance_id or "",
                    service_id=prior.service_id or "",
                    plan_id=prior.plan_id or "",
                    operation=outcome.operation,
                    max_duration=p.get("maximum_polling_duration"),
                    retry_after=outcome.retry_after,
                    accepted_at=accepted_at,
                )
                if ok:
                    await self._persist(
                        done.model_copy(
                            update={"dashboard_url": outcome.dashboard_url or prior.dashboard_url}
                        )
                    )
                    return
                await self._persist(prior.model_copy(update={"instance_usable": usable}))
                raise StepFailed(f"update failed: {why}")
            # Updates are never orphan-mitigated: a failed PATCH changes nothing.
            usable = getattr(outcome, "instance_usable", True)
            await self._persist(prior.model_copy(update={"instance_usable": usable}))
            raise StepFailed(f"update rejected: {describe(outcome)}")

    async def _deprovision(self, prior: ResourceState) -> None:
        await self._delete_at_broker(prior, binding=False)

    async def _delete_at_broker(self, prior: ResourceState, *, binding: bool) -> None:
        """Deprovision an instance or unbind a binding: record intent, DELETE, poll, forget.

        A DELETE the broker refused (a 4xx, or never sent) leaves the resource as
        it was; an uncertain one (5xx, timeout, dropped connection) stays
        ``deleting`` and the next run deletes it again (410 then counts as done).
        """
        _, client = self._client(prior.attributes.get("broker_record"))
        op_kind = OperationKind.UNBIND if binding else OperationKind.DEPROVISION
        request_kind = RequestKind.UNBIND if binding else RequestKind.DEPROVISION
        noun, verb, doing = (
            ("binding", "unbind", "unbinding")
            if binding
            else ("instance", "deprovision", "deprovisioning")
        )
        instance_id, binding_id = prior.instance_id or "", prior.binding_id or ""
        service_id, plan_id = prior.service_id or "", prior.plan_id or ""
        deleting = prior.model_copy(
            update={
                "status": ResourceStatus.DELETING,
                "operation": InFlightOperation(kind=op_kind, request_sent=True),
            }
        )
        await self._persist(deleting)

        async def send() -> Outcome:
            if binding:
                return await client.unbind(instance_id, binding_id, service_id, plan_id)
            return await client.deprovision(instance_id, service_id, plan_id)

        async with self.progress.step(prior.address, verb) as info:
            info["id"] = binding_id if binding else instance_id
            outcome = await self._send(prior.address, send)
            if isinstance(outcome, Done | Gone):
                await self._persist(prior.address)
                return
            if isinstance(outcome, Accepted):
                accepted_at = self.scheduler.clock.monotonic()
                await self._persist(
                    deleting.model_copy(
                        update={
                            "operation": InFlightOperation(
                                kind=op_kind, operation=outcome.operation, request_sent=True
                            )
                        }
                    )
                )
                ok, why, _ = await self._poll(
                    client,
                    ResourceType.BINDING if binding else ResourceType.INSTANCE,
                    PollKind.DELETE,
                    instance_id=instance_id,
                    binding_id=binding_id if binding else None,
                    service_id=service_id,
                    plan_id=plan_id,
                    operation=outcome.operation,
                    max_duration=prior.attributes.get("maximum_polling_duration"),
                    retry_after=outcome.retry_after,
                    accepted_at=accepted_at,
                )
                if ok:
                    await self._persist(prior.address)
                    return
                raise StepFailed(f"{doing} failed: {why} (the {noun} is kept in state)")
            if _left_unchanged(request_kind, outcome):
                await self._persist(prior)  # not deleting after all: the broker refused
            raise StepFailed(f"{doing} failed: {describe(outcome)} (the {noun} is kept in state)")

    # ------------------------------------------------------------------ bindings
    async def _bind(self, change: Change) -> None:
        p = change.private
        binding = ServiceBinding.model_validate(p["spec"])
        inst = self.journal.get(p["instance"])
        if inst is None or inst.status is not ResourceStatus.READY or not inst.instance_id:
            raise StepFailed(f"{p['instance']} is not provisioned")
        if not inst.instance_usable:
            raise StepFailed(
                f"{p['instance']} is not usable after a failed operation; bindings are not created"
            )
        record, client = self._client(inst.attributes.get("broker_record"))
        ns = change.address.split("/")[1]
        prior = self.journal.get(change.address)
        if prior is not None and prior.orphan_mitigation_pending and prior.binding_id:
            prior = await self._mitigate_binding(client, prior)
        resume = prior is not None and prior.status is ResourceStatus.CREATING and prior.binding_id
        binding_id = (
            prior.binding_id
            if resume and prior is not None and prior.binding_id
            else (binding.spec.external_id or str(uuid.uuid4()))
        )
        params = self._params(change, binding)
        sensitive = _sensitive_now(change, params)
        base = ResourceState(
            address=change.address,
            kind="ServiceBinding",
            status=ResourceStatus.CREATING,
            broker=record.address,
            service_id=inst.service_id,
            plan_id=inst.plan_id,
            instance_id=inst.instance_id,
            binding_id=binding_id,
            parameters={k: v for k, v in params.items() if k not in sensitive},
            sensitive_parameter_keys=sensitive,
            parameters_checksum=p.get("parameters_checksum") or None,
            operation=InFlightOperation(kind=OperationKind.BIND, request_sent=True),
            depends_on=change.depends_on,
            attributes={
                "broker_record": record.to_dict(),
                "checksum": p.get("checksum"),
                "bindings_retrievable": bool(p.get("bindings_retrievable")),
                "display": {
                    "instance": p["instance"],
                    "secret_name": binding.effective_secret_name,
                },
            },
        )
        if (
            prior is not None
            and resume
            and prior.operation is not None
            and prior.operation.operation
        ):
            base = base.model_copy(update={"operation": prior.operation})
        await self._persist(base)
        async with self.progress.step(change.address, "bind") as info:
            info["id"] = binding_id
            op = base.operation
            outcome: Outcome
            resumed_after = 0.0
            if op is not None and op.operation is not None:
                outcome = Accepted(operation=op.operation)
                resumed_after = _elapsed_since(op)
            else:
                ns_uid = await self._namespace_uid(ns)
                guids = platform_guids(client.conn, namespace=ns, namespace_uid=ns_uid)

                async def mitigate_then_resend(failed: Outcome) -> None:
                    if needs_orphan_mitigation(RequestKind.BIND, failed):
                        await self._mitigate_binding(client, base, describe(failed))
                        await self._persist(base)

                outcome = await self._send(
                    change.address,
                    lambda: client.bind(
                        inst.instance_id or "",
                        binding_id,
                        inst.service_id or "",
                        inst.plan_id or "",
                        context=binding_context(client.conn, namespace=ns),
                        parameters=params or None,
                        bind_resource={"app_guid": guids.space_guid},
                        app_guid=guids.space_guid,
                    ),
                    mitigate_then_resend,
                )
            credentials: Any = None
            if isinstance(outcome, Done):
                credentials = outcome.body.get("credentials", {})
            elif isinstance(outcome, Accepted):
                accepted_at = self.scheduler.clock.monotonic()
                await self._persist(
                    base.model_copy(
                        update={
                            "operation": InFlightOperation(
                                kind=OperationKind.BIND,
                                operation=outcome.operation,
                                request_sent=True,
                            )
                        }
                    )
                )
                ok, why, _ = await self._poll(
                    client,
                    ResourceType.BINDING,
                    PollKind.CREATE,
                    instance_id=inst.instance_id,
                    binding_id=binding_id,
                    service_id=inst.service_id or "",
                    plan_id=inst.plan_id or "",
                    operation=outcome.operation,
                    max_duration=p.get("maximum_polling_duration"),
                    retry_after=outcome.retry_after,
                    accepted_at=accepted_at,
                    elapsed_before=resumed_after,
                )
                if not ok:
                    failure = f"binding failed: {why}"
                    await self._mitigate_binding(client, base, failure)
                    raise StepFailed(failure)
                fetched = await self._send(
                    change.address,
                    lambda: client.get_binding(
                        inst.instance_id or "", binding_id, inst.service_id, inst.plan_id
                    ),
                )
                if not isinstance(fetched, Done):
                    failure = (
                        "binding succeeded but its credentials could not be read: "
                        f"{describe(fetched)}"
                    )
                    await self._mitigate_binding(client, base, failure)
                    raise StepFailed(failure)
                credentials = fetched.body.get("credentials", {})
            elif needs_orphan_mitigation(RequestKind.BIND, outcome):
                failure = f"binding failed: {describe(outcome)}"
                await self._mitigate_binding(client, base, failure)
                raise StepFailed(failure)
            else:
                # Nothing changed at the broker; the id stays for the next attempt.
                await self._persist(base.model_copy(update={"operation": None}))
                raise StepFailed(f"binding rejected: {describe(outcome)}")
            if not isinstance(credentials, Mapping):
                credentials = {}
            self._credentials[change.address] = credentials
            await self._persist(
                base.model_copy(
                    update={
                        "status": ResourceStatus.READY,
                        "operation": None,
                        "credentials_hash": checksum(dict(credentials)),
                        # The credentials' age, for --rotate-older-than.
                        "attributes": dict(
                            sorted({**base.attributes, "bound_at": utcnow().isoformat()}.items())
                        ),
                    }
                )
            )

    async def _mitigate_binding(
        self, client: OSBClient, res: ResourceState, cause: str = ""
    ) -> ResourceState:
        return await self._mitigate(client, res, binding=True, cause=cause)

    async def _unbind(self, prior: ResourceState) -> None:
        await self._delete_at_broker(prior, binding=True)

    # ------------------------------------------------------------------ cluster
    async def _credentials_for(self, binding_address: str) -> Mapping[str, Any]:
        creds = self._credentials.get(binding_address)
        if creds is not None:
            return creds
        res = self.journal.get(binding_address)
        if res is None or res.status is not ResourceStatus.READY:
            raise StepFailed(f"{binding_address} is not bound")
        if not res.attributes.get("bindings_retrievable"):
            raise StepFailed(
                f"the credentials of {binding_address} are not available again from the broker "
                f"(bindings_retrievable is false); replace it with --replace {binding_address}"
            )
        _, client = self._client(res.attributes.get("broker_record"))
        outcome = await self._send(
            binding_address,
            lambda: client.get_binding(
                res.instance_id or "", res.binding_id or "", res.service_id, res.plan_id
            ),
        )
        if not isinstance(outcome, Done):
            raise BrokerError(
                f"{binding_address}: could not read credentials again: {describe(outcome)}"
            )
        creds = outcome.body.get("credentials", {})
        if not isinstance(creds, Mapping):
            creds = {}
        self._credentials[binding_address] = creds
        return creds

    async def _write_secret(self, change: Change) -> None:
        p = change.private
        ns, name = change.address.split("/")[1:]
        binding = ServiceBinding.model_validate(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceBinding",
                "metadata": {"name": "x"},
                "spec": {"instanceRef": {"name": "x"}, "secretTransforms": p["transforms"]},
            }
        )
        async with self.progress.step(change.address, "write"):
            creds = await self._credentials_for(p["binding"])
            source = self.journal.get(p["binding"])  # whose credentials these are
            transforms = binding.spec.secret_transforms
            if any(t.add_keys_from is not None for t in transforms):
                # addKeysFrom reads other Secrets from the cluster.
                data = await asyncio.to_thread(
                    self.cluster.build_secret_data, ns, creds, transforms, p["binding"]
                )
            else:
                data = self.cluster.build_secret_data(ns, creds, transforms, p["binding"])
            if self.cluster.groups_secret_writes:
                if self._secret_writer is None:
                    self._secret_writer = SecretWriter(self.cluster)
                digest = await self._secret_writer(BindingSecretWrite(ns, name, data, p["binding"]))
            else:
                digest = await asyncio.to_thread(
                    self.cluster.write_binding_secret, ns, name, data, p["binding"]
                )
        await self._persist(
            ResourceState(
                address=change.address,
                kind="Secret",
                depends_on=change.depends_on,
                attributes={
                    "binding": p["binding"],
                    "checksum": p["checksum"],
                    "data_hash": digest,
                    "revision": secret_revision(self.journal.get(change.address), digest),
                    "binding_id": source.binding_id if source is not None else None,
                    "keys": sorted(data),
                    "display": {"namespace": ns, "name": name, "type": "Opaque"},
                },
            )
        )

    async def _map(self, change: Change) -> None:
        p = change.private
        ns = change.address.split("/")[1]
        mapping = PodMapping.model_validate(p["spec"])
        secret = self.journal.get(str(Address("Secret", ns, p["secret_name"])))
        raw = secret.attributes.get("revision") if secret is not None else None
        revision = raw if isinstance(raw, int) and mapping.spec.rollout else None
        async with self.progress.step(change.address, "map"):
            await asyncio.to_thread(
                self.cluster.apply_mapping,
                ns,
                mapping,
                p["secret_name"],
                change.address,
                revision,
            )
        await self._persist(
            ResourceState(
                address=change.address,
                kind="PodMapping",
                depends_on=change.depends_on,
                attributes={
                    "target": p["target"],
                    "checksum": p["checksum"],
                    "secret_name": p["secret_name"],
                    "secret_revision": revision,
                    "display": {k: v for k, v in (change.after or {}).items() if k != "workload"},
                },
            )
        )


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


def _elapsed_since(op: InFlightOperation) -> float:
    """Seconds since a recorded operation started: a resumed poll keeps its deadline."""
    from datetime import UTC, datetime

    return max(0.0, (datetime.now(UTC) - op.started_at).total_seconds())


def _left_unchanged(kind: RequestKind, outcome: Outcome) -> bool:
    """A failed delete the broker provably did not act on (a 4xx, or never sent).

    Such a resource is as it was, not half-deleted: state must not keep it as
    DELETING, or the next plan would replace (delete and re-create) a resource the
    configuration still wants.  5xx, timeouts and dropped connections stay
    uncertain and are resumed as deletes.
    """
    if isinstance(outcome, TimedOut):
        return False
    if isinstance(outcome, Unreachable):
        return not outcome.request_sent
    return not needs_orphan_mitigation(kind, outcome)


def summarize(result: WalkResult[Step], command: str = "apply") -> ApplyFailed | None:
    """An ApplyFailed listing every failure and skip, or None when all went well.

    ``command`` (``apply`` or ``destroy``) names the run in the message.
    """
    if not result.failed and not result.skipped:
        return None
    lines = []
    for (_phase, address), exc in sorted(result.failed.items()):
        lines.append(f"{address}: {exc}")
    for (_phase, address), cause in sorted(result.skipped.items()):
        lines.append(f"{address}: skipped: upstream {cause[1]} failed")
    return ApplyFailed(f"{command} finished with errors:\n  " + "\n  ".join(lines))


def _sensitive_now(change: Change, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The parameter keys whose values come from Secrets now, as the plan resolved them.

    Not the change's sensitive paths: those also mask what state hid before, so
    a key moved from parametersFrom to inline parameters would stay hidden.
    Plans saved before this was recorded fall back to the paths.
    """
    keys = change.private.get("sensitive_keys")
    if isinstance(keys, list):
        return tuple(k for k in params if k in keys)
    return tuple(k for k in params if ("parameters", k) in change.sensitive_paths)
