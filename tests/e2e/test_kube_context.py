"""Cluster selection as kubectl does it: an unknown --context is an error before anything
is read or called, and the context's namespace is the default namespace (-n still wins)."""

from __future__ import annotations

from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.cluster.server import CONTEXT
from tests.e2e.conftest import Workspace, broker_yaml
from tests.fixtures.cluster import KubeApiServer

NO_NAMESPACE = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: sync
"""


def _ws(tmp_path: Path, broker: ProgrammableBroker, kubeconfig: Path) -> Workspace:
    ws = Workspace(tmp_path, kubeconfig=kubeconfig)
    ws.write("broker.yaml", broker_yaml(broker.url, name="prog", auth=False))
    ws.write("db.yaml", NO_NAMESPACE)
    return ws


def test_an_unknown_context_is_an_error(
    tmp_path: Path,
    programmable_broker: ProgrammableBroker,
    kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ws = _ws(tmp_path, programmable_broker, kube_apiserver.kubeconfig(kube_namespace))
    seen = len(kube_apiserver.audit(kube_namespace))
    for command in ("plan", "apply", "drift"):
        result = ws.run(command, "--context", "nope")
        assert result.exit_code == 1, (command, result.stdout, result.stderr)
        assert result.stderr == (
            f"Error: --context: context 'nope' not found in kubeconfig (contexts: {CONTEXT})\n"
        )
    assert programmable_broker.requests == []
    assert kube_apiserver.audit(kube_namespace)[seen:] == []


def test_the_contexts_namespace_is_the_default_namespace(
    tmp_path: Path,
    programmable_broker: ProgrammableBroker,
    kube_apiserver: KubeApiServer,
    kube_namespace: str,
) -> None:
    ns = kube_namespace
    ws = _ws(tmp_path, programmable_broker, kube_apiserver.kubeconfig(ns))
    plan = ws.ok("plan", "--context", CONTEXT)
    assert f'+ ServiceInstance "{ns}/db"' in plan.stdout
    explicit = ws.ok("plan", "-n", "other")
    assert '+ ServiceInstance "other/db"' in explicit.stdout
    # --target Kind/name takes the same default
    targeted = ws.ok("plan", "--target", "ServiceInstance/db")
    assert f'+ ServiceInstance "{ns}/db"' in targeted.stdout
