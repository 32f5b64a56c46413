"""How much does persisting one apply step cost, and does it grow with state size?

Apply persists every OSB step as it happens.  If a step cost O(n) in the
number of tracked resources (rewriting the state file, say), a 10,000-resource
apply would spend most of its time re-serialising state — the trap Terraform
fell into (hashicorp/terraform#35113).  This benchmark records steps through
each backend's journal with 100, 1,000 and 10,000 resources already in state
and checks that the per-step cost stays flat (10,000 vs 100 at most 1.3x by
median).  It also times the one O(n) operation per run, the commit that
compacts the journal into a full state, and the read that replays it.

Backends: ``local`` (a temporary directory), ``postgresql`` (a private
PostgreSQL server started for the run, default settings: every commit is
fsync'd) and ``kubernetes`` (the real kube-apiserver and etcd of ``tests/cluster``,
started for the run on 127.0.0.1; a step is one HTTPS create that etcd
commits).

Run: ``python bench/bench_state_persist.py [--backend all] [--steps 500] [--dir /some/fs]``.
The per-step figure is dominated by ``fsync`` (local, PostgreSQL) or a round
trip (Kubernetes), so it says as much about the machine as about the code;
the ratio is what matters.  Exits 1 if a ratio exceeds the limit.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the PostgreSQL and API server harnesses live in tests/

from catalogctl.state import (  # noqa: E402
    InFlightOperation,
    LocalBackend,
    OperationKind,
    ResourceState,
    ResourceStatus,
    State,
    StateBackend,
    checksum,
)

SIZES = (100, 1_000, 10_000)
MAX_RATIO = 1.3
BACKENDS = ("local", "postgresql", "kubernetes")


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


def populate(backend: StateBackend, size: int) -> None:
    """Store ``size`` resources at once (``replace``: one write, not ``size`` steps)."""
    state = State.new().with_resources(set_=[resource(n) for n in range(size)]).with_serial(1)
    info = backend.lock("bench-populate")
    backend.replace(state)
    backend.unlock(info.id)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(make: Callable[[int], StateBackend], steps: int) -> dict[int, dict[str, float]]:
    """Per-step cost at each size, the sizes' steps interleaved so noise hits all alike."""
    open_runs = []
    for size in SIZES:
        backend = make(size)
        populate(backend, size)
        info = backend.lock("bench")
        started = time.perf_counter()
        state = backend.read()
        read_ms = (time.perf_counter() - started) * 1e3
        open_runs.append((size, backend, info, backend.begin(state), read_ms))
    per_step: dict[int, list[float]] = {size: [] for size in SIZES}
    for i in range(steps):
        for size, _, _, journal, _ in open_runs:
            # Touch resources spread over the whole state, as a real apply would.
            step = resource((i * 7919) % size, status=ResourceStatus.CREATING)
            started = time.perf_counter()
            journal.record(step)
            per_step[size].append((time.perf_counter() - started) * 1e6)
    results: dict[int, dict[str, float]] = {}
    for size, backend, info, journal, read_ms in open_runs:
        started = time.perf_counter()
        committed = journal.commit()
        commit_ms = (time.perf_counter() - started) * 1e3
        backend.unlock(info.id)
        results[size] = {
            "median_us": statistics.median(per_step[size]),
            "p95_us": percentile(per_step[size], 0.95),
            "commit_ms": commit_ms,
            "read_ms": read_ms,
            "state_mb": len(committed.to_json()) / 1e6,
        }
    return results


@contextlib.contextmanager
def backends(kind: str, tmp: Path) -> Iterator[Callable[[int], StateBackend]]:
    """A maker of one fresh backend per state size."""
    if kind == "local":
        yield lambda size: LocalBackend(tmp / f"state-{size}")
    elif kind == "postgresql":
        from catalogctl.state.naming import PostgresStateName, parse_state_name
        from catalogctl.state.postgres import PostgresBackend
        from tests.fixtures.postgres import private_postgres

        def postgres(url: str) -> PostgresBackend:
            name = parse_state_name(url)
            assert isinstance(name, PostgresStateName)
            return PostgresBackend(name)

        with private_postgres() as server:
            yield lambda size: postgres(server.url(f"bench-{size}"))
    else:
        from kubernetes import client

        from catalogctl.state.kubernetes import KubernetesBackend
        from catalogctl.state.naming import KubernetesStateName
        from tests.cluster.server import LocalCluster

        cluster = LocalCluster.start(tmp / "kube")

        def api_client() -> client.ApiClient:
            configuration = client.Configuration()
            configuration.host = cluster.url
            configuration.ssl_ca_cert = str(cluster.ca_file)
            configuration.api_key = {"authorization": cluster.token}
            configuration.api_key_prefix = {"authorization": "Bearer"}
            return client.ApiClient(configuration)

        try:
            yield lambda size: KubernetesBackend(
                KubernetesStateName("default", f"bench-{size}"), api_client
            )
        finally:
            cluster.stop()


def report(kind: str, steps: int, results: dict[int, dict[str, float]]) -> float:
    print(f"{kind}: journal.record, {steps} steps per size, sizes interleaved step by step")
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
    print()
    return ratio


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=500, help="steps recorded per size")
    parser.add_argument("--dir", type=Path, default=None, help="where to put local state dirs")
    parser.add_argument("--backend", choices=(*BACKENDS, "all"), default="all")
    args = parser.parse_args(argv)
    kinds = BACKENDS if args.backend == "all" else (args.backend,)

    worst = 0.0
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="catalogctl-bench-") as tmp:
        for kind in kinds:
            with backends(kind, Path(tmp)) as make:
                results = measure(make, args.steps)
            worst = max(worst, report(kind, args.steps, results))
    return 0 if worst <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
