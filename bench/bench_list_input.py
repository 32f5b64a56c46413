"""Benchmark reading a ``kubectl get -o yaml`` export (``kind: List``) against the same
resources written as separate documents.

A list item's position is its path inside the file's one document; like a
separate document's, it is looked up only when a problem is reported (a
second parse of the text).  Looking each item's start line up while unpacking
made reading 2,000 resources 1.9-2.8x slower than separate documents (same
runs); looked up lazily the ratio is 1.3x (about 190 ms more, from composing
one large document instead of many small ones).

Times ``load_inputs`` (YAML, models, checks, graph) in process, median of runs,
for both layouts and prints their ratio.  Usage::

    python bench/bench_list_input.py [--resources 2000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from catalogctl.engine.inputs import load_inputs


def _objects(count: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(count // 2):
        ns = f"team-{i % 20}"
        out.append(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceInstance",
                "metadata": {"name": f"db-{i}", "namespace": ns},
                "spec": {
                    "clusterServiceClassExternalName": "postgres",
                    "clusterServicePlanExternalName": "small",
                    "externalID": f"00000000-0000-4000-8000-{i:012d}",
                    "parameters": {"storageGB": 10 + i % 50, "backup": {"enabled": True}},
                },
                "status": {"provisionStatus": "Provisioned", "conditions": [{"type": "Ready"}]},
            }
        )
        out.append(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceBinding",
                "metadata": {"name": f"db-{i}-binding", "namespace": ns},
                "spec": {"instanceRef": {"name": f"db-{i}"}, "secretName": f"db-{i}-creds"},
            }
        )
    return out


def _time(path: Path, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        inputs = load_inputs([str(path)])
        samples.append(time.perf_counter() - started)
        assert len(inputs.desired) > 0
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resources", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    objects = _objects(args.resources)
    with tempfile.TemporaryDirectory() as tmp:
        separate = Path(tmp) / "separate.yaml"
        separate.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        listed = Path(tmp) / "list.yaml"
        listed.write_text(
            yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objects}, sort_keys=False)
        )
        plain = _time(separate, args.runs)
        as_list = _time(listed, args.runs)
    print(
        f"{len(objects)} resources: separate documents {plain * 1000:.0f} ms, "
        f"kind: List {as_list * 1000:.0f} ms, ratio {as_list / plain:.2f}"
    )


if __name__ == "__main__":
    main()
