"""``apply --wait``: wait until rolled workloads run their new pod template.

A rotation waits here, after it rolled the workloads that read a binding's
Secret and before it unbinds the old binding, so pods still on the old
credentials are gone before those are revoked; a mapping that rolls its
workload outside a rotation (new data in its Secret) waits after its patch.
Each look at the cluster runs on a worker thread; the waits between looks go
through the run's clock, so tests advance time instead of sleeping.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from catalogctl.engine.handlers.broker import StepFailed
from catalogctl.engine.ports import ClusterPort, RolloutStatus
from catalogctl.engine.progress import StepInterrupted
from catalogctl.plan.diff import span_text

if TYPE_CHECKING:
    from catalogctl.engine.handlers.base import ApplyContext

#: Seconds between looks at a rollout (kubectl rollout status watches; a look
#: every two seconds costs one GET per workload and notices the end as soon).
LOOK_INTERVAL = 2.0


async def wait_for_rollouts(ctx: ApplyContext, address: str, workloads: Sequence[str]) -> None:
    """With ``apply --wait``, return once every ``Kind/namespace/name`` in ``workloads`` rolled out.

    Runs as ``address``'s ``wait`` step.  Raises StepFailed naming each
    workload still rolling when ``--wait-timeout`` passed, or at once for a
    rollout that cannot finish (a Deployment past its progress deadline, a
    workload that is gone), and StepInterrupted when the run is stopped.
    """
    steps = ctx.broker
    if not steps.options.wait or not workloads:
        return
    clock, timeout = steps.scheduler.clock, steps.options.wait_timeout
    started = clock.monotonic()
    pending = list(workloads)
    async with ctx.progress.step(address, "wait"):
        while pending:
            seen = await asyncio.gather(
                *(asyncio.to_thread(_status, ctx.cluster, w) for w in pending)
            )
            stuck = [f"{w}: {s.detail}" for w, s in zip(pending, seen, strict=True) if s.failed]
            if stuck:
                raise StepFailed("rollout failed: " + "; ".join(stuck))
            waiting = [(w, s) for w, s in zip(pending, seen, strict=True) if not s.done]
            if not waiting:
                return
            left = timeout - (clock.monotonic() - started)
            if left <= 0:
                raise StepFailed(
                    f"rollout did not finish within {span_text(timedelta(seconds=timeout))} "
                    "(--wait-timeout): " + "; ".join(f"{w}: {s.detail}" for w, s in waiting)
                )
            if steps.stop is not None and steps.stop.is_set():
                raise StepInterrupted("interrupted while waiting for rollouts")
            await clock.sleep(min(LOOK_INTERVAL, left))
            pending = [w for w, _ in waiting]


def _status(cluster: ClusterPort, workload: str) -> RolloutStatus:
    kind, namespace, name = workload.split("/", 2)
    return cluster.rollout_status(namespace, kind, name)
