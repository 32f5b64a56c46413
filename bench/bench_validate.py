"""Benchmark ``catalogctl validate`` on 1,000 generated resources.

Generates brokers, instances, bindings and PodMappings (a realistic mix, spread
over several files and namespaces) into a temporary directory, then times:

* end to end: ``python -m catalogctl validate -f DIR`` as a subprocess
  (interpreter start-up, imports, YAML, models, checks, graph), median of runs;
* in process: ``load_inputs(DIR)`` (the same work without start-up), median.

Target: under 1 s end to end.  Usage::

    python bench/bench_validate.py [--resources 1000] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.0

BROKER = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: {kind}
metadata:
  name: broker-{i}
{ns}spec:
  url: https://broker-{i}.brokers.svc:8443
  relistBehavior: Duration
  relistDuration: 15m
  authInfo:
    basic:
      secretRef:
{secret_ns}        name: broker-{i}-auth
  catalogRestrictions:
    serviceClass:
      - spec.externalName in (postgres, redis, rabbitmq)
"""

INSTANCE = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db-{i}
  namespace: team-{ns}
  labels:
    app: app-{i}
spec:
  clusterServiceClassExternalName: broker-{b}/postgres
  clusterServicePlanExternalName: small
  parameters:
    storageGB: {size}
    backup: {{enabled: true, retentionDays: 7}}
  parametersFrom:
    - secretKeyRef:
        name: db-{i}-params
        key: parameters
"""

BINDING = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-{i}
  namespace: team-{ns}
spec:
  instanceRef:
    name: db-{i}
  secretName: db-{i}-credentials
  secretTransforms:
    - renameKey: {{from: uri, to: DATABASE_URL}}
    - addKey: {{key: SSLMODE, stringValue: require}}
    - removeKey: {{key: password_hint}}
"""

MAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: app-{i}-db
  namespace: team-{ns}
spec:
  bindingRef:
    name: db-{i}
  target:
    kind: Deployment
    name: app-{i}
  env:
    - name: DATABASE_URL
      key: DATABASE_URL
    - name: SSLMODE
      key: SSLMODE
  volume:
    mountPath: /var/run/secrets/db
    items:
      - key: ca.crt
        path: ca.crt
"""


def generate(directory: Path, resources: int) -> dict[str, int]:
    """Write ``resources`` resources into ``directory`` (20 files); return counts per kind."""
    brokers = max(2, resources // 100)
    per_chain = (resources - brokers) // 3
    brokers = resources - 3 * per_chain
    docs: list[str] = []
    cluster_brokers = []
    for i in range(brokers):
        if i % 2 == 0:
            cluster_brokers.append(i)
            docs.append(BROKER.format(kind="ClusterServiceBroker", i=i, ns="",
                                      secret_ns="        namespace: brokers\n"))
        else:
            docs.append(BROKER.format(kind="ServiceBroker", i=i, ns="  namespace: brokers\n",
                                      secret_ns=""))
    for i in range(per_chain):
        ns = i % 10
        b = cluster_brokers[i % len(cluster_brokers)]
        docs.append(INSTANCE.format(i=i, ns=ns, b=b, size=10 + i % 90))
        docs.append(BINDING.format(i=i, ns=ns))
        docs.append(MAPPING.format(i=i, ns=ns))
    files = 20
    for f in range(files):
        chunk = docs[f::files]
        sub = directory / f"team-{f % 4}"
        sub.mkdir(exist_ok=True)
        (sub / f"resources-{f:02d}.yaml").write_text("---\n".join(chunk))
    return {"brokers": brokers, "instances": per_chain, "bindings": per_chain,
            "mappings": per_chain}


def time_subprocess(directory: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "catalogctl", "validate", "-f", str(directory)],
            capture_output=True, text=True,
        )
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"validate failed:\n{proc.stderr[:2000]}")
    return times


def time_in_process(directory: Path, runs: int) -> list[float]:
    from catalogctl.engine.inputs import load_inputs

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        inputs = load_inputs([str(directory)])
        times.append(time.perf_counter() - start)
        assert len(inputs.desired) > 0
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile one in-process run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="catalogctl-bench-") as tmp:
        directory = Path(tmp)
        counts = generate(directory, args.resources)
        total = sum(counts.values())
        size = sum(p.stat().st_size for p in directory.rglob("*.yaml"))
        print(f"generated {total} resources ({', '.join(f'{n} {k}' for k, n in counts.items())}),"
              f" {size / 1024:.0f} KiB of YAML in 20 files")
        # Warm the file cache and the bytecode cache before timing.
        time_subprocess(directory, 1)
        sub = time_subprocess(directory, args.runs)
        inproc = time_in_process(directory, args.runs)
        med_sub, med_in = statistics.median(sub), statistics.median(inproc)
        print(f"validate end to end (subprocess): median {med_sub:.3f} s  "
              f"(min {min(sub):.3f}, max {max(sub):.3f}, {args.runs} runs)")
        print(f"validate in process (load_inputs): median {med_in:.3f} s  "
              f"(min {min(inproc):.3f}, max {max(inproc):.3f}, {args.runs} runs)")
        verdict = "OK" if med_sub < TARGET_SECONDS else "MISSED"
        print(f"target end to end < {TARGET_SECONDS:.1f} s: {verdict}")
        if args.profile:
            from catalogctl.engine.inputs import load_inputs

            profiler = cProfile.Profile()
            profiler.enable()
            load_inputs([str(directory)])
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return 0 if med_sub < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
