"""examples/ci/catalogctl.yml.example runs: its shell steps, in order, as a pull request, its
merge and a nightly run would run them, on fresh working copies that share one state,
against a real OSB broker and a Kubernetes API server on 127.0.0.1.

Steps that are GitHub actions (``uses:``) are stood in for by what they do here: checkout
copies the repository's ``services/``, upload/download-artifact copy the named file between
working copies, the rest do nothing. ``Install catalogctl`` is skipped (the catalogctl under
test is on PATH). CATALOGCTL_STATE is the workflow's PostgreSQL state with the host, port and
database of the test's own server; its password reaches catalogctl the workflow's way, through
PGPASSWORD from a secret.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.brokers.obapi import ObapiBroker
from tests.fixtures.cluster import KubeApiServer
from tests.fixtures.postgres import PASSWORD as POSTGRES_PASSWORD
from tests.fixtures.postgres import PostgresServer
from tests.launcher import Launcher

WORKFLOW = Path(__file__).resolve().parents[2] / "examples" / "ci" / "catalogctl.yml.example"
HEAD_SHA = "0123456789abcdef0123456789abcdef01234567"

SERVICES = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: cloud-broker
spec:
  url: {url}
  authInfo:
    basic:
      secretRef:
        namespace: catalogctl-system
        name: cloud-broker-auth
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: {ns}
spec:
  clusterServiceClassExternalName: obapi-db
  clusterServicePlanExternalName: small
  parameters:
    size: s
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: {ns}
spec:
  instanceRef:
    name: db
"""


def _workflow() -> dict[str, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@dataclass
class Runner:
    """Runs one job of the workflow in a fresh working copy."""

    root: Path
    values: dict[str, str]
    #: a directory holding the ``catalogctl`` the steps run
    bin_dir: Path
    #: the ``--state`` value every job uses: one PostgreSQL state, as in the workflow
    state: str
    artifacts: dict[str, Path] = field(default_factory=dict)

    def _substitute(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            key = match.group(1).strip()
            assert key in self.values, f"no test value for ${{{{ {key} }}}}"
            return self.values[key]

        return re.sub(r"\$\{\{([^}]*)\}\}", value, text)

    def _env(self, *layers: dict[str, Any] | None) -> dict[str, str]:
        env: dict[str, str] = {}
        for layer in layers:
            for key, raw in (layer or {}).items():
                env[key] = self._substitute(str(raw))
        return env

    def run_job(self, name: str, services: str | None) -> list[tuple[str, int, str]]:
        """Run job ``name``; returns (step, exit code, output) up to the first failure."""
        workflow = _workflow()
        job = workflow["jobs"][name]
        copy = self.root / f"{name}-{len(list(self.root.iterdir()))}"
        temp = copy.parent / f"{copy.name}-temp"
        copy.mkdir()
        temp.mkdir()
        github_env = temp / "github_env"
        summary = temp / "step_summary"
        github_env.touch()
        summary.touch()
        base = {
            **os.environ,
            "PATH": os.pathsep.join(
                (str(self.bin_dir), str(Path(sys.executable).parent), os.environ["PATH"])
            ),
            "RUNNER_TEMP": str(temp),
            "GITHUB_ENV": str(github_env),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_WORKSPACE": str(copy),
            "NO_COLOR": "1",
        }
        base.update(self._env(workflow.get("env"), job.get("env")))
        assert base["CATALOGCTL_STATE"].startswith("postgresql://")
        base["CATALOGCTL_STATE"] = self.state
        results: list[tuple[str, int, str]] = []
        for step in job["steps"]:
            uses = step.get("uses", "")
            with_ = {k: self._substitute(str(v)) for k, v in (step.get("with") or {}).items()}
            if uses.startswith("actions/checkout"):
                assert services is not None
                (copy / "services").mkdir()
                (copy / "services" / "services.yaml").write_text(services)
                continue
            if uses.startswith("actions/upload-artifact"):
                self.artifacts[with_["name"]] = copy / with_["path"]
                assert self.artifacts[with_["name"]].is_file()
                continue
            if uses.startswith("dawidd6/action-download-artifact"):
                source = self.artifacts[with_["name"]]
                shutil.copy(source, copy / source.name)
                continue
            if uses.startswith("marocchino/sticky-pull-request-comment"):
                assert (copy / with_["path"]).read_text().strip()
                continue
            if uses or step.get("name") == "Install catalogctl":
                continue
            assert job_shell(workflow, job) == "bash"
            env = {**base, **self._env(step.get("env"))}
            for line in github_env.read_text().splitlines():
                key, _, val = line.partition("=")
                env[key] = val
            proc = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
                cwd=copy,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            results.append((step.get("name", ""), proc.returncode, proc.stdout + proc.stderr))
            if proc.returncode != 0:
                break
        return results


def job_shell(workflow: dict[str, Any], job: dict[str, Any]) -> str:
    defaults = job.get("defaults") or workflow.get("defaults") or {}
    return str((defaults.get("run") or {}).get("shell", ""))


def _codes(results: list[tuple[str, int, str]]) -> list[tuple[str, int]]:
    return [(name, code) for name, code, _ in results]


def test_the_workflow_keeps_secrets_out_of_scripts_and_waits_for_the_lock() -> None:
    workflow = _workflow()
    for job in workflow["jobs"].values():
        assert job_shell(workflow, job) == "bash"
        for step in job["steps"]:
            script = step.get("run", "")
            assert "${{" not in script, step
            for line in script.splitlines():
                if re.search(r"catalogctl (plan|apply|drift|destroy)\b", line):
                    assert "--lock-timeout" in line, line


@pytest.fixture
def runner(
    tmp_path: Path,
    obapi_broker: ObapiBroker,
    kube_apiserver: KubeApiServer,
    kube_namespace: str,
    postgres_server: PostgresServer,
    catalogctl_launcher: Launcher,
) -> Runner:
    (tmp_path / "copies").mkdir()
    return Runner(
        tmp_path / "copies",
        {
            "secrets.CLOUD_BROKER_USERNAME": obapi_broker.username,
            "secrets.CLOUD_BROKER_PASSWORD": obapi_broker.password,
            "secrets.KUBECONFIG": kube_apiserver.kubeconfig(kube_namespace).read_text(),
            "github.event.pull_request.head.sha": HEAD_SHA,
            "secrets.CATALOGCTL_STATE_DB_PASSWORD": POSTGRES_PASSWORD,
        },
        catalogctl_launcher.bin_dir,
        postgres_server.url(f"ci-{uuid.uuid4().hex[:8]}", password=False),
    )


def test_pull_request_merge_and_nightly_drift_run_in_order(
    runner: Runner, obapi_broker: ObapiBroker, kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    ns = kube_namespace
    services = SERVICES.format(url=obapi_broker.url, ns=ns)

    # A pull request: plan, upload the plan, comment the saved plan.
    planned = runner.run_job("plan", services)
    assert _codes(planned) == [("Kubeconfig", 0), ("Plan", 0)], planned
    assert "catalogctl-plan-" + HEAD_SHA in runner.artifacts
    assert obapi_broker.instances == {}

    # Its merge, on another fresh copy: the reviewed plan is applied.
    applied = runner.run_job("apply", None)
    assert _codes(applied) == [("Kubeconfig", 0), ("Apply the reviewed plan", 0)], applied
    assert len(obapi_broker.instances) == 1
    core = client.CoreV1Api(kube_apiserver.api_client())
    assert core.read_namespaced_secret("db-binding", ns).data

    # The same plan once more is stale: refused, nothing provisioned twice.
    again = runner.run_job("apply", None)
    assert _codes(again) == [("Kubeconfig", 0), ("Apply the reviewed plan", 1)], again
    assert "stale" in again[-1][2]
    assert len(obapi_broker.instances) == 1

    # Nightly: no drift, then a Secret deleted outside catalogctl fails the job (exit 2
    # through `tee`).
    quiet = runner.run_job("drift", services)
    assert _codes(quiet) == [("Kubeconfig", 0), ("Drift", 0)], quiet
    core.delete_namespaced_secret("db-binding", ns)
    drifted = runner.run_job("drift", services)
    assert _codes(drifted) == [("Kubeconfig", 0), ("Drift", 2)], drifted
    assert f"Secret/{ns}/db-binding" in drifted[-1][2]
