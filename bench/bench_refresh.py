"""``plan`` (with refresh) and ``drift`` of N instances + N bindings at a broker latency.

Builds the state by applying N instances and N bindings against a local sync
broker that answers at once, then makes every broker answer take ``--latency``
seconds and times ``plan`` (refresh on), ``drift`` and, as the start-up
baseline, ``plan --no-refresh``, each as a separate process (median of runs).

Refresh reads every instance and binding once (2N GETs); with ``--parallelism``
requests in flight the lower bound is::

    bound = plan --no-refresh + 2N * latency / parallelism

and the report gives each command's time as a ratio of that bound, measured
in the same run.  The broker's peak of concurrent requests is printed too: it
should reach the parallelism.

    python bench/bench_refresh.py [--instances 500] [--latency 0.02] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.brokers.programmable import ProgrammableBroker, RecordedRequest  # noqa: E402


class SlowBroker(ProgrammableBroker):
    """The in-memory broker, answering after ``latency`` seconds once it is set."""

    latency = 0.0

    def default_reply(self, req: RecordedRequest) -> Any:
        if self.latency:
            time.sleep(self.latency)
        return super().default_reply(req)


def write_desired(directory: Path, url: str, n: int) -> Path:
    services = directory / "services"
    services.mkdir()
    docs = [
        "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ClusterServiceBroker\n"
        f'metadata: {{name: bench}}\nspec: {{url: "{url}"}}\n'
    ]
    for i in range(n):
        docs.append(
            "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
            f"metadata: {{name: db-{i}, namespace: team-{i % 10}}}\n"
            "spec:\n  clusterServiceClassExternalName: programmable-db\n"
            "  clusterServicePlanExternalName: sync\n"
        )
        docs.append(
            "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceBinding\n"
            f"metadata: {{name: db-{i}-binding, namespace: team-{i % 10}}}\n"
            f"spec:\n  instanceRef: {{name: db-{i}}}\n"
        )
    (services / "all.yaml").write_text("---\n".join(docs))
    return services


def run(args: list[str], env: dict[str, str], ok: tuple[int, ...] = (0, 2)) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "catalogctl", "--no-color", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode not in ok:
        sys.exit(f"{args[0]} exited {done.returncode}: {done.stdout[-2000:]} {done.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.020)
    parser.add_argument("--parallelism", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, SlowBroker() as broker:
        work = Path(tmp)
        services = write_desired(work, broker.url, args.instances)
        common = ["-f", str(services), "--state", str(work / "state")]
        common += ["--cluster-dir", str(work / "cluster")]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        run(["apply", *common, "--auto-approve", "--parallelism", "32"], env, ok=(0,))
        broker.latency = args.latency
        parallel = ["--parallelism", str(args.parallelism)]
        timings: dict[str, list[float]] = {"start-up": [], "plan": [], "drift": []}
        peaks: dict[str, int] = {}
        average: dict[str, float] = {}
        for _ in range(args.runs):
            timings["start-up"].append(run(["plan", *common, "--no-refresh"], env))
            for name, argv in (("plan", ["plan", *common]), ("drift", ["drift", *common])):
                broker.peak_in_flight = 0
                seen = len(broker.requests)
                timings[name].append(run([*argv, *parallel], env))
                peaks[name] = broker.peak_in_flight
                gets = [r.received_at for r in broker.requests[seen:] if r.method == "GET"]
                # Mean requests in flight from the first GET to the last answer.
                window = max(gets) + args.latency - min(gets)
                average[name] = len(gets) * args.latency / window
        medians = {name: statistics.median(t) for name, t in timings.items()}
        reads = 2 * args.instances
        bound = medians["start-up"] + reads * args.latency / args.parallelism
        print(
            f"{args.instances} instances + {args.instances} bindings, {args.latency * 1000:.0f} ms "
            f"latency, parallelism {args.parallelism}, {os.cpu_count()} CPUs"
        )
        print(f"start-up (plan --no-refresh): {medians['start-up']:.2f} s; bound {bound:.2f} s")
        for name in ("plan", "drift"):
            print(
                f"{name}: median {medians[name]:.2f} s = {medians[name] / bound:.2f}x bound; "
                f"{average[name]:.1f} requests in flight on average, peak {peaks[name]}"
            )


if __name__ == "__main__":
    main()
