"""``apply`` of N instances + N bindings with local state and with PostgreSQL state, same run.

The broker is bench_apply's (20 ms per answer, in its own process); here
asynchronous provisioning takes 1 s.  Every step of the walk is persisted
before the request it precedes, so the state backend sits on the apply's
critical path: a step costs an fsync'd append locally and one committed
INSERT over loopback with PostgreSQL (a private server started for the run,
default settings).  Rounds alternate local, PostgreSQL, local, PostgreSQL so
that machine noise hits both alike; the medians are compared (target: the
PostgreSQL walk within 1.2x of the local one).

    python bench/bench_apply_state.py [--instances 500] [--rounds 2] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_apply  # noqa: E402

PROVISION_SECONDS = 1.0
TARGET = 1.2


def apply_once(work: Path, services: Path, state: str, parallelism: int) -> float:
    """Run catalogctl's apply in-process against ``state``; return the walk's seconds."""
    from catalogctl.engine.brokers import BrokerSettings
    from catalogctl.engine.cluster import open_cluster
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.engine.session import Session
    from catalogctl.engine.statestore import catalog_cache_dir, open_state
    from catalogctl.plan.model import Plan

    inputs = load_inputs([str(services)], "default", False)
    session = Session(
        backend=open_state(state),
        cluster=open_cluster(cluster_dir=str(work / f"cluster-{uuid.uuid4().hex}")),
        settings=BrokerSettings(catalog_cache_dir=catalog_cache_dir(state)),
        parallelism=parallelism,
        emit=lambda line: None,
    )
    started: list[float] = []

    def confirm(plan: Plan) -> bool:
        started.append(time.perf_counter())
        return True

    session.apply(inputs=inputs, confirm=confirm)
    return time.perf_counter() - started[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        bench_apply.PROVISION_SECONDS = PROVISION_SECONDS
        asyncio.run(bench_apply.BenchBroker().serve())
        return

    from tests.fixtures.postgres import private_postgres

    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    walks: dict[str, list[float]] = {"local": [], "postgresql": []}
    try:
        asyncio.run(bench_apply.calibrate(url, args.parallelism))
        with private_postgres() as server, tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            services = bench_apply.write_desired(work, url, args.instances)
            for n in range(args.rounds):
                for kind in walks:
                    state = (
                        str(work / f"state-{n}")
                        if kind == "local"
                        else server.url(f"bench-{n}", password=True)
                    )
                    walks[kind].append(apply_once(work, services, state, args.parallelism))
    finally:
        proc.terminate()
        proc.wait()
    local, postgres = (statistics.median(walks[k]) for k in ("local", "postgresql"))
    n = args.instances
    print(
        f"{n} instances + {n} bindings, broker latency {bench_apply.LATENCY * 1000:.0f} ms, "
        f"async provisioning {PROVISION_SECONDS:.0f} s, parallelism {args.parallelism}, "
        f"{args.rounds} rounds alternating"
    )
    for kind, values in walks.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{kind:>10} state: apply walk median {statistics.median(values):.2f} s ({shown})")
    ratio = postgres / local
    verdict = "ok" if ratio <= TARGET else f"ABOVE TARGET ({TARGET}x)"
    print(f"PostgreSQL / local: {ratio:.2f}x — {verdict}")


if __name__ == "__main__":
    main()
