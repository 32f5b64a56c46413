"""Orphan mitigation: delete what a failed create may have left behind at the broker.

The spec makes the platform the source of truth: after an answer that leaves
it unsure whether a resource exists (see
:func:`~catalogctl.providers.osb.outcomes.needs_orphan_mitigation`), it
"SHOULD attempt to delete resources it cannot be sure were successfully
created, and SHOULD keep trying ... until the Service Broker responds with a
success".

The engine records "orphan mitigation pending" in state *before* calling
:func:`mitigate`, and records the returned :class:`Mitigation` afterwards, so
an interrupted mitigation is resumed on the next run.  The DELETEs carry no
originating identity: nobody asked for them.

Retries back off exponentially and stop at a deadline rather than forever: a
CLI run must end.  A few answers end the attempt early because repeating an
identical request cannot change them (400, 401, 403, 412); the state still
says "pending", so the next run tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.outcomes import (
    Accepted,
    BadRequest,
    Done,
    Failed,
    Gone,
    Outcome,
    describe,
)
from catalogctl.providers.osb.poller import (
    OperationKind,
    PollScheduler,
    PollTarget,
    ResourceType,
)

logger = logging.getLogger(__name__)

MitigationStatus = Literal["mitigated", "failed", "skipped"]


@dataclass(frozen=True)
class MitigationPolicy:
    """Run-level settings; ``enabled=False`` is ``--no-orphan-mitigation``.

    ``deadline`` bounds the whole mitigation (all DELETEs and their polls).
    """

    enabled: bool = True
    deadline: float = 600.0
    initial_backoff: float = 1.0
    max_backoff: float = 20.0


@dataclass(frozen=True)
class Mitigation:
    """What happened; the engine persists it.

    ``mitigated``: the broker confirmed deletion (200, 410, or 202 polled to
    success).  ``failed``: gave up (deadline or a non-retryable answer); the
    resource stays "orphan mitigation pending".  ``skipped``: disabled by the
    run, the resource stays tainted.
    """

    status: MitigationStatus
    attempts: int
    detail: str
    last_outcome: Outcome | None = None


_GIVE_UP_STATUSES = frozenset({400, 401, 403, 412})


async def mitigate(
    client: OSBClient,
    scheduler: PollScheduler,
    *,
    instance_id: str,
    service_id: str,
    plan_id: str,
    binding_id: str | None = None,
    policy: MitigationPolicy = MitigationPolicy(),
    maximum_polling_duration: float | None = None,
) -> Mitigation:
    """DELETE the instance, or unbind ``binding_id`` when given (no identity), until gone."""

    async def delete() -> Outcome:
        return await client.delete(
            instance_id, service_id, plan_id, binding_id=binding_id, identity=None
        )

    def target(op: Accepted, remaining: float) -> PollTarget:
        return PollTarget(
            client=client,
            resource=ResourceType.INSTANCE if binding_id is None else ResourceType.BINDING,
            instance_id=instance_id,
            binding_id=binding_id,
            service_id=service_id,
            plan_id=plan_id,
            operation=op.operation,
            kind=OperationKind.DELETE,
            maximum_polling_duration=_min(maximum_polling_duration, remaining),
            retry_after=op.retry_after,
            send_identity=False,
        )

    what = f"instance {instance_id}" if binding_id is None else f"binding {binding_id}"
    return await _mitigate(scheduler, policy, delete, target, what)


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


async def _mitigate(
    scheduler: PollScheduler,
    policy: MitigationPolicy,
    delete: Callable[[], Awaitable[Outcome]],
    target: Callable[[Accepted, float], PollTarget],
    what: str,
) -> Mitigation:
    if not policy.enabled:
        return Mitigation("skipped", 0, "orphan mitigation disabled for this run")
    clock = scheduler.clock
    deadline = clock.monotonic() + policy.deadline
    backoff = policy.initial_backoff
    attempts = 0
    last: Outcome | None = None
    while True:
        attempts += 1
        outcome: Outcome = await delete()
        last = outcome
        if isinstance(outcome, Done | Gone):
            return Mitigation("mitigated", attempts, describe(outcome), outcome)
        if isinstance(outcome, Accepted):
            result = await scheduler.wait(target(outcome, max(0.0, deadline - clock.monotonic())))
            last = result
            if result.succeeded:
                return Mitigation("mitigated", attempts, describe(result), result)
            outcome = result
        elif isinstance(outcome, Failed | BadRequest) and _status(outcome) in _GIVE_UP_STATUSES:
            logger.warning("orphan mitigation of %s stopped: %s", what, describe(outcome))
            return Mitigation("failed", attempts, describe(outcome), outcome)
        remaining = deadline - clock.monotonic()
        if remaining <= 0:
            break
        logger.info(
            "orphan mitigation of %s: attempt %d: %s; retrying in %.1fs",
            what,
            attempts,
            describe(outcome),
            min(backoff, remaining),
        )
        await clock.sleep(min(backoff, remaining))
        backoff = min(backoff * 2, policy.max_backoff)
        if clock.monotonic() >= deadline:
            break
    assert last is not None
    return Mitigation(
        "failed", attempts, f"gave up after {attempts} attempts: {describe(last)}", last
    )


def _status(outcome: Outcome) -> int:
    if isinstance(outcome, BadRequest):
        return 400
    if isinstance(outcome, Failed):
        return outcome.status
    return 0
