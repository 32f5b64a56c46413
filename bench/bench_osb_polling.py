"""Does one poll scheduler follow 1,000 async operations without wasting polls?

catalogctl follows every async OSB operation of a run with a single
:class:`~catalogctl.providers.osb.poller.PollScheduler` (one heap, one loop
task).  This benchmark provisions ``--ops`` instances on the async plan of
local programmable brokers (separate processes, so their CPU and memory do not
count), whose ``last_operation`` answers ``in progress`` for ``--rounds``
polls with a ``Retry-After`` that varies per operation (``--retry-after``),
then ``succeeded``.

It reports the polling requests sent against the minimum the Retry-After
values allow (one poll per ``in progress`` answer plus the final one: any poll
sent before the broker's Retry-After elapsed would be wasted and show up as an
extra ``in progress``), the wall time of the polling phase against the lower
bound the Retry-After values impose, and the client process's peak memory.
Exits 1 if polls exceed ``--max-ratio`` (1.2) times the minimum.

Run: ``python bench/bench_osb_polling.py [--ops 1000] [--brokers 2] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalogctl.providers.osb.client import OSBClient  # noqa: E402
from catalogctl.providers.osb.config import BrokerConnection  # noqa: E402
from catalogctl.providers.osb.identity import instance_context, platform_guids  # noqa: E402
from catalogctl.providers.osb.outcomes import Accepted  # noqa: E402
from catalogctl.providers.osb.poller import (  # noqa: E402
    OperationKind,
    PollScheduler,
    PollTarget,
    ResourceType,
)
from tests.brokers.programmable import ASYNC_PLAN_ID, SERVICE_ID  # noqa: E402


def start_broker(rounds: int, retry_after: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.brokers.programmable",
            "--port",
            "0",
            "--async-polls",
            str(rounds + 1),
            "--retry-after",
            retry_after,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"broker did not start: {line!r}")
    return proc, line.split(" ", 1)[1]


async def run(args: argparse.Namespace) -> int:
    brokers = [start_broker(args.rounds, args.retry_after) for _ in range(args.brokers)]
    try:
        clients = [
            OSBClient(
                BrokerConnection(
                    f"ClusterServiceBroker/bench-{n}",
                    url,
                    cluster_id="bench-cluster",
                    max_in_flight=args.max_in_flight,
                    timeout=30,
                )
            )
            for n, (_, url) in enumerate(brokers)
        ]
        if args.tracemalloc:
            tracemalloc.start()
        t0 = time.perf_counter()

        async def provision(n: int) -> PollTarget:
            c = clients[n % len(clients)]
            guids = platform_guids(c.conn, namespace="bench")
            out = await c.provision(
                f"inst-{n}",
                SERVICE_ID,
                ASYNC_PLAN_ID,
                context=instance_context(c.conn, namespace="bench", instance_name=f"db-{n}"),
                organization_guid=guids.organization_guid,
                space_guid=guids.space_guid,
            )
            if not isinstance(out, Accepted):
                raise SystemExit(f"provision {n} answered {out!r}")
            return PollTarget(
                c,
                ResourceType.INSTANCE,
                f"inst-{n}",
                SERVICE_ID,
                ASYNC_PLAN_ID,
                out.operation,
                OperationKind.CREATE,
                retry_after=out.retry_after,
            )

        targets = await asyncio.gather(*(provision(n) for n in range(args.ops)))
        t1 = time.perf_counter()
        cpu1 = time.process_time()
        async with PollScheduler(max_interval=args.cap) as sched:
            results = await asyncio.gather(*(sched.wait(t) for t in targets))
            stats = sched.stats
        t2 = time.perf_counter()
        cpu2 = time.process_time()
        traced_peak = tracemalloc.get_traced_memory()[1] if args.tracemalloc else 0
        for c in clients:
            await c.aclose()
    finally:
        for proc, _ in brokers:
            proc.terminate()
            proc.wait(timeout=10)

    failed = [r for r in results if r.state != "succeeded"]
    values = [float(v) for v in args.retry_after.split(",")]
    minimum = args.ops * (args.rounds + 1)
    ratio = stats.polls_sent / minimum
    # Lower bound on wall time: first poll after 1 s (initial interval), then the
    # slowest operation waits its Retry-After ``rounds`` times.
    floor_s = 1.0 + args.rounds * max(values)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"operations            {args.ops} on {args.brokers} broker process(es)")
    print(f"rounds in progress    {args.rounds}, Retry-After values {args.retry_after} s")
    print(f"provision phase       {t1 - t0:.2f} s")
    print(f"polls sent            {stats.polls_sent}")
    print(f"minimum polls         {minimum}")
    print(f"ratio                 {ratio:.3f} (limit {args.max_ratio})")
    print(f"polling wall time     {t2 - t1:.2f} s (Retry-After floor {floor_s:.1f} s)")
    cpu = cpu2 - cpu1
    print(f"client CPU (polling)  {cpu:.2f} s, {cpu / stats.polls_sent * 1e6:.0f} µs/poll")
    print(f"peak polls in flight  {stats.peak_in_flight}")
    print(f"poll errors           {dict(stats.errors) or 'none'}")
    print(f"failed operations     {len(failed)}")
    print(f"peak RSS (client)     {rss_mb:.1f} MiB")
    if args.tracemalloc:
        print(f"tracemalloc peak      {traced_peak / 2**20:.1f} MiB")
    return 0 if ratio <= args.max_ratio and not failed else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ops", type=int, default=1000)
    p.add_argument("--brokers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=3, help="'in progress' answers per operation")
    p.add_argument("--retry-after", default="1,2,3", help="comma list, varied per operation")
    p.add_argument("--cap", type=float, default=20.0, help="backoff cap of the scheduler")
    p.add_argument("--max-in-flight", type=int, default=64, help="per-broker request slots")
    p.add_argument("--max-ratio", type=float, default=1.2)
    p.add_argument("--tracemalloc", action="store_true", help="also report Python heap peak")
    return asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
