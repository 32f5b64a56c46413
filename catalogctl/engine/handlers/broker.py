"""What instances and bindings share at apply time: the run's broker clients and steps.

Write-ahead discipline (architecture: state and crash safety): an instance or
binding id is generated and recorded with the intended operation *before*
the request that uses it is sent, and every later step (operation string,
success, failure, orphan mitigation pending) is recorded when it happens.  A
run killed at any point therefore leaves state from which the next apply can
resume: re-send the idempotent PUT, poll the recorded operation, or finish
orphan mitigation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from catalogctl.engine.brokers import BrokerRecord, Brokers
from catalogctl.engine.handlers.parameters import merged_parameters, read_secrets, secret_keys
from catalogctl.engine.ports import ClusterPort
from catalogctl.engine.progress import Progress, StepInterrupted
from catalogctl.errors import BrokerError, CatalogctlError, InputError
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.instances import ServiceInstance
from catalogctl.plan.model import Change
from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.orphan import MitigationPolicy, mitigate
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
from catalogctl.state.models import InFlightOperation, OperationKind, ResourceState, ResourceStatus


class StepFailed(CatalogctlError):
    """One resource's step failed; the message is safe to print."""


@dataclass
class ApplyOptions:
    orphan_mitigation: bool = True
    mitigation_deadline: float = 600.0
    #: ``apply --wait``: a rotation waits for the mapped workloads' rollouts
    #: before it unbinds the old binding, at most ``wait_timeout`` seconds
    wait: bool = False
    wait_timeout: float = 300.0


@dataclass(frozen=True)
class PollResult:
    succeeded: bool
    #: why it failed (the broker's description, or the poller's reason)
    why: str
    #: False when the broker says the instance is unusable after a failed update
    instance_usable: bool


@dataclass
class BrokerSteps:
    """The broker side of one apply: clients, parameters, polling, orphan mitigation."""

    journal: Journal
    brokers: Brokers
    cluster: ClusterPort
    scheduler: PollScheduler
    progress: Progress
    persist: Callable[[ResourceState | str], Awaitable[None]]
    options: ApplyOptions
    #: broker address -> connection record from this plan (the configuration wins over state)
    current_brokers: Mapping[str, BrokerRecord]
    #: set on Ctrl-C/SIGTERM: a step waiting for an operation stops waiting
    stop: asyncio.Event | None = None
    #: binding address -> credentials received in this run (memory only, never persisted)
    credentials: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    #: namespace -> its UID (a namespace's UID cannot change while it exists)
    _namespace_uids: dict[str, asyncio.Future[str | None]] = field(default_factory=dict)

    async def client(self, record_data: Any) -> tuple[BrokerRecord, OSBClient]:
        """The client for a broker record from the plan or state."""
        if not isinstance(record_data, Mapping):
            raise StepFailed(
                "the broker of this resource is unknown (not in the configuration or state)"
            )
        record = BrokerRecord.from_dict(record_data)
        # A broker still in the configuration is reached as configured now (its
        # URL, API version or credentials may have changed since state was written).
        record = self.current_brokers.get(record.address, record)
        return record, await self.brokers.client(record)

    async def send(
        self,
        address: str,
        send: Callable[[], Awaitable[Outcome]],
        before_retry: Callable[[Outcome], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Send one broker request with the run's retries, each shown in the progress output.

        A run stopped during a backoff reports the step interrupted (the next
        apply resumes it from state), not failed.
        """

        def shown(notice: RetryNotice) -> None:
            self.progress.note(address, str(notice))

        try:
            return await send_with_retries(
                send,
                self.brokers.settings.retry,
                before_retry=before_retry,
                on_retry=shown,
                stop=self.stop,
            )
        except RetryStopped as stopped:
            raise StepInterrupted(str(stopped)) from None

    async def namespace_uid(self, namespace: str) -> str | None:
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

    async def params(
        self, change: Change, spec_obj: ServiceInstance | ServiceBinding, expected: str | None
    ) -> dict[str, Any]:
        """Merge parameters again at apply time and check they are what the plan saw."""
        namespace = change.address.split("/")[1]
        sources = spec_obj.spec.parameters_from
        values = await read_secrets(secret_keys(namespace, sources), self.cluster)
        merged, problems = merged_parameters(
            namespace, spec_obj.spec.parameters, sources, values
        )
        if merged is None:
            raise StepFailed("; ".join(message for _, message in problems))
        if expected and merged.checksum != expected:
            raise InputError(
                f"{change.address}: parameters from Secrets changed since the plan was made; "
                "plan again"
            )
        return merged.as_dict()

    async def poll(
        self,
        client: OSBClient,
        res: ResourceState,
        kind: PollKind,
        accepted: Accepted,
        *,
        accepted_at: float,
        max_duration: Any,
        elapsed_before: float = 0.0,
        plan_id: str | None = None,
    ) -> PollResult:
        """Poll ``res``'s operation until terminal; on Ctrl-C/SIGTERM stop waiting at once.

        The operation string is already in state, so the next apply resumes
        polling where this one stopped, with the deadline counted from the start.
        """
        binding = res.kind == "ServiceBinding"
        waiting = asyncio.ensure_future(
            self.scheduler.wait(
                PollTarget(
                    client=client,
                    resource=ResourceType.BINDING if binding else ResourceType.INSTANCE,
                    instance_id=res.instance_id or "",
                    service_id=res.service_id or "",
                    plan_id=plan_id or res.plan_id or "",
                    operation=accepted.operation,
                    kind=kind,
                    binding_id=res.binding_id if binding else None,
                    maximum_polling_duration=float(max_duration) if max_duration else None,
                    retry_after=accepted.retry_after,
                    elapsed_before=elapsed_before,
                    accepted_at=accepted_at,
                )
            )
        )
        if self.stop is not None:
            stopping = asyncio.ensure_future(self.stop.wait())
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not waiting.done():
                waiting.cancel()
                raise StepInterrupted(
                    "interrupted while polling; the next apply resumes this operation"
                )
        result = await waiting
        return PollResult(
            result.succeeded, result.description or result.reason, result.instance_usable
        )

    async def mitigate(
        self, client: OSBClient, res: ResourceState, max_duration: Any, cause: str = ""
    ) -> ResourceState:
        """Orphan mitigation: record it as pending, then DELETE until the broker confirms.

        Recorded first so that a crash or a refusal leaves it pending, and the
        next run finishes it before creating anything again.  Once the broker
        confirms, the resource is recorded as a create still to do *with the
        same id* (returned), so no later attempt sends a fresh one.  ``cause``
        is the failure that made mitigation necessary, kept in the error.
        """
        binding = res.kind == "ServiceBinding"
        noun, ident = ("binding", res.binding_id) if binding else ("instance", res.instance_id)
        await self.persist(
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
        instance_id, service_id = res.instance_id or "", res.service_id or ""
        plan_id = res.plan_id or ""
        async with self.progress.step(res.address, "mitigate"):
            result = await mitigate(
                client,
                self.scheduler,
                instance_id=instance_id,
                binding_id=(res.binding_id or "") if binding else None,
                service_id=service_id,
                plan_id=plan_id,
                policy=policy,
                # An unbind's poll is bounded by the mitigation deadline alone.
                maximum_polling_duration=(
                    float(max_duration) if max_duration and not binding else None
                ),
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
        await self.persist(retry)
        return retry

    async def credentials_for(self, binding_address: str) -> Mapping[str, Any]:
        """A binding's credentials: from this run's bind, or read again from the broker."""
        creds = self.credentials.get(binding_address)
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
        _, client = await self.client(res.attributes.get("broker_record"))
        outcome = await self.send(
            binding_address,
            lambda: client.get_binding(
                res.instance_id or "", res.binding_id or "", res.service_id, res.plan_id
            ),
        )
        if not isinstance(outcome, Done):
            raise BrokerError(
                f"{binding_address}: could not read credentials again: {describe(outcome)}"
            )
        found = outcome.body.get("credentials", {})
        creds = found if isinstance(found, Mapping) else {}
        self.credentials[binding_address] = creds
        return creds

    async def delete(
        self,
        prior: ResourceState,
        record: Callable[[ResourceState | None], Awaitable[None]] | None = None,
    ) -> None:
        """Deprovision an instance or unbind a binding: record intent, DELETE, poll, forget.

        A DELETE the broker refused (a 4xx, or never sent) leaves the resource as
        it was; an uncertain one (5xx, timeout, dropped connection) stays
        ``deleting`` and the next run deletes it again (410 then counts as done).
        ``record`` gets each step (the resource as it goes, None once it is
        gone); by default each is persisted at the resource's address.
        """

        async def persisted(step: ResourceState | None) -> None:
            await self.persist(step if step is not None else prior.address)

        keep = record or persisted
        _, client = await self.client(prior.attributes.get("broker_record"))
        binding = prior.kind == "ServiceBinding"
        op_kind = OperationKind.UNBIND if binding else OperationKind.DEPROVISION
        request_kind = RequestKind.UNBIND if binding else RequestKind.DEPROVISION
        noun, verb, doing = (
            ("binding", "unbind", "unbinding")
            if binding
            else ("instance", "deprovision", "deprovisioning")
        )
        instance_id = prior.instance_id or ""
        binding_id = (prior.binding_id or "") if binding else None
        deleting = prior.model_copy(
            update={
                "status": ResourceStatus.DELETING,
                "operation": InFlightOperation(kind=op_kind, request_sent=True),
            }
        )
        await keep(deleting)

        async def send() -> Outcome:
            service_id, plan_id = prior.service_id or "", prior.plan_id or ""
            return await client.delete(instance_id, service_id, plan_id, binding_id=binding_id)

        async with self.progress.step(prior.address, verb) as info:
            info["id"] = instance_id if binding_id is None else binding_id
            outcome = await self.send(prior.address, send)
            if isinstance(outcome, Done | Gone):
                await keep(None)
                return
            if isinstance(outcome, Accepted):
                accepted_at = self.scheduler.clock.monotonic()
                operation = InFlightOperation(
                    kind=op_kind, operation=outcome.operation, request_sent=True
                )
                await keep(deleting.model_copy(update={"operation": operation}))
                polled = await self.poll(
                    client,
                    prior,
                    PollKind.DELETE,
                    outcome,
                    accepted_at=accepted_at,
                    max_duration=prior.attributes.get("maximum_polling_duration"),
                )
                if polled.succeeded:
                    await keep(None)
                    return
                raise StepFailed(f"{doing} failed: {polled.why} (the {noun} is kept in state)")
            if _left_unchanged(request_kind, outcome):
                await keep(prior)  # not deleting after all: the broker refused
            raise StepFailed(f"{doing} failed: {describe(outcome)} (the {noun} is kept in state)")


def elapsed_since(op: InFlightOperation) -> float:
    """Seconds since a recorded operation started: a resumed poll keeps its deadline."""
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
