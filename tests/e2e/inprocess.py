"""``apply`` in-process with an injected clock, for tests of what happens over time.

Backoff and polling waits advance :class:`SkipClock` instead of sleeping, so
a test checks the delays chosen without waiting for them.  Everything else is
real: HTTP over sockets, the engine, the journal and the cluster directory.
"""

from __future__ import annotations

from catalogctl.engine.brokers import BrokerSettings
from catalogctl.engine.cluster import open_cluster
from catalogctl.engine.inputs import load_inputs
from catalogctl.engine.session import Session
from catalogctl.errors import ApplyFailed
from catalogctl.plan.inputs import DiffOptions
from catalogctl.providers.osb.retrying import RetryPolicy
from catalogctl.state.local import LocalBackend
from tests.clocks import SkipClock
from tests.e2e.conftest import Workspace


class Run:
    """``apply`` in-process with an injected clock; collects the progress lines."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.clock = SkipClock()
        self.lines: list[str] = []

    def apply(
        self, *, refresh: bool = True, allow_empty: bool = False, **retry: float
    ) -> ApplyFailed | None:
        session = Session(
            backend=LocalBackend(self.ws.state),
            cluster=open_cluster(cluster_dir=str(self.ws.cluster_dir)),
            settings=BrokerSettings(
                catalog_cache_dir=self.ws.state / "catalog-cache",
                retry=RetryPolicy(clock=self.clock, **retry),  # type: ignore[arg-type]
            ),
            emit=self.lines.append,
        )
        inputs = load_inputs([str(self.ws.services)], "default", False)
        try:
            session.apply(
                inputs=inputs, options=DiffOptions(allow_empty=allow_empty), refresh=refresh
            )
        except ApplyFailed as failure:
            return failure
        return None

    def retries(self) -> list[str]:
        return [line for line in self.lines if ": retry " in line]
