"""The plan-time ownership check: its cost for a state that does not record the objects yet.

A plan reads every binding Secret it would write that its state does not
record (a first plan, or a mistyped ``--state``); a plan against an
established state reads none.  This times the check over N Secrets that
another state wrote (every one a conflict, the worst case: all are read and
reported) in a cluster directory, and, in the same run, the plain reads of
the same Secrets that refresh makes for resources in state, as the yardstick.

    python bench/bench_ownership.py [--secrets 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    from catalogctl.engine.ownership import Claim, conflicts
    from catalogctl.providers.kubernetes import DirectoryCluster
    from catalogctl.providers.kubernetes.facade import Cluster
    from catalogctl.providers.kubernetes.statemark import StateMark

    parser = argparse.ArgumentParser()
    parser.add_argument("--secrets", type=int, default=2000)
    n = parser.parse_args().secrets
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(DirectoryCluster(Path(tmp) / "cluster"))
        cluster.write_for("11111111-1111-4111-8111-111111111111", "local state at state")
        claims = [Claim("Secret", "apps", f"b{i}", f"ServiceBinding/apps/b{i}") for i in range(n)]
        for c in claims:
            cluster.write_binding_secret(c.namespace, c.name, {"uri": b"x" * 64}, c.owner)
        ours = StateMark("22222222-2222-4222-8222-222222222222", "local state at stat")

        start = time.perf_counter()
        found = asyncio.run(conflicts(claims, cluster, ours))
        check = time.perf_counter() - start
        assert len(found) == n

        async def reads() -> None:
            limit = asyncio.Semaphore(16)

            async def one(c: Claim) -> None:
                async with limit:
                    await asyncio.to_thread(cluster.observe_binding_secret, c.namespace, c.name)

            await asyncio.gather(*(one(c) for c in claims))

        start = time.perf_counter()
        asyncio.run(reads())
        plain = time.perf_counter() - start
    print(
        f"{n} Secrets: ownership check {check:.3f}s, plain reads {plain:.3f}s, "
        f"ratio {check / plain:.2f}"
    )


if __name__ == "__main__":
    main()
