"""Invariant 3: after a SIGKILL at any step boundary, the next apply converges.

``catalogctl apply`` runs as a real process against a real broker on
127.0.0.1.  The broker does each mutating request's work and then holds the
answer back for a moment, so a kill lands while the broker has acted but
catalogctl has not heard (the case that orphans resources in careless
tools).  For every journal record k of a full run, the process is killed as
soon as record k is durable; then a second apply must finish, leaving
exactly one instance and one binding at the broker, known to state by the
same ids, the Secret written, and a clean plan.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.programmable import ProgrammableBroker, RecordedRequest
from tests.cli import CliResult, run_cli
from tests.conftest import POLL_INTERVAL

REPO = Path(__file__).resolve().parents[2]
JOURNAL = "catalogctl.journal.jsonl"


class SlowAnswerBroker(ProgrammableBroker):
    """Does the work of a mutating request at once, then delays the answer.

    The delay outlasts the killed run's grace before SIGKILL (0.15 s), so the
    broker has acted and catalogctl has not heard; the converging run that
    follows gets its answers at once (``answer_delay = 0``).
    """

    answer_delay = 0.3

    def default_reply(self, req: RecordedRequest) -> Any:
        reply = super().default_reply(req)
        if req.method in ("PUT", "PATCH", "DELETE"):
            time.sleep(self.answer_delay)
        return reply


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


# Runs catalogctl with a journal that SIGKILLs the process at record k.  Polling
# the journal from outside races the run's last steps (after the final record
# the run compacts and exits within milliseconds), so the kill is armed from
# inside: once k records are durable, every further journal write or commit
# blocks and the process dies shortly after, with exactly k records on disk.
# The short grace lets a request sent after a write-ahead record reach the
# broker, which acts on it and holds its answer back past the kill.
KILL_AT_RECORD = f"""
import functools, os, signal, sys, threading, time
from catalogctl.engine import session
from catalogctl.state import journal

session.PollScheduler = functools.partial(
    session.PollScheduler, initial_interval={POLL_INTERVAL}, min_interval={POLL_INTERVAL}
)

limit = int(os.environ["CATALOGCTL_TEST_KILL_AT"])
written = 0
armed = threading.Event()

def die_later():
    armed.set()
    threading.Timer(0.15, os.kill, (os.getpid(), signal.SIGKILL)).start()

def hang_if_armed():
    if armed.is_set():
        while True:
            time.sleep(3600)

append = journal.BaseJournal._append_checked
commit = journal.BaseJournal.commit

def append_checked(self, line):
    global written
    hang_if_armed()
    append(self, line)
    written += line.count(b"\\n")
    if written >= limit:
        die_later()

def commit_checked(self, **kwargs):
    hang_if_armed()
    return commit(self, **kwargs)

journal.BaseJournal._append_checked = append_checked
journal.BaseJournal.commit = commit_checked
from catalogctl.cli.main import main
sys.argv = ["catalogctl", *sys.argv[1:]]
main()
"""


def kill_at(tmp: Path, services: Path, k: int, *extra: str) -> bool:
    """Run apply (with ``extra`` flags), SIGKILLed once k records are durable; False if it
    finished first."""
    return kill_run_at([*run_args(tmp, services), *extra], k)


def kill_run_at(args: list[str], k: int) -> bool:
    """Run catalogctl with ``args``, SIGKILLed once k journal records are durable; False if
    it finished first."""
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_RECORD, "--no-color", *args],
        cwd=REPO,
        env={**os.environ, "CATALOGCTL_TEST_KILL_AT": str(k)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    if proc.returncode == -signal.SIGKILL:
        return True
    assert proc.returncode == 0, proc.stderr
    return False


def release_dead_lock(state: Path) -> None:
    """A killed run leaves its lock; release it as the error message says to."""
    info = state / "catalogctl.lock.info"
    if not info.exists():
        return
    lock_id = json.loads(info.read_text())["id"]
    done = run_cli("force-unlock", lock_id, "--force", "--state", str(state))
    assert done.exit_code == 0, done.stderr


def converge(tmp: Path, services: Path, broker: SlowAnswerBroker) -> dict[str, Any]:
    """Apply again, in this process, with the broker answering at once."""
    release_dead_lock(tmp / "state")
    delay = broker.answer_delay
    broker.answer_delay = 0
    try:
        done = run_cli("--no-color", *run_args(tmp, services))
    finally:
        broker.answer_delay = delay  # a later kill_at needs the held-back answers again
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
        with SlowAnswerBroker() as broker:
            services = write_inputs(run_dir, broker.url, plan)
            landed = kill_at(run_dir, services, k)
            killed += landed
            resources = converge(run_dir, services, broker)

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
    with SlowAnswerBroker(async_polls=4) as broker:
        services = write_inputs(tmp_path, broker.url, "async")
        # Record 2 is the operation string: the run is polling when it dies.
        assert kill_at(tmp_path, services, 2)
        state = json.loads(run_cli("show", "--json", "--state", str(tmp_path / "state")).stdout)
        pending = state["resources"]["ServiceInstance/apps/db"]
        assert pending["status"] == "creating"
        assert pending["operation"]["operation"], "the operation string was recorded before polling"
        puts_before = len(broker.requests_to("PUT", "/v2/service_instances/[^/]+$"))
        resources = converge(tmp_path, services, broker)
        puts_after = len(broker.requests_to("PUT", "/v2/service_instances/[^/]+$"))
        # Resumed by polling the recorded operation, not by provisioning again.
        assert puts_after == puts_before == 1
        assert set(broker.instances) == {resources["ServiceInstance/apps/db"]["instance_id"]}
        assert os.path.exists(tmp_path / "cluster" / "apps" / "secret" / "db-binding.yaml")
