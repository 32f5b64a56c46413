"""build_graph: which edges a desired state produces, and cycles named at the right field."""

from __future__ import annotations

import textwrap
from pathlib import Path

from catalogctl.graph import ResourceGraph, build_graph
from catalogctl.model.address import Address
from catalogctl.model.desired import Desired
from catalogctl.model.loader import load, load_documents
from catalogctl.model.source import parse_text

MANIFESTS = Path(__file__).resolve().parents[1] / "model" / "manifests"


def desired_of(text: str) -> Desired:
    docs, problems = parse_text(textwrap.dedent(text), "in.yaml")
    desired, more = load_documents(docs)
    assert problems + more == [], [p.render() for p in problems + more]
    return desired


def edges(graph: ResourceGraph) -> set[tuple[str, str]]:
    return {(str(e.before), str(e.after)) for e in graph.edges()}


CHAIN = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata: {name: cloud}
spec:
  url: http://cloud
  authInfo:
    basic:
      secretRef: {namespace: apps, name: broker-auth}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {name: db, namespace: apps}
spec: {clusterServiceClassExternalName: cloud/postgres, clusterServicePlanExternalName: small}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: db, namespace: apps}
spec: {instanceRef: {name: db}, secretName: db-secret}
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {name: web-db, namespace: apps}
spec:
  bindingRef: {name: db}
  target: {kind: Deployment, name: web}
  envFrom: {}
"""


def test_chain_broker_instance_binding_secret_mapping() -> None:
    graph, problems = build_graph(desired_of(CHAIN))
    assert problems == []
    assert edges(graph) == {
        ("ClusterServiceBroker/cloud", "ServiceInstance/apps/db"),
        ("ServiceInstance/apps/db", "ServiceBinding/apps/db"),
        ("ServiceBinding/apps/db", "Secret/apps/db-secret"),
        ("Secret/apps/db-secret", "PodMapping/apps/web-db"),
    }
    # The broker's auth Secret is an input written by someone else: not a node.
    assert Address("Secret", "apps", "broker-auth") not in graph
    assert len(graph) == 5
    assert [str(a) for a in graph.creation_order()] == [
        "ClusterServiceBroker/cloud",
        "ServiceInstance/apps/db",
        "ServiceBinding/apps/db",
        "Secret/apps/db-secret",
        "PodMapping/apps/web-db",
    ]
    assert graph.deletion_order() == list(reversed(graph.creation_order()))


def test_edges_carry_the_field_that_creates_them() -> None:
    graph, _ = build_graph(desired_of(CHAIN))
    fields = {(str(e.before), str(e.after)): e.field for e in graph.edges()}
    assert fields[("ServiceInstance/apps/db", "ServiceBinding/apps/db")] == ("spec", "instanceRef")
    assert fields[("ServiceBinding/apps/db", "Secret/apps/db-secret")] == ("spec", "secretName")
    assert fields[("Secret/apps/db-secret", "PodMapping/apps/web-db")] == ("spec", "bindingRef")


SECRET_INPUTS = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {name: vault, namespace: apps}
spec: {clusterServiceClassExternalName: vault}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: vault-token, namespace: apps}
spec: {instanceRef: {name: vault}}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBroker
metadata: {name: team, namespace: apps}
spec:
  url: http://team
  authInfo: {bearer: {secretRef: {name: vault-token}}}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {name: db, namespace: apps}
spec:
  serviceClassExternalName: postgres
  parametersFrom:
    - secretKeyRef: {name: vault-token, key: params}
    - secretKeyRef: {name: not-ours, key: params}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: db, namespace: apps}
spec:
  instanceRef: {name: db}
  parametersFrom:
    - secretKeyRef: {name: vault-token, key: binding-params}
  secretTransforms:
    - addKeysFrom: {secretRef: {name: vault-token}}
    - addKeysFrom: {secretRef: {namespace: other, name: vault-token}}
"""


def test_parameters_from_add_keys_from_and_auth_info_read_binding_secrets() -> None:
    graph, problems = build_graph(desired_of(SECRET_INPUTS))
    assert problems == []
    token = "Secret/apps/vault-token"
    assert {after for before, after in edges(graph) if before == token} == {
        "ServiceBroker/apps/team",  # authInfo.bearer
        "ServiceInstance/apps/db",  # parametersFrom
        "ServiceBinding/apps/db",  # parametersFrom and addKeysFrom
    }
    fields = {(str(e.before), str(e.after)): e.field for e in graph.edges()}
    assert fields[(token, "ServiceBroker/apps/team")] == ("spec", "authInfo", "bearer", "secretRef")
    assert fields[(token, "ServiceInstance/apps/db")] == ("spec", "parametersFrom", 0)
    # Secrets that no binding writes, and a same-named Secret in another
    # namespace, add no node and no edge.
    assert Address("Secret", "apps", "not-ours") not in graph
    assert Address("Secret", "other", "vault-token") not in graph
    # The namespaced broker serves the namespaced selector of apps/db.
    assert ("ServiceBroker/apps/team", "ServiceInstance/apps/db") in edges(graph)
    order = [str(a) for a in graph.creation_order()]
    assert order.index(token) < order.index("ServiceBroker/apps/team")
    assert order.index("ServiceBroker/apps/team") < order.index("ServiceInstance/apps/db")


def test_unqualified_instances_depend_on_every_broker_of_their_scope() -> None:
    text = """\
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ClusterServiceBroker
    metadata: {name: a}
    spec: {url: http://a}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ClusterServiceBroker
    metadata: {name: b}
    spec: {url: http://b}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceBroker
    metadata: {name: c, namespace: apps}
    spec: {url: http://c}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceInstance
    metadata: {name: any, namespace: apps}
    spec: {clusterServiceClassExternalID: some-id}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceInstance
    metadata: {name: pinned, namespace: apps}
    spec: {clusterServiceClassExternalName: b/postgres}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceInstance
    metadata: {name: local, namespace: apps}
    spec: {serviceClassName: some-name}
    """
    desired = desired_of(text)
    graph, _ = build_graph(desired)
    assert edges(graph) == {
        ("ClusterServiceBroker/a", "ServiceInstance/apps/any"),
        ("ClusterServiceBroker/b", "ServiceInstance/apps/any"),
        ("ClusterServiceBroker/b", "ServiceInstance/apps/pinned"),
        ("ServiceBroker/apps/c", "ServiceInstance/apps/local"),
    }
    # Catalog resolution pins the real broker and replaces the candidates.
    resolved = {Address("ServiceInstance", "apps", "any"): Address("ClusterServiceBroker", "", "a")}
    graph, _ = build_graph(desired, resolved)
    assert ("ClusterServiceBroker/b", "ServiceInstance/apps/any") not in edges(graph)
    assert ("ClusterServiceBroker/a", "ServiceInstance/apps/any") in edges(graph)


def test_manifests_graph_is_acyclic_and_ordered() -> None:
    desired = load([str(MANIFESTS)])
    graph, problems = build_graph(desired)
    assert problems == []
    order = graph.creation_order()
    assert set(order) == set(graph.nodes)
    position = {a: i for i, a in enumerate(order)}
    for e in graph.edges():
        assert position[e.before] < position[e.after]
    pg = Address("Secret", "team-a", "pg-credentials")
    assert graph.dependencies(pg) == [Address("ServiceBinding", "team-a", "pg-binding")]
    assert graph.dependents(pg) == [Address("PodMapping", "team-a", "api-pg")]


def test_cycle_is_named_at_the_field_of_the_first_declared_resource() -> None:
    text = """\
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceInstance
    metadata: {name: a, namespace: apps}
    spec:
      clusterServiceClassExternalName: x
      parametersFrom:
        - secretKeyRef: {name: a, key: k}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceBinding
    metadata: {name: a, namespace: apps}
    spec: {instanceRef: {name: a}}
    """
    graph, problems = build_graph(desired_of(text))
    assert [p.render() for p in problems] == [
        "in.yaml:7:7: ServiceInstance/apps/a: spec.parametersFrom[0]: dependency cycle: "
        "ServiceInstance/apps/a -> ServiceBinding/apps/a -> Secret/apps/a -> ServiceInstance/apps/a"
    ]
    assert graph.find_cycles() == [
        [
            Address("ServiceInstance", "apps", "a"),
            Address("ServiceBinding", "apps", "a"),
            Address("Secret", "apps", "a"),
        ]
    ]
