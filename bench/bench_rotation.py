"""Rotating N bindings: create-before-destroy against destroy-first, at a broker latency.

Applies N instances, N bindings and N PodMappings (one Deployment each, in a
cluster directory) against the in-memory broker answering at once, then makes
every broker answer take ``--latency`` seconds and rotates every binding
(``apply --replace`` of each) twice, in the same run: once create-before-destroy
(the default) and once with ``spec.rotation: destroy-first``.  Reports each
rotation's wall time and their ratio, and counts the unbinds the broker saw
while the binding's Secret still held that binding's credentials (the broker
reads the Secret file when the DELETE arrives): each is a moment a workload
reading the Secret would be locked out.

Both orders send the same requests (N binds, N unbinds) along a critical path
of the same length (bind, write, map, unbind), so the goal is a ratio near 1.0
with zero lockouts for create-before-destroy and N for destroy-first.  Measured
on a shared 2-core machine (200 bindings, 200 ms, parallelism 16; three runs):
create-before-destroy 5.48-6.12 s (1.10-1.22x the 5.00 s bound), destroy-first
5.49-5.57 s; same-run ratios 1.05, 0.99, 1.10; lockouts 0 against 200.

    python bench/bench_rotation.py [--bindings 200] [--latency 0.2] [--parallelism 16]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.brokers.programmable import ProgrammableBroker, RecordedRequest  # noqa: E402


class LockoutCountingBroker(ProgrammableBroker):
    """The in-memory broker with a latency, counting unbinds of credentials still in use."""

    latency = 0.0

    def __init__(self) -> None:
        super().__init__()
        self.lockouts = 0
        #: instance id -> the Secret file its binding writes (set once the first apply is done)
        self.secrets: dict[str, Path] = {}

    def default_reply(self, req: RecordedRequest) -> Any:
        if self.latency:
            time.sleep(self.latency)
        parts = req.decoded_path.split("/")
        if req.method == "DELETE" and "service_bindings" in parts:
            secret = self.secrets.get(parts[3])
            data = (yaml.safe_load(secret.read_text()) or {}).get("data") if secret else None
            user = base64.b64decode((data or {}).get("username", "")).decode()
            if user == f"u-{parts[5]}":
                with self._lock:
                    self.lockouts += 1
        return super().default_reply(req)


def write_desired(directory: Path, url: str, n: int, rotation: str) -> Path:
    services = directory / "services"
    services.mkdir(exist_ok=True)
    docs = [
        "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ClusterServiceBroker\n"
        f'metadata: {{name: bench}}\nspec: {{url: "{url}"}}\n'
    ]
    for i in range(n):
        ns = f"team-{i % 10}"
        docs.append(
            "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
            f"metadata: {{name: db-{i}, namespace: {ns}}}\n"
            "spec:\n  clusterServiceClassExternalName: programmable-db\n"
            "  clusterServicePlanExternalName: sync\n"
        )
        docs.append(
            "apiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceBinding\n"
            f"metadata: {{name: db-{i}-binding, namespace: {ns}}}\n"
            f"spec:\n  instanceRef: {{name: db-{i}}}\n  rotation: {rotation}\n"
        )
        docs.append(
            "apiVersion: catalogctl.io/v1alpha1\nkind: PodMapping\n"
            f"metadata: {{name: app-{i}, namespace: {ns}}}\n"
            f"spec:\n  bindingRef: {{name: db-{i}-binding}}\n"
            f"  target: {{kind: Deployment, name: app-{i}}}\n"
            "  env:\n    - {name: DB_USER, key: username}\n"
        )
    (services / "all.yaml").write_text("---\n".join(docs))
    return services


def write_deployments(cluster: Path, n: int) -> None:
    for i in range(n):
        ns = f"team-{i % 10}"
        folder = cluster / ns / "deployment"
        folder.mkdir(parents=True, exist_ok=True)
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"app-{i}", "namespace": ns},
            "spec": {
                "selector": {"matchLabels": {"app": f"app-{i}"}},
                "template": {
                    "metadata": {"labels": {"app": f"app-{i}"}},
                    "spec": {"containers": [{"name": "app", "image": "example/app:1"}]},
                },
            },
        }
        (folder / f"app-{i}.yaml").write_text(yaml.safe_dump(deployment))


def apply(work: Path, services: Path, parallelism: int, replace: frozenset[str]) -> float:
    """catalogctl apply in-process; the seconds from confirmation to the end of the walk."""
    from catalogctl.engine.brokers import BrokerSettings
    from catalogctl.engine.cluster import open_cluster
    from catalogctl.engine.inputs import load_inputs
    from catalogctl.engine.session import Session
    from catalogctl.plan.inputs import DiffOptions
    from catalogctl.plan.model import Plan
    from catalogctl.state.local import LocalBackend

    inputs = load_inputs([str(services)], "default", False)
    session = Session(
        backend=LocalBackend(work / "state"),
        cluster=open_cluster(cluster_dir=str(work / "cluster")),
        settings=BrokerSettings(catalog_cache_dir=work / "catalog-cache"),
        parallelism=parallelism,
        emit=lambda line: None,
    )
    started: list[float] = []

    def confirm(plan: Plan) -> bool:
        started.append(time.perf_counter())
        return True

    session.apply(inputs=inputs, options=DiffOptions(replace=replace), confirm=confirm)
    return time.perf_counter() - started[0]


def rotate(n: int, latency: float, parallelism: int, rotation: str) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-rotation-") as tmp, LockoutCountingBroker() as b:
        work = Path(tmp)
        services = write_desired(work, b.url, n, rotation)
        write_deployments(work / "cluster", n)
        apply(work, services, parallelism, frozenset())
        state = json.loads((work / "state" / "catalogctl.state.json").read_text())
        for address, res in state["resources"].items():
            if res["kind"] == "ServiceBinding":
                _, ns, name = address.split("/")
                b.secrets[res["instance_id"]] = work / "cluster" / ns / "secret" / f"{name}.yaml"
        b.latency = latency
        bindings = frozenset(f"ServiceBinding/team-{i % 10}/db-{i}-binding" for i in range(n))
        seconds = apply(work, services, parallelism, bindings)
        assert len(b.bindings) == n, "every rotation ends with one binding per instance"
        return seconds, b.lockouts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bindings", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    n, latency, par = args.bindings, args.latency, args.parallelism
    cbd, cbd_lockouts = rotate(n, latency, par, "create-before-destroy")
    first, first_lockouts = rotate(n, latency, par, "destroy-first")
    bound = 2 * n * latency / par
    print(f"rotating {n} bindings at {latency * 1000:.0f} ms broker latency, parallelism {par}")
    print(f"  lower bound (2N requests / parallelism * latency): {bound:.2f} s")
    print(f"  create-before-destroy: {cbd:.2f} s ({cbd / bound:.2f}x bound), "
          f"{cbd_lockouts} unbinds of credentials still in a Secret")
    print(f"  destroy-first:         {first:.2f} s ({first / bound:.2f}x bound), "
          f"{first_lockouts} unbinds of credentials still in a Secret")
    print(f"  ratio create-before-destroy / destroy-first: {cbd / first:.2f}")


if __name__ == "__main__":
    main()
