"""Preflight against a real kube-apiserver with RBAC: a user who may write the binding Secret
but not patch the Deployment is stopped before the first broker request, and the server's own
SelfSubjectAccessReview answers say why."""

from __future__ import annotations

from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml
from tests.fixtures.cluster import KubeApiServer

PODMAPPING = """\
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata:
  name: web-db
  namespace: {ns}
spec:
  bindingRef:
    name: db-b
  target:
    kind: Deployment
    name: web
  envFrom: {{}}
"""

SECRET_RULE = {"apiGroups": [""], "resources": ["secrets"],
               "verbs": ["get", "create", "update", "delete"]}


def _workspace(tmp_path: Path, url: str, server: KubeApiServer, ns: str) -> Workspace:
    ws = Workspace(tmp_path, kubeconfig=server.kubeconfig(ns, limited=True))
    ws.write("broker.yaml", broker_yaml(url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db", namespace=ns) + "---\n"
             + binding_yaml("db-b", "db", namespace=ns))
    ws.write("mapping.yaml", PODMAPPING.format(ns=ns))
    return ws


def test_a_denied_patch_stops_the_run_before_any_broker_request(
    tmp_path: Path, programmable_broker: ProgrammableBroker, kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ns = kube_namespace
    kube_apiserver.grant(ns, [SECRET_RULE, {"apiGroups": ["apps"], "resources": ["deployments"],
                                            "verbs": ["get"]}])
    ws = _workspace(tmp_path, programmable_broker.url, kube_apiserver, ns)
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
    ws = _workspace(tmp_path, programmable_broker.url, kube_apiserver, ns)
    ws.remove("mapping.yaml")  # no workload in this namespace: map nothing
    ws.ok("apply", "--auto-approve")
    assert len(programmable_broker.instances) == 1
    writes = [(r.verb, r.resource, r.user) for r in kube_apiserver.audit(ns) if r.mutating
              and r.resource == "secrets"]
    assert writes == [("create", "secrets", "limited")]
