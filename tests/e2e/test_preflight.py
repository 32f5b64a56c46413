"""Preflight: an apply or destroy that could not finish its cluster or state writes, or that
needs a Secret that does not exist, stops before its first broker request, listing every problem."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from kubernetes import client

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml, mutating
from tests.fixtures.cluster import KubeApiServer
from tests.fixtures.kube import KubeEmulator, write_kubeconfig

PODMAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-db
  namespace: apps
spec:
  bindingRef:
    name: db-b
  target:
    kind: Deployment
    name: web
  envFrom: {}
"""


def _desired(ws: Workspace, url: str) -> None:
    ws.write("broker.yaml", broker_yaml(url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db") + "---\n" + binding_yaml("db-b", "db"))


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    _desired(w, programmable_broker.url)
    return w


def _refused(ws: Workspace, *extra: str, command: str = "apply") -> list[str]:
    """Run, expect exit 1 with a preflight report, and return its problem lines."""
    result = ws.run(command, "--auto-approve", *extra)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: preflight found "), result.stderr
    assert lines[0].endswith("nothing was changed:"), result.stderr
    return [line.strip() for line in lines[1:]]


def test_cluster_dir_that_is_a_file_stops_before_any_broker_request(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    assert ws.cluster_dir is not None
    ws.cluster_dir.write_text("not a directory\n")
    problems = _refused(ws)
    assert problems == [f"{ws.cluster_dir} is not a directory (cluster directory {ws.cluster_dir})"]
    assert programmable_broker.requests == []
    assert ws.resources() == {}


def test_symlinked_secret_directory_stops_before_any_broker_request(
    ws: Workspace, programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    assert ws.cluster_dir is not None
    outside = tmp_path / "outside"
    outside.mkdir()
    (ws.cluster_dir / "apps").mkdir(parents=True)
    (ws.cluster_dir / "apps" / "secret").symlink_to(outside)
    problems = _refused(ws)
    link = ws.cluster_dir / "apps" / "secret"
    assert problems == [
        f"{link} is a symbolic link; catalogctl does not follow links in "
        f"cluster directory {ws.cluster_dir}"
    ]
    assert programmable_broker.requests == []
    assert list(outside.iterdir()) == []


def test_state_that_cannot_be_committed_is_found_before_any_broker_request(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.ok("apply", "--auto-approve")
    seen = len(programmable_broker.requests)
    # A commit keeps the previous state as the backup: it could not.
    backup = ws.state / "catalogctl.state.json.backup"
    backup.unlink(missing_ok=True)
    backup.mkdir()
    ws.write("more.yaml", binding_yaml("db-b2", "db"))
    problems = _refused(ws)
    assert problems == [f"local state at {ws.state}: {backup} is not a regular file"]
    assert programmable_broker.requests[seen:] == []


def test_missing_input_secrets_and_an_unwritable_target_are_all_listed(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    assert ws.cluster_dir is not None
    ws.write(
        "db.yaml",
        instance_yaml("db")
        + "  parametersFrom:\n"
        + "    - secretKeyRef: {name: db-params, key: extra}\n"
        + "---\n"
        + binding_yaml("db-b", "db")
        + "  secretTransforms:\n"
        + "    - addKeysFrom: {secretRef: {namespace: shared, name: ca-bundle}}\n",
    )
    problems = _refused(ws)
    assert len(problems) == 2, problems
    assert problems[0].startswith("ServiceInstance/apps/db: Secret apps/db-params key 'extra'")
    assert problems[1].startswith("ServiceBinding/apps/db-b: Secret shared/ca-bundle not found")
    assert programmable_broker.requests == []


def test_a_saved_plan_is_checked_again_before_it_is_applied(
    ws: Workspace, programmable_broker: ProgrammableBroker, tmp_path: Path
) -> None:
    assert ws.cluster_dir is not None
    plan_file = tmp_path / "saved.plan"
    ws.ok("plan", "--out", str(plan_file))
    seen = len(programmable_broker.requests)
    ws.cluster_dir.write_text("")
    result = ws.run("apply", str(plan_file), with_files=False)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert f"{ws.cluster_dir} is not a directory" in result.stderr
    assert programmable_broker.requests[seen:] == []


def test_destroy_checks_before_it_deletes_anything(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    assert ws.cluster_dir is not None
    ws.ok("apply", "--auto-approve")
    assert ws.secret_data("apps", "db-b") is not None
    seen = len(programmable_broker.requests)
    secret_dir = ws.cluster_dir / "apps" / "secret"
    secret_dir.rename(ws.root / "moved")
    secret_dir.symlink_to(ws.root / "moved")
    problems = _refused(ws, command="destroy")
    assert problems == [
        f"{secret_dir} is a symbolic link; catalogctl does not follow links in "
        f"cluster directory {ws.cluster_dir}"
    ]
    assert mutating(programmable_broker.requests[seen:]) == []
    assert len(ws.resources()) == 3


# --------------------------------------------------------------------------- API server


@pytest.fixture
def kube_ws(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_emulator: KubeEmulator
) -> Workspace:
    w = Workspace(tmp_path, kubeconfig=kube_emulator.kubeconfig_path)
    _desired(w, programmable_broker.url)
    client.CoreV1Api(kube_emulator.api_client()).create_namespace({"metadata": {"name": "apps"}})
    return w


def _reviews(kube: KubeEmulator) -> list[tuple[str, str, str, str]]:
    return sorted(
        (
            a.get("namespace", ""),
            a.get("group", ""),
            a.get("resource", ""),
            a.get("verb", ""),
        )
        for r in kube.requests
        if r.path.endswith("/selfsubjectaccessreviews")
        for a in [r.body["spec"]["resourceAttributes"]]
    )


def test_forbidden_secret_writes_stop_before_any_broker_request(
    kube_ws: Workspace, programmable_broker: ProgrammableBroker, kube_emulator: KubeEmulator
) -> None:
    kube_ws.write("mapping.yaml", PODMAPPING)
    kube_emulator.server.deny(verb="create", resource="secrets", namespace="apps")
    kube_emulator.server.deny(verb="patch", resource="deployments", namespace="apps")
    problems = _refused(kube_ws)
    where = f"cluster {kube_emulator.url}"
    assert [p.split(": ", 1)[1] for p in problems] == [
        "not allowed to create secrets in namespace apps (denied by the emulator's test rules)",
        "not allowed to patch deployments.apps in namespace apps "
        "(denied by the emulator's test rules)",
    ]
    assert all(p.startswith(where) for p in problems), problems
    # The reviews asked: everything a binding Secret and a PodMapping need in "apps".
    assert _reviews(kube_emulator) == sorted(
        [("apps", "", "secrets", v) for v in ("get", "create", "update", "delete")]
        + [("apps", "apps", "deployments", v) for v in ("get", "patch")]
    )
    assert programmable_broker.requests == []
    assert [r for r in kube_emulator.requests if r.method != "POST" and r.method != "GET"] == []


def test_an_allowed_run_applies_after_its_reviews(
    kube_ws: Workspace, programmable_broker: ProgrammableBroker, kube_emulator: KubeEmulator
) -> None:
    kube_ws.ok("apply", "--auto-approve")
    assert ("apps", "", "secrets", "create") in _reviews(kube_emulator)
    assert len(programmable_broker.instances) == 1
    secret = client.CoreV1Api(kube_emulator.api_client()).read_namespaced_secret("db-b", "apps")
    assert secret.data


def test_a_missing_namespace_is_reported_before_any_broker_request(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_emulator: KubeEmulator
) -> None:
    w = Workspace(tmp_path, kubeconfig=kube_emulator.kubeconfig_path)
    _desired(w, programmable_broker.url)  # namespace "apps" was never created
    assert _refused(w) == [
        f"cluster {kube_emulator.url} (context emulator): namespace apps does not exist"
    ]
    assert programmable_broker.requests == []


def test_an_unreachable_cluster_is_one_problem_and_no_broker_request(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "dead-kubeconfig", f"http://127.0.0.1:{port}")
    w = Workspace(tmp_path, kubeconfig=kubeconfig)
    _desired(w, programmable_broker.url)
    problems = _refused(w)
    assert len(problems) == 1, problems
    assert f"cannot reach cluster http://127.0.0.1:{port}" in problems[0]
    assert programmable_broker.requests == []


def test_a_missing_secret_shared_by_several_resources_is_one_problem_naming_them(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    shared = "  parametersFrom:\n    - secretKeyRef: {name: shared, key: params}\n"
    ws.write(
        "db.yaml",
        "---\n".join(instance_yaml(f"db{i}") + shared for i in range(5)),
    )
    problems = _refused(ws)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "ServiceInstance/apps/db0, ServiceInstance/apps/db1, ServiceInstance/apps/db2 "
        "and 2 more: Secret apps/shared key 'params' not found"
    )
    assert programmable_broker.requests == []


# --------------------------------------------------------------------------- real API server, RBAC
# A user who may write the binding Secret but not patch the Deployment: the server's own
# SelfSubjectAccessReview answers stop the run before the first broker request.

SECRET_RULE = {"apiGroups": [""], "resources": ["secrets"],
               "verbs": ["get", "create", "update", "delete"]}


def _rbac_workspace(tmp_path: Path, url: str, server: KubeApiServer, ns: str) -> Workspace:
    ws = Workspace(tmp_path, kubeconfig=server.kubeconfig(ns, limited=True))
    ws.write("broker.yaml", broker_yaml(url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db", namespace=ns) + "---\n"
             + binding_yaml("db-b", "db", namespace=ns))
    ws.write("mapping.yaml", PODMAPPING.replace("namespace: apps", f"namespace: {ns}"))
    return ws


def test_a_denied_patch_stops_the_run_before_any_broker_request(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ns = kube_namespace
    kube_apiserver.grant(ns, [SECRET_RULE, {"apiGroups": ["apps"], "resources": ["deployments"],
                                            "verbs": ["get"]}])
    ws = _rbac_workspace(tmp_path, programmable_broker.url, kube_apiserver, ns)
    start = len(kube_apiserver.audit(ns))
    result = ws.run("apply", "--auto-approve")
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Error: preflight found 1 problem"), result.stderr
    assert [line.strip() for line in lines[1:]] == [
        f"cluster {kube_apiserver.url} (context catalogctl-test): "
        f"not allowed to patch deployments.apps in namespace {ns}"
    ]
    assert programmable_broker.requests == []
    assert [r for r in kube_apiserver.audit(ns)[start:] if r.mutating] == []
    assert ws.resources() == {}


def test_the_granted_user_gets_past_preflight(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ns = kube_namespace
    kube_apiserver.grant(ns, [SECRET_RULE, {"apiGroups": ["apps"], "resources": ["deployments"],
                                            "verbs": ["get", "patch"]}])
    ws = _rbac_workspace(tmp_path, programmable_broker.url, kube_apiserver, ns)
    ws.remove("mapping.yaml")  # no workload in this namespace: map nothing
    ws.ok("apply", "--auto-approve")
    assert len(programmable_broker.instances) == 1
    writes = [(r.verb, r.resource, r.user) for r in kube_apiserver.audit(ns) if r.mutating
              and r.resource == "secrets"]
    assert writes == [("create", "secrets", "limited")]
