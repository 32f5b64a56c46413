"""A rotation killed at any journal step converges, and the workload ends on the Secret's revision.

``catalogctl apply --replace ServiceBinding/apps/db-binding`` runs as a real process against a
real broker on 127.0.0.1 and a cluster directory holding the Deployment a PodMapping targets.
For every journal record k of the rotation, the process is SIGKILLed once record k is durable;
then a plain ``apply`` must leave exactly one binding at the broker (the one state knows), the
Secret holding that binding's credentials, the Deployment's pod template annotated with the
Secret's revision from state, and a clean plan.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.engine.test_crash_recovery import (
    HoldingBroker,
    converge,
    kill_at,
    plan_again,
    write_inputs,
)

BINDING = "ServiceBinding/apps/db-binding"

MAPPING = """
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {name: web-db, namespace: apps}
spec:
  bindingRef: {name: db-binding}
  target: {kind: Deployment, name: web}
  env:
    - {name: DB_USER, key: username}
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "apps"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1"}]},
        },
    },
}


def _setup(run_dir: Path, url: str, plan: str = "sync") -> Path:
    services = write_inputs(run_dir, url, plan)
    (services / "mapping.yaml").write_text(MAPPING)
    workloads = run_dir / "cluster" / "apps" / "deployment"
    workloads.mkdir(parents=True)
    (workloads / "web.yaml").write_text(yaml.safe_dump(DEPLOYMENT))
    return services


def _template(run_dir: Path) -> dict[str, Any]:
    obj = yaml.safe_load((run_dir / "cluster" / "apps" / "deployment" / "web.yaml").read_text())
    template: dict[str, Any] = obj["spec"]["template"]
    return template


@pytest.mark.parametrize(("plan", "steps"), [("sync", 6), ("async", 8)])
def test_sigkill_at_every_step_of_a_rotation_converges(
    tmp_path: Path, plan: str, steps: int
) -> None:
    killed = 0
    for k in range(1, steps + 3):
        run_dir = tmp_path / f"k{k}"
        run_dir.mkdir()
        with HoldingBroker() as broker:
            services = _setup(run_dir, broker.url, plan)
            first = converge(run_dir, services)
            (original,) = broker.bindings
            assert _template(run_dir)["metadata"]["annotations"] == {
                "catalogctl.io/secret-revision": "db-binding=1"
            }
            landed = kill_at(run_dir, services, k, broker, "--replace", BINDING)
            killed += landed
            resources = converge(run_dir, services)

            binding = resources[BINDING]
            assert binding["status"] == "ready", (k, resources)
            assert binding["retiring"] == [], (k, binding)
            instance_id = first["ServiceInstance/apps/db"]["instance_id"]
            # Exactly one binding at the broker, the one state knows.
            assert set(broker.bindings) == {(instance_id, binding["binding_id"])}, k
            secret = yaml.safe_load(
                (run_dir / "cluster" / "apps" / "secret" / "db-binding.yaml").read_text()
            )
            user = base64.b64decode(secret["data"]["username"]).decode()
            assert user == f"u-{binding['binding_id']}", k
            # The pod template names the revision of the Secret it now reads.
            revision = resources["Secret/apps/db-binding"]["attributes"]["revision"]
            assert revision == (1 if binding["binding_id"] == original[1] else 2), k
            assert _template(run_dir)["metadata"]["annotations"] == {
                "catalogctl.io/secret-revision": f"db-binding={revision}"
            }, k
            assert resources["PodMapping/apps/web-db"]["attributes"]["secret_revision"] == revision

            again = plan_again(run_dir, services)
            assert again.exit_code == 0, (k, again.stdout + again.stderr)
        if not landed:
            break
    # The rotation records: bind write-ahead (with the retiring id), (async: the bind's
    # operation), binding ready, Secret written, mapping applied, unbind started, (async: the
    # unbind's operation), old binding forgotten.
    assert killed >= steps, f"expected a kill at each step of the rotation, got {killed}"
