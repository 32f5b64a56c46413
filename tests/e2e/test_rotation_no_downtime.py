"""A rotation never leaves the Secret without working credentials, even when killed at any step.

A real broker on 127.0.0.1 that accepts only credentials of bindings it still has, a real
kube-apiserver holding the binding Secret and a Deployment a PodMapping maps it into, and
``catalogctl apply --replace`` run as a process that is SIGKILLed once journal record k is
durable, for every k of the rotation.  After every request the broker handled, it reads the
Secret from the API server and checks that it would let its credentials in; so does the test
between the killed run and the next apply.  The next apply must leave exactly one binding at
the broker (the one state knows), the Secret holding its credentials, the Deployment's pod
template changed exactly once by the whole rotation, and a clean plan.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.brokers.programmable import ProgrammableBroker, RecordedRequest
from tests.cli import run_cli
from tests.engine.test_crash_recovery import (
    HoldingBroker,
    inputs_yaml,
    kill_run_at,
    release_dead_lock,
)
from tests.fixtures.cluster import KubeApiServer

REVISION = "catalogctl.io/secret-revision"


def services_yaml(url: str, ns: str, rotation: str | None = None) -> str:
    """The crash tests' instance and binding in ``ns``, and a mapping into Deployment web."""
    rotation_line = f"  rotation: {rotation}\n" if rotation else ""
    return inputs_yaml(url, "sync", ns) + rotation_line + f"""---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {{name: web-db, namespace: {ns}}}
spec:
  bindingRef: {{name: db-binding}}
  target: {{kind: Deployment, name: web}}
  env:
    - {{name: DB_USER, key: username}}
    - {{name: DB_PASSWORD, key: password}}
"""


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example.com/web:1"}]},
        },
    },
}


def secret_reader(api: client.ApiClient, ns: str) -> Callable[[], dict[str, str] | None]:
    core = client.CoreV1Api(api)

    def read() -> dict[str, str] | None:
        try:
            obj = core.read_namespaced_secret("db-binding", ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return {k: base64.b64decode(v).decode() for k, v in (obj.data or {}).items()}

    return read


class CheckingBroker(HoldingBroker):
    """After each request it handled (and before any held-back answer), checks the Secret.

    A check fails when the Secret exists and its credentials are not those of a binding
    the broker still has: the moment a workload reading the Secret would be locked out.
    """

    def __init__(self, read_secret: Callable[[], dict[str, str] | None]) -> None:
        super().__init__()
        self.read_secret = read_secret
        self.checks = 0
        self.violations: list[str] = []

    def act(self, req: RecordedRequest) -> Any:
        reply = super().act(req)
        self.check(f"after {req.method} {req.path}")
        return reply

    def check(self, when: str) -> None:
        data = self.read_secret()
        if data is None:
            return
        self.checks += 1
        if not self.accepts(data):
            self.violations.append(f"{when}: the Secret holds credentials the broker rejects")


def _accepted_over_http(broker: ProgrammableBroker, data: dict[str, str]) -> bool:
    answer = httpx.post(
        f"{broker.url}/credentials/check",
        json={"username": data["username"], "password": data["password"]},
    )
    return answer.status_code == 200


def converge(state: Path, args: list[str]) -> None:
    """Apply in this process (the broker answers it at once)."""
    release_dead_lock(state)
    done = run_cli("--no-color", *args)
    assert done.exit_code == 0, done.stdout + done.stderr


def _state(state_dir: Path) -> dict[str, Any]:
    shown = run_cli("show", "--json", "--state", str(state_dir))
    assert shown.exit_code == 0, shown.stderr
    resources: dict[str, Any] = yaml.safe_load(shown.stdout)["resources"]
    return resources


def test_rotation_keeps_working_credentials_through_a_sigkill_at_every_step(
    kube_apiserver: KubeApiServer, tmp_path: Path
) -> None:
    api = kube_apiserver.api_client()
    apps = client.AppsV1Api(api)
    killed = 0
    for k in range(1, 12):
        ns = kube_apiserver.create_namespace(f"rotate-k{k}")
        apps.create_namespaced_deployment(ns, DEPLOYMENT)
        run_dir = tmp_path / f"k{k}"
        services = run_dir / "services"
        services.mkdir(parents=True)
        state = run_dir / "state"
        args = [
            "apply", "-f", str(services), "--auto-approve",
            "--state", str(state), "--kubeconfig", str(kube_apiserver.kubeconfig(ns)),
        ]  # fmt: skip
        read_secret = secret_reader(api, ns)
        with CheckingBroker(read_secret) as broker:
            (services / "services.yaml").write_text(services_yaml(broker.url, ns))

            converge(state, args)
            (original,) = broker.bindings
            generation = apps.read_namespaced_deployment("web", ns).metadata.generation

            landed = kill_run_at([*args, "--replace", f"ServiceBinding/{ns}/db-binding"], k, broker)
            killed += landed
            # Between the killed run and the next: the workload can still log in.
            data = read_secret()
            assert data is not None and _accepted_over_http(broker, data), k

            converge(state, args)
            resources = _state(state)
            binding = resources[f"ServiceBinding/{ns}/db-binding"]
            assert binding["status"] == "ready" and binding["retiring"] == [], (k, binding)
            # Exactly one binding at the broker: the new one, which state knows.
            assert set(broker.bindings) == {(original[0], binding["binding_id"])}, k
            assert binding["binding_id"] != original[1], k
            data = read_secret()
            assert data is not None and data["username"] == f"u-{binding['binding_id']}", k
            assert _accepted_over_http(broker, data), k
            # Never, after any request the broker answered, did the Secret hold rejected
            # credentials (it was checked each time).
            assert broker.violations == [], (k, broker.violations)
            assert broker.checks >= 3, k
            # The pod template changed once, to the Secret's new revision.
            live = apps.read_namespaced_deployment("web", ns)
            assert live.metadata.generation == generation + 1, k
            assert live.spec.template.metadata.annotations[REVISION] == "db-binding=2", k

            again = run_cli("--no-color", "plan", *args[1:3], *args[4:], "--detailed-exitcode")
            assert again.exit_code == 0, (k, again.stdout + again.stderr)
        if not landed:
            break
    # The rotation records: bind write-ahead (with the retiring id), binding bound, Secret
    # written, mapping applied, unbind of the old binding in flight, old binding forgotten.
    assert killed >= 6, f"expected a kill at each step of the rotation, got {killed}"
