"""One run of catalogctl: state, cluster, brokers, and the plan/apply flow.

Commands build a :class:`Session` from their flags and call :meth:`plan` or
:meth:`apply` (commands that need the state alone use its base,
:class:`~catalogctl.engine.state_session.StateSession`); everything with
effects is reached through the objects held here, so tests can run the full
flow against real test servers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

from catalogctl.engine.adoption import Imported
from catalogctl.engine.brokers import Brokers, BrokerSettings
from catalogctl.engine.cluster_identity import recorded_cluster_id
from catalogctl.engine.executor import Applier, ApplyOptions, summarize
from catalogctl.engine.guards import check_not_emptied, check_plan_secrets
from catalogctl.engine.inputs import Inputs
from catalogctl.engine.interrupts import Interrupts
from catalogctl.engine.ownership import check_ownership, claims_of
from catalogctl.engine.planner import Resolution, make_plan, refresh
from catalogctl.engine.ports import ClusterPort
from catalogctl.engine.preflight import needs_of_desired, needs_of_plan, preflight
from catalogctl.engine.progress import Progress
from catalogctl.engine.state_session import StateSession
from catalogctl.engine.targeting import check_addresses, known_addresses
from catalogctl.errors import Interrupted, StalePlanError
from catalogctl.plan.accept import accepted_steps
from catalogctl.plan.inputs import DiffOptions, ObservedResource
from catalogctl.plan.model import Mode, Plan
from catalogctl.providers.kubernetes.statemark import StateMark
from catalogctl.providers.osb.poller import PollScheduler
from catalogctl.state.backend import Journal
from catalogctl.state.models import State

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T], threads: int) -> T:
    """Run ``coro`` on a fresh event loop whose default executor has ``threads`` workers.

    Cluster calls (the Kubernetes client is synchronous) and journal writes
    run on that executor; sized to the run's parallelism, they do not queue
    behind the default pool's few workers while broker requests are in flight.
    """

    async def main() -> T:
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(
                max_workers=threads, thread_name_prefix="catalogctl"
            )
        )
        return await coro

    return asyncio.run(main())


@dataclass(kw_only=True)
class Session(StateSession):
    cluster: ClusterPort
    settings: BrokerSettings = field(default_factory=BrokerSettings)
    parallelism: int = 16
    apply_options: ApplyOptions | None = None
    poll_max_interval: float = 20.0
    #: --poll-timeout: the longest wait for one async operation (None: the
    #: plan's maximum_polling_duration, else an hour)
    poll_timeout: float | None = None
    #: a TTY stream for the live progress bar of large applies (None: lines only)
    progress_bar: TextIO | None = None
    #: Use the cluster id recorded in state (by a migration) over ``settings.cluster_id``;
    #: set when ``--cluster-id`` was not given.
    cluster_id_from_state: bool = False

    def _adopt_cluster_id(self, state: State) -> None:
        if self.cluster_id_from_state:
            self.settings.cluster_id = recorded_cluster_id(state) or self.settings.cluster_id

    def _brokers(self) -> Brokers:
        self.settings.pool_size = self.parallelism
        return Brokers(
            self.settings, self.cluster.read_secret_key, asyncio.Semaphore(self.parallelism)
        )

    def _planned(
        self, inputs: Inputs | None, state: State, options: DiffOptions, refresh: bool
    ) -> Plan:
        return run_async(self._plan(inputs, state, options, refresh), self._threads)

    @property
    def _threads(self) -> int:
        return max(4, self.parallelism)

    def state_mark(self, state: State) -> StateMark:
        """The state this run plans and writes for, as recorded on cluster objects."""
        where = self.backend.describe()
        if is_new(state):
            where += " (new: nothing stored there yet)"
        return StateMark(state.lineage, where)

    async def _plan(
        self, inputs: Inputs | None, state: State, options: DiffOptions, refresh: bool
    ) -> Plan:
        check_addresses(
            options,
            known_addresses(inputs.desired if inputs is not None else None, state.resources),
        )
        if inputs is not None and not options.destroy and not options.refresh_only:
            # Before any broker call: a plan that would take over another
            # state's objects (a mistyped --state) stops here.
            claims = claims_of(inputs.desired, state, options.targets)
            await check_ownership(claims, self.cluster, self.state_mark(state))
        brokers = self._brokers()
        try:
            return await make_plan(
                inputs, state, brokers, self.cluster, options, do_refresh=refresh
            )
        finally:
            await brokers.aclose()

    def observe(self, state: State, addresses: list[str]) -> dict[str, ObservedResource]:
        """What the brokers and the cluster say now about ``addresses`` (reads only)."""
        subset = state.model_copy(update={"resources": {a: state.resources[a] for a in addresses}})

        async def run() -> dict[str, ObservedResource]:
            brokers = self._brokers()
            try:
                return await refresh(subset, Resolution(), brokers, self.cluster)
            finally:
                await brokers.aclose()

        return run_async(run(), self._threads)

    def plan(self, inputs: Inputs | None, options: DiffOptions, *, refresh: bool = True) -> Plan:
        """Compute a plan under the state lock; makes no mutating call.

        A state that does not exist yet is planned against unlocked, so that
        planning never creates a state location (a mistyped --state leaves
        nothing behind); a saved plan of it is stale once anything is stored.
        """
        state = self.read()
        if is_new(state):
            return self._planned(inputs, state, options, refresh)
        with self.locked("plan"):
            state = self.read()
            check_not_emptied(inputs, state, options)
            self._adopt_cluster_id(state)
            return self._planned(inputs, state, options, refresh)

    def apply(
        self,
        *,
        inputs: Inputs | None = None,
        options: DiffOptions | None = None,
        refresh: bool = True,
        saved: Plan | None = None,
        confirm: Callable[[Plan], bool] | None = None,
    ) -> tuple[Plan, State]:
        """Plan (or take a saved plan), confirm, and apply it, all under one lock.

        Returns the plan applied and the committed state.  Raises ApplyFailed
        when some resources failed (state keeps everything that succeeded) and
        Interrupted after Ctrl-C/SIGTERM once state is saved.
        """
        options = options or DiffOptions()
        with self.locked("apply"):
            state = self.read()
            self._adopt_cluster_id(state)
            # Checks before the first broker request (planning asks brokers too).
            if saved is not None:
                check_fresh(saved, state)
                if saved.mode is not Mode.REFRESH_ONLY:
                    preflight(needs_of_plan(saved, state), self.cluster, self.backend)
                run_async(
                    check_plan_secrets(saved, self.cluster, self.state_mark(state)), self._threads
                )
                plan = saved
            else:
                check_not_emptied(inputs, state, options)
                if not options.refresh_only:
                    desired = inputs.desired if inputs is not None else None
                    needs = needs_of_desired(desired, state, destroy=options.destroy)
                    preflight(needs, self.cluster, self.backend)
                plan = self._planned(inputs, state, options, refresh)
            if plan.mode is Mode.REFRESH_ONLY and plan.drift:
                if confirm is not None and not confirm(plan):
                    return plan, state
                journal = self.backend.begin(state)
                journal.record_batch(accepted_steps(state, plan.drift))
                return plan, journal.commit(serial_bump=True)
            if plan.mode is Mode.REFRESH_ONLY or not plan.actionable:
                return plan, self._settle(state)
            if confirm is not None and not confirm(plan):
                return plan, state
            self.cluster.write_for(state.lineage, self.backend.describe())
            # The journal is opened and compacted outside the event loop: both
            # are file work, the compaction as large as the state.
            journal = self.backend.begin(state)
            interrupted, failure = run_async(self._apply(plan, journal), self._threads)
            committed = journal.commit(serial_bump=True)
            if interrupted:
                raise Interrupted(
                    "interrupted: in-flight requests finished and state was saved; "
                    "run apply again to resume"
                )
            if failure is not None:
                raise failure
            return plan, committed

    def import_resources(
        self, inputs: Inputs, wanted: list[tuple[str, str]], *, skip_tracked: bool = False
    ) -> list[Imported]:
        """Adopt the broker's instances and bindings (``(address, OSB id)``), under the lock.

        With ``skip_tracked``, a pair state already tracks with the same id is
        left as it is (importing every manifest again is harmless).  Only GETs
        reach the broker; the resources are recorded through the journal like
        apply steps.
        """
        from catalogctl.engine.adoption import ID_FIELD, check_not_tracked, prepare_imports

        with self.locked("import"):
            state = self.read()
            if skip_tracked:
                kept = []
                for address, osb_id in wanted:
                    res = state.get(address)
                    if res is not None and getattr(res, ID_FIELD[res.kind]) == osb_id:
                        self.emit(f"{address}: already in the state with the same id")
                    else:
                        kept.append((address, osb_id))
                wanted = kept
                if not wanted:
                    return []
            for address, osb_id in wanted:
                check_not_tracked(state, address, osb_id)
                self.emit(f'{address}: Importing from ID "{osb_id}"...')
            imported = run_async(
                prepare_imports(
                    inputs,
                    state,
                    wanted,
                    settings=self.settings,
                    cluster=self.cluster,
                    parallelism=self.parallelism,
                ),
                self._threads,
            )
            with self.backend.begin(state) as journal:
                for each in imported:
                    journal.record(each.resource)
                journal.commit()
        return imported

    def _settle(self, state: State) -> State:
        """Compact a journal left by a killed run, so state is one file again.

        Nothing else changes, so the serial moves only if the replay did.
        """
        journal = self.backend.begin(state)
        return journal.commit(serial_bump=True)

    async def _apply(self, plan: Plan, journal: Journal) -> tuple[bool, Exception | None]:
        """Walk the plan, recording into ``journal``; (interrupted, the failure if any)."""
        brokers = self._brokers()
        scheduler = PollScheduler(
            max_interval=self.poll_max_interval,
            operation_timeout=self.poll_timeout,
            clock=self.settings.retry.clock,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        steps = sum(2 if c.action.replaces else 1 for c in plan.actionable)
        progress = Progress(self.emit, bar=self.progress_bar, total=steps)
        installed = []
        result = None
        try:
            applier = Applier(
                plan,
                journal,
                brokers,
                self.cluster,
                scheduler,
                progress,
                self.apply_options or ApplyOptions(),
            )
            running = asyncio.ensure_future(applier.run(stop))
            interrupts = Interrupts(stop, self.emit, running.cancel)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, interrupts)
                    installed.append(sig)
            try:
                result = await running
            except asyncio.CancelledError:
                # A third interrupt abandons what was in flight; the journal
                # already says what to resume.  Any other cancellation is not ours.
                if interrupts.count < 3:
                    raise
        finally:
            progress.close()
            for sig in installed:
                loop.remove_signal_handler(sig)
            await scheduler.aclose()
            await brokers.aclose()
        command = "destroy" if plan.mode is Mode.DESTROY else "apply"
        failure = summarize(result, command) if result is not None else None
        return stop.is_set(), failure


def is_new(state: State) -> bool:
    """True when nothing was ever stored for this state (its lineage is not fixed yet)."""
    return state.serial == 0 and not state.resources


def check_fresh(plan: Plan, state: State) -> None:
    """Refuse a saved plan made against another state (Terraform's lineage/serial rule).

    A state never written has no lineage of its own yet, so a plan made
    against an empty state matches any still-empty state.
    """
    if plan.serial == 0 and state.serial == 0 and not state.resources:
        return
    if plan.lineage != state.lineage and plan.serial != 0:
        raise StalePlanError(
            "the saved plan does not match this state (different lineage): it was made for another "
            "state; plan again"
        )
    # A plan made against a never-written state holds a lineage that was never stored:
    # the state written since (by this plan's own apply, or another) makes it stale.
    if plan.serial != state.serial or plan.lineage != state.lineage:
        raise StalePlanError(
            "the saved plan is stale: the state changed since it was made "
            f"(serial {plan.serial} -> {state.serial}); plan again"
        )


def read_plan_file(path: str | Path) -> Plan:
    from catalogctl.errors import InputError
    from catalogctl.model import limits

    try:
        data = limits.load_json(limits.read_text(Path(path)), str(path))
        if data.get("kind") != "catalogctl-plan":
            raise InputError(f"{path}: not a catalogctl plan file")
        return Plan.from_dict(data["plan"])
    except limits.InputTooLarge as exc:
        raise InputError(f"cannot read plan file: {exc.problem.render()}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read plan file: {exc}") from None


def write_plan_file(path: str | Path, plan: Plan) -> None:
    import json
    import os

    payload = json.dumps(
        {"kind": "catalogctl-plan", "plan": plan.to_dict()}, sort_keys=True, indent=1
    )
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(payload)
    os.replace(tmp, p)
