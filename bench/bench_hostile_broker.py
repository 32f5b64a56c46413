"""Peak memory of ``catalogctl plan`` against a broker whose catalog answer never ends.

Starts ``tests/brokers/hostile.py`` (an endless chunked body, or a 2 GiB
``Content-Length`` that is then streamed) in its own process, runs ``catalogctl
plan`` against it as a user would (a separate process, default flags), and
reports the plan's exit code, how long it took to fail, its error line and its
peak RSS (``ru_maxrss`` of the child).  Goal: an error within the broker
timeout and a peak RSS under 300 MB whatever the broker sends.

    python bench/bench_hostile_broker.py [--mode endless|huge|deep]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["endless", "huge", "deep"], default="endless")
    args = parser.parse_args()
    broker = subprocess.Popen(
        [sys.executable, "-m", "tests.brokers.hostile", args.mode],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert broker.stdout is not None
    url = broker.stdout.readline().split()[-1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            services = Path(tmp) / "services.yaml"
            services.write_text(
                "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ClusterServiceBroker\n"
                f"metadata: {{name: hostile}}\nspec: {{url: '{url}'}}\n---\n"
                "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
                "metadata: {name: db, namespace: apps}\n"
                "spec: {clusterServiceClassExternalName: x, clusterServicePlanExternalName: y}\n"
            )
            env = dict(os.environ, PYTHONPATH=str(REPO))
            started = time.perf_counter()
            result = subprocess.run(
                [sys.executable, "-m", "catalogctl", "--no-color", "plan", "-f", str(services),
                 "--state", str(Path(tmp) / "state"), "--cluster-dir", str(Path(tmp) / "c")],
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )  # fmt: skip
            elapsed = time.perf_counter() - started
            # Only the plan has been waited for yet, so this is its peak alone.
            peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    finally:
        broker.terminate()
        broker.wait()
    error = next((line for line in result.stderr.splitlines() if line.strip()), "")
    print(
        f"hostile broker mode {args.mode}: plan exit code {result.returncode} after {elapsed:.2f} s"
    )
    print(f"error: {error}")
    print(f"peak RSS of the plan process: {peak_mb:.0f} MB (goal < 300 MB)")


if __name__ == "__main__":
    main()
