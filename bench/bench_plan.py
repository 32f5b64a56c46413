"""``catalogctl plan --no-refresh`` over ~10,000 resources in state with no changes.

Builds the state by really applying N instances + N bindings (+ N binding
Secrets) against a local sync broker, then times ``plan --no-refresh`` as a
separate process (median of several runs) and reports its CPU time and peak
RSS.  Target: under 2.5 s and 300 MB, with the collector as configured.

Measured on 2 shared, loaded CPUs, main (25be6d9) and this code interleaved
over the same state, 7 runs each: CPU median 3.08 s -> 2.23 s (0.72x), wall
median 3.98 s -> 2.83 s (0.71x; 2.17 s median, 2.08 s min in a quieter run),
peak RSS 235 -> 184 MiB.  About a quarter of what is left is the cyclic
collector walking the ~270,000 containers a 10,000-resource plan keeps
(models, state records, graph, changes); a state that has not changed is no
longer parsed a second time under the lock, and no-op changes build no
private payloads.

catalogctl runs as an installed copy does, from byte-compiled modules (pip
compiles them at install time).  A checkout run with PYTHONDONTWRITEBYTECODE
set would instead recompile all of catalogctl's modules on every run, so the
runs here keep their bytecode in a cache of their own under the work directory.

    python bench/bench_plan.py [--instances 3334] [--runs 3]
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.brokers.programmable import ProgrammableBroker  # noqa: E402


def write_desired(directory: Path, url: str, n: int) -> Path:
    services = directory / "services"
    services.mkdir()
    (services / "broker.yaml").write_text(
        "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ClusterServiceBroker\n"
        f'metadata: {{name: bench}}\nspec: {{url: "{url}"}}\n'
    )
    per_file = 500
    for start in range(0, n, per_file):
        docs = []
        for i in range(start, min(n, start + per_file)):
            ns = f"team-{i % 20}"
            docs.append(
                "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
                f"metadata: {{name: db-{i}, namespace: {ns}}}\n"
                "spec:\n  clusterServiceClassExternalName: programmable-db\n"
                "  clusterServicePlanExternalName: sync\n"
                f"  parameters: {{size: {i % 7}, region: eu-{i % 3}, tags: [a, b]}}\n"
            )
            docs.append(
                "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceBinding\n"
                f"metadata: {{name: db-{i}-binding, namespace: {ns}}}\n"
                f"spec:\n  instanceRef: {{name: db-{i}}}\n"
            )
        (services / f"batch-{start // per_file:03d}.yaml").write_text("---\n".join(docs))
    return services


def catalogctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "catalogctl", "--no-color", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--instances", type=int, default=3334)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="build in DIR and keep it (for profiling)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, ProgrammableBroker() as broker:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        services = write_desired(work, broker.url, args.instances)
        common = ["--state", str(work / "state"), "--cluster-dir", str(work / "cluster")]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")  # written by the apply below
        t0 = time.perf_counter()
        done = subprocess.run(
            catalogctl(
                "apply", "-f", str(services), "--auto-approve", "--parallelism", "32", *common
            ),
            cwd=REPO,
            capture_output=True,
            text=True,
            env=env,
        )
        setup = time.perf_counter() - t0
        if done.returncode != 0:
            sys.exit(done.stdout[-2000:] + done.stderr[-2000:])
        state_file = work / "state" / "catalogctl.state.json"
        import json

        count = len(json.loads(state_file.read_text())["resources"])
        print(
            f"state: {count} resources ({state_file.stat().st_size / 1e6:.1f} MB), "
            f"built by apply in {setup:.1f} s"
        )

        times: list[float] = []
        cpu: list[float] = []
        peak = 0
        plan = catalogctl("plan", "-f", str(services), "--no-refresh", "--detailed-exitcode")
        for _ in range(args.runs):
            wall, used, rss = timed_plan([*plan, *common], env)
            times.append(wall)
            cpu.append(used)
            peak = max(peak, rss)
        print(
            f"plan --no-refresh, no changes: median {statistics.median(times):.2f} s over "
            f"{args.runs} runs (min {min(times):.2f}, max {max(times):.2f}); CPU median "
            f"{statistics.median(cpu):.2f} s (min {min(cpu):.2f}); peak RSS {peak / 1024:.0f} MiB "
            f"(target < 2.5 s, < 300 MB) on {os.cpu_count()} CPUs"
        )


def timed_plan(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(wall s, CPU s, peak RSS KiB) of one run of ``command``, which must exit 0.

    CPU time and peak RSS are that process's own (wait4), so neither the apply
    that built the state nor other load on a shared machine counts.
    """
    t0 = time.perf_counter()
    with subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stderr is not None
        errors = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"plan exited {proc.returncode}: {errors[-2000:].decode(errors='replace')}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


if __name__ == "__main__":
    main()
