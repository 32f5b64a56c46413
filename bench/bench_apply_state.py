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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import bench_apply  # noqa: E402

PROVISION_SECONDS = 1.0
TARGET = 1.2


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
                    run_dir = work / f"{kind}-{n}"  # fresh cluster directory and local state
                    run_dir.mkdir()
                    state = server.url(f"bench-{n}") if kind == "postgresql" else None
                    run = bench_apply.catalogctl_apply(
                        run_dir, services, args.parallelism, state
                    )
                    walks[kind].append(run.walk)
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
