"""Invariant 3: after a SIGKILL at any step boundary, the next apply converges.

``catalogctl apply`` runs as a real process against a real broker on
127.0.0.1.  For every journal record k of a full run, the process stops
writing its journal once record k is durable and is SIGKILLed as soon as it
waits on its next write, or on the broker's answer to a request it sent after
record k: the broker does that request's work and holds the answer, so the
kill lands while the broker has acted but catalogctl has not heard (the case
that orphans resources in careless tools).  Then a second apply must finish,
leaving exactly one instance and one binding at the broker, known to state by
the same ids, the Secret written, and a clean plan.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.programmable import ProgrammableBroker, RecordedRequest
from tests.cli import CliResult, run_cli
from tests.processes import CatalogctlProcess

REPO = Path(__file__).resolve().parents[2]
JOURNAL = "catalogctl.journal.jsonl"


class HoldingBroker(ProgrammableBroker):
    """Does the work of every request at once; holds the answer while ``hold()`` is true.

    A run under test makes ``hold()`` true once it has stopped at its kill point:
    the request it sends then is acted on and never answered (until the broker
    stops), and ``held`` tells the test the run now waits on the broker.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hold: Callable[[], bool] = lambda: False
        self.held = threading.Event()

    def default_reply(self, req: RecordedRequest) -> Any:
        reply = self.act(req)
        if self.hold():
            self.held.set()
            self.wait_stop(60)
        return reply

    def act(self, req: RecordedRequest) -> Any:
        """The request's work and its answer (the in-memory broker's)."""
        return super().default_reply(req)


def write_inputs(directory: Path, url: str, plan: str) -> Path:
    services = directory / "services"
    services.mkdir()
    (services / "db.yaml").write_text(inputs_yaml(url, plan))
    return services


def inputs_yaml(url: str, plan: str, namespace: str = "apps") -> str:
    """A broker, instance ``db`` (its plan ``plan``) and binding ``db-binding`` (last)."""
    ns = namespace
    return f"""
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata: {{name: test}}
spec: {{url: "{url}"}}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {{name: db, namespace: {ns}}}
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: {plan}
  parameters: {{size: 3}}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {{name: db-binding, namespace: {ns}}}
spec:
  instanceRef: {{name: db}}
"""


def run_args(tmp: Path, services: Path) -> list[str]:
    return [
        "apply",
        "-f",
        str(services),
        "--auto-approve",
        "--state",
        str(tmp / "state"),
        "--cluster-dir",
        str(tmp / "cluster"),
    ]


def kill_at(tmp: Path, services: Path, k: int, broker: HoldingBroker, *extra: str) -> bool:
    """Run apply (with ``extra`` flags) and SIGKILL it once k records are durable and it
    waits; False if it finished first (see :func:`kill_run_at`)."""
    return kill_run_at([*run_args(tmp, services), *extra], k, broker)


def kill_run_at(args: list[str], k: int, broker: HoldingBroker) -> bool:
    """Run catalogctl with ``args`` in a process of its own and SIGKILL it once k journal
    records are durable and it waits, on the journal or on ``broker``; False if it finished
    first."""
    proc = CatalogctlProcess(["--no-color", *args], cwd=REPO, stop_at_record=k)
    broker.held.clear()
    broker.hold = proc.stopped.is_set
    try:
        deadline = time.monotonic() + 60
        while not (proc.blocked.wait(0.005) or broker.held.is_set()):
            if proc.poll() is not None:
                break
            assert time.monotonic() < deadline, f"the run neither finished nor stopped at {k}"
        proc.kill()
    finally:
        broker.hold = lambda: False
    _, err = proc.communicate(timeout=60)
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0, err
    return False


def release_dead_lock(state: Path) -> None:
    """A killed run leaves its lock; release it as the error message says to."""
    info = state / "catalogctl.lock.info"
    if not info.exists():
        return
    lock_id = json.loads(info.read_text())["id"]
    done = run_cli("force-unlock", lock_id, "--force", "--state", str(state))
    assert done.exit_code == 0, done.stderr


def converge(tmp: Path, services: Path) -> dict[str, Any]:
    """Apply again, in this process (the broker answers it at once)."""
    release_dead_lock(tmp / "state")
    done = run_cli("--no-color", *run_args(tmp, services))
    assert done.exit_code == 0, done.stdout + done.stderr
    state = json.loads((tmp / "state" / "catalogctl.state.json").read_text())
    return dict(state["resources"])


def plan_again(run_dir: Path, services: Path) -> CliResult:
    """``plan --detailed-exitcode`` on a run's state and cluster directory (0: nothing to do)."""
    return run_cli(
        "--no-color",
        "plan",
        "-f",
        str(services),
        "--detailed-exitcode",
        "--state",
        str(run_dir / "state"),
        "--cluster-dir",
        str(run_dir / "cluster"),
    )


@pytest.mark.parametrize(("plan", "steps"), [("sync", 5), ("async", 6)])
def test_sigkill_at_every_step_boundary_converges(tmp_path: Path, plan: str, steps: int) -> None:
    """Kill after record 1, 2, ... until a run outlives its kill point.

    A full run records: provision write-ahead, (async: operation string),
    instance ready, bind write-ahead, binding ready, Secret written.
    """
    killed = 0
    for k in range(1, steps + 3):
        run_dir = tmp_path / f"k{k}"
        run_dir.mkdir()
        with HoldingBroker() as broker:
            services = write_inputs(run_dir, broker.url, plan)
            landed = kill_at(run_dir, services, k, broker)
            killed += landed
            resources = converge(run_dir, services)

            instance = resources["ServiceInstance/apps/db"]
            binding = resources["ServiceBinding/apps/db-binding"]
            assert instance["status"] == "ready" and binding["status"] == "ready", (k, resources)
            # No orphan, no duplicate: the broker holds exactly what state knows.
            assert set(broker.instances) == {instance["instance_id"]}, k
            assert set(broker.bindings) == {(instance["instance_id"], binding["binding_id"])}, k
            assert broker.instances[instance["instance_id"]].parameters == {"size": 3}
            secret = run_dir / "cluster" / "apps" / "secret" / "db-binding.yaml"
            assert secret.exists(), k
            assert "Secret/apps/db-binding" in resources

            again = plan_again(run_dir, services)
            assert again.exit_code == 0, (k, again.stdout + again.stderr)
            assert "No changes." in again.stdout
        if not landed:
            break
    assert killed >= steps, f"expected a kill after each of the {steps} steps, got {killed}"


def test_kill_during_async_polling_resumes_the_same_operation(tmp_path: Path) -> None:
    with HoldingBroker(async_polls=4) as broker:
        services = write_inputs(tmp_path, broker.url, "async")
        # Record 2 is the operation string: the run is polling when it dies.
        assert kill_at(tmp_path, services, 2, broker)
        state = json.loads(run_cli("show", "--json", "--state", str(tmp_path / "state")).stdout)
        pending = state["resources"]["ServiceInstance/apps/db"]
        assert pending["status"] == "creating"
        assert pending["operation"]["operation"], "the operation string was recorded before polling"
        puts_before = len(broker.requests_to("PUT", "/v2/service_instances/[^/]+$"))
        resources = converge(tmp_path, services)
        puts_after = len(broker.requests_to("PUT", "/v2/service_instances/[^/]+$"))
        # Resumed by polling the recorded operation, not by provisioning again.
        assert puts_after == puts_before == 1
        assert set(broker.instances) == {resources["ServiceInstance/apps/db"]["instance_id"]}
        assert os.path.exists(tmp_path / "cluster" / "apps" / "secret" / "db-binding.yaml")
