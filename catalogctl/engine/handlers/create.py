"""Creating an instance or a binding at its broker: the flow provision and bind share.

Write-ahead first (the id and the intended operation are durable before the
PUT), then the request or, for an operation recorded by an interrupted run,
its polling; a failure the broker may have acted on is orphan-mitigated.
What differs between the two kinds is in a :class:`Creation`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from catalogctl.engine.handlers.broker import BrokerSteps, StepFailed, elapsed_since
from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.outcomes import (
    Accepted,
    Done,
    Outcome,
    RequestKind,
    describe,
    needs_orphan_mitigation,
)
from catalogctl.providers.osb.poller import OperationKind as PollKind
from catalogctl.state.models import InFlightOperation, ResourceState, ResourceStatus


class CreateRejected(StepFailed):
    """The broker refused the PUT (a 4xx): it holds nothing for the id, and nothing changed."""

    def __init__(self, message: str, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass(frozen=True)
class Creation:
    """What is specific to creating one instance or binding."""

    #: progress verb and the word for failures: "provision"/"provisioning", "bind"/"binding"
    verb: str
    doing: str
    request: RequestKind
    client: OSBClient
    #: the resource as recorded before the request: CREATING, with its id and operation
    base: ResourceState
    max_duration: Any
    #: send the PUT (the id is in ``base``)
    send: Callable[[], Awaitable[Outcome]]
    #: the resource once created, from a synchronous answer's body, or None after polling
    ready: Callable[[ResourceState, Mapping[str, Any] | None], Awaitable[ResourceState]]


def osb_id(
    prior: ResourceState | None, recorded: str | None, external_id: str | None
) -> tuple[ResourceState | None, str]:
    """The id to create with, and ``prior`` when the create resumes it.

    A create an interrupted run recorded (CREATING, ``recorded`` its id) is
    resumed with that id, since the broker may already hold it; otherwise the
    spec's external id, or a new UUID.
    """
    if prior is not None and prior.status is ResourceStatus.CREATING and recorded:
        return prior, recorded
    return None, external_id or str(uuid.uuid4())


def starting_state(resuming: ResourceState | None, base: ResourceState) -> ResourceState:
    """``base``, carrying the operation an interrupted run recorded for the same id."""
    if resuming is not None and resuming.operation is not None and resuming.operation.operation:
        return base.model_copy(update={"operation": resuming.operation})
    return base


async def create(steps: BrokerSteps, c: Creation) -> None:
    """Record ``c.base``, send (or resume), poll, and record the outcome."""
    base = c.base
    await steps.persist(base)  # write-ahead: the id exists in state before the PUT
    async with steps.progress.step(base.address, c.verb) as info:
        info["id"] = base.binding_id or base.instance_id or ""
        op = base.operation
        resumed_after = 0.0
        outcome: Outcome
        if op is not None and op.operation is not None:
            outcome = Accepted(operation=op.operation)
            resumed_after = elapsed_since(op)
        else:

            async def mitigate_then_resend(failed: Outcome) -> None:
                # The same id is sent again, so whatever the failed PUT may have
                # left behind is deleted first (the spec's orphan-mitigation table).
                if needs_orphan_mitigation(c.request, failed):
                    await steps.mitigate(c.client, base, c.max_duration, describe(failed))
                    await steps.persist(base)

            outcome = await steps.send(base.address, c.send, mitigate_then_resend)
        if isinstance(outcome, Done):
            await steps.persist(await c.ready(base, outcome.body))
            return
        if isinstance(outcome, Accepted):
            accepted_at = steps.scheduler.clock.monotonic()
            assert op is not None
            in_flight = base.model_copy(
                update={
                    "operation": InFlightOperation(
                        kind=op.kind, operation=outcome.operation, request_sent=True
                    )
                }
            )
            if outcome.dashboard_url and c.request is RequestKind.PROVISION:
                in_flight = in_flight.model_copy(update={"dashboard_url": outcome.dashboard_url})
            await steps.persist(in_flight)
            polled = await steps.poll(
                c.client,
                in_flight,
                PollKind.CREATE,
                outcome,
                accepted_at=accepted_at,
                max_duration=c.max_duration,
                elapsed_before=resumed_after,
            )
            if not polled.succeeded:
                failure = f"{c.doing} failed: {polled.why}"
                await steps.mitigate(c.client, in_flight, c.max_duration, failure)
                raise StepFailed(failure)
            await steps.persist(await c.ready(in_flight, None))
            return
        if needs_orphan_mitigation(c.request, outcome):
            failure = f"{c.doing} failed: {describe(outcome)}"
            await steps.mitigate(c.client, base, c.max_duration, failure)
            raise StepFailed(failure)
        # A 4xx leaves the broker unchanged; the id stays recorded so that
        # the next run sends the same one (a broker may have counted it).
        await steps.persist(base.model_copy(update={"operation": None}))
        raise CreateRejected(f"{c.doing} rejected: {describe(outcome)}", outcome)
