"""How much does persisting one apply step cost, and does it grow with state size?

Apply persists every OSB step as it happens.  If a step cost O(n) in the
number of tracked resources (rewriting the state file, say), a 10,000-resource
apply would spend most of its time re-serialising state — the trap Terraform
fell into (hashicorp/terraform#35113).  This benchmark records steps through
the local backend's journal with 100, 1,000 and 10,000 resources already in
state and checks that the per-step cost stays flat (10,000 vs 100 at most
1.5x by median).  It also times the one O(n) operation per run, the commit
that compacts the journal into a full state file, and the read that replays it.

Run: ``python bench/bench_state_persist.py [--steps 500] [--dir /some/fs]``.
The per-step figure is dominated by ``fsync``, so it says as much about the
disk as about the code; the ratio is what matters.  Exits 1 if the ratio
exceeds the limit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from catalogctl.state import (
    InFlightOperation,
    LocalBackend,
    OperationKind,
    ResourceState,
    ResourceStatus,
    checksum,
)

SIZES = (100, 1_000, 10_000)
MAX_RATIO = 1.5


def resource(n: int, *, status: ResourceStatus = ResourceStatus.READY) -> ResourceState:
    """A ServiceInstance about as large as a real one (ids, parameters, dependencies)."""
    parameters = {"size": n % 7, "region": "eu-west-1", "tags": [f"team-{n % 13}", "bench"]}
    operation = None
    if status is ResourceStatus.CREATING:
        operation = InFlightOperation(
            kind=OperationKind.PROVISION, operation=f"op-{n}", request_sent=True
        )
    return ResourceState(
        address=f"ServiceInstance/ns-{n % 50}/instance-{n}",
        kind="ServiceInstance",
        status=status,
        broker="ClusterServiceBroker/bench",
        service_id="svc-postgres",
        plan_id="plan-small",
        instance_id=f"00000000-0000-4000-8000-{n:012d}",
        parameters=parameters,
        parameters_checksum=checksum(parameters),
        dashboard_url=f"https://dash.example/{n}",
        operation=operation,
        depends_on=("ClusterServiceBroker/bench",),
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def populate(backend: LocalBackend, size: int) -> None:
    info = backend.lock("bench-populate")
    journal = backend.begin(backend.read())
    for n in range(size):
        journal.record(resource(n))
    journal.commit()
    backend.unlock(info.id)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(root: Path, size: int, steps: int) -> dict[str, float]:
    backend = LocalBackend(root / f"state-{size}")
    populate(backend, size)
    info = backend.lock("bench")

    started = time.perf_counter()
    state = backend.read()
    read_s = time.perf_counter() - started

    journal = backend.begin(state)
    per_step: list[float] = []
    for i in range(steps):
        # Touch resources spread over the whole state, as a real apply would.
        step = resource((i * 7919) % size, status=ResourceStatus.CREATING)
        started = time.perf_counter()
        journal.record(step)
        per_step.append((time.perf_counter() - started) * 1e6)

    started = time.perf_counter()
    journal.commit()
    commit_s = time.perf_counter() - started
    backend.unlock(info.id)
    state_bytes = backend.state_path.stat().st_size
    return {
        "median_us": statistics.median(per_step),
        "p95_us": percentile(per_step, 0.95),
        "commit_ms": commit_s * 1e3,
        "read_ms": read_s * 1e3,
        "state_mb": state_bytes / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=500, help="steps recorded per size")
    parser.add_argument("--dir", type=Path, default=None, help="where to put the state dirs")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.dir, prefix="catalogctl-bench-") as tmp:
        results = {size: measure(Path(tmp), size, args.steps) for size in SIZES}

    print(f"journal.record (with fsync), {args.steps} steps per size")
    print(
        f"{'resources':>10} {'median µs':>10} {'p95 µs':>10} "
        f"{'commit ms':>10} {'read ms':>9} {'state MB':>9}"
    )
    for size, r in results.items():
        print(
            f"{size:>10,} {r['median_us']:>10.1f} {r['p95_us']:>10.1f} "
            f"{r['commit_ms']:>10.1f} {r['read_ms']:>9.1f} {r['state_mb']:>9.2f}"
        )
    ratio = results[SIZES[-1]]["median_us"] / results[SIZES[0]]["median_us"]
    verdict = "ok" if ratio <= MAX_RATIO else f"TOO HIGH (limit {MAX_RATIO}x)"
    print(f"median per step, {SIZES[-1]:,} vs {SIZES[0]:,} resources: {ratio:.2f}x — {verdict}")
    print(
        f"commit (compaction) at {SIZES[-1]:,} resources: {results[SIZES[-1]]['commit_ms']:.1f} ms"
    )
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
