"""``catalogctl migrate service-catalog`` takes over a live Service Catalog installation.

Service Catalog's CRDs (tests/servicecatalog/crds.yaml) are installed in the API server,
its objects are created exactly as its controller left them, and the same ids are
provisioned and bound at a real OSB broker on 127.0.0.1 with the requests its controller
sent. Then the migration runs through the CLI, and the tests check: no changing broker
request, the YAML and state it writes, Secrets intact and released from their
ownerReference, workloads untouched, ``plan`` shows no changes and ``drift`` none,
``--release`` and deleting Service Catalog's objects afterwards, skipped unfinished
objects, ``--dry-run``, and the ownership refusal at plan time.

The API server is a real kube-apiserver (v1.20, tests/cluster), shared by the session: each
test has its own namespace and removes the cluster-scoped objects it created. It runs no
controllers, so no garbage collector: "deleting Service Catalog's objects leaves the
Secrets" is shown by the ownerReference being gone and the deletions going through once the
finalizers are released.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.brokers.programmable import SERVICE_ID, SYNC_PLAN_ID, ProgrammableBroker, default_catalog
from tests.cli import CliResult, run_cli
from tests.e2e.conftest import mutating
from tests.fixtures.cluster import KubeApiServer
from tests.servicecatalog import leftovers as sc

CLUSTER_ID = "5b7e3c1a-2f0d-4c8e-9a61-0d3f2e4b5c6d"
DB_ID = "7f1c1a52-3c1e-4a39-9a53-1d3f0c2b8e10"
CACHE_ID = "1d2c3b4a-5e6f-4a0b-8c1d-2e3f4a5b6c7d"
DB_BINDING_ID = "0b6f5d7e-7d0e-4a4f-8f5c-2f0a9b3d6e21"
CACHE_BINDING_ID = "6e5d4c3b-2a19-4807-b6a5-948372615a4b"
PENDING_ID = "99999999-1111-4222-8333-444455556666"
DB_PARAMS = {"size": "small", "replicas": 2}


@dataclass
class World:
    """A cluster and a broker as Service Catalog left them, plus a scratch directory."""

    api: client.ApiClient
    kubeconfig: Path
    ns: str
    broker: ProgrammableBroker
    tmp: Path
    namespace_uid: str
    credentials: dict[str, dict[str, Any]]

    @property
    def out(self) -> Path:
        return self.tmp / "services"

    @property
    def state(self) -> Path:
        return self.tmp / "state"

    def cli(self, *args: str) -> CliResult:
        return run_cli(
            "--no-color", *args, "--kubeconfig", str(self.kubeconfig), "--state", str(self.state)
        )

    def migrate(self, *extra: str) -> CliResult:
        return self.cli("migrate", "service-catalog", "--out", str(self.out), "-n", self.ns, *extra)

    def secret(self, name: str) -> Any:
        return client.CoreV1Api(self.api).read_namespaced_secret(name, self.ns)

    def resources(self) -> dict[str, Any]:
        path = self.state / "catalogctl.state.json"
        return dict(json.loads(path.read_text())["resources"]) if path.exists() else {}


def _catalog() -> dict[str, Any]:
    """Service Catalog's era: bindings cannot be read back (no bindings_retrievable)."""
    catalog = default_catalog()
    catalog["services"][0]["bindings_retrievable"] = False
    return catalog


@pytest.fixture
def cluster(
    kube_apiserver: KubeApiServer, kube_namespace: str
) -> tuple[client.ApiClient, Path, str]:
    """An API client, a kubeconfig and a namespace of this test's own (the server is shared)."""
    return kube_apiserver.api_client(), kube_apiserver.kubeconfig(kube_namespace), kube_namespace


def _writes(kube_apiserver: KubeApiServer, namespace: str, since: int) -> list[tuple[str, str]]:
    """(verb, resource/name) of every write the API server completed in ``namespace``."""
    records = kube_apiserver.audit(namespace)[since:]
    return sorted((r.verb, f"{r.resource}/{r.name}") for r in records if r.mutating)


@pytest.fixture
def world(tmp_path: Path, cluster: tuple[client.ApiClient, Path, str]) -> Iterator[World]:
    api, kubeconfig, ns = cluster
    core = client.CoreV1Api(api)
    sc.install_crds(api)
    sc.set_cluster_id(api, CLUSTER_ID)
    ns_uid = core.read_namespace(ns).metadata.uid
    broker = ProgrammableBroker(catalog=_catalog()).start()
    try:
        sc.create_broker(api, "prog", broker.url)
        sc.create_class_and_plan(api, "prog", SERVICE_ID, "programmable-db", SYNC_PLAN_ID, "sync")
        # cache takes a parameter from a Secret: Service Catalog's checksum covers its
        # value, its status redacts it.
        core.create_namespaced_secret(
            ns,
            {
                "metadata": {"name": "cache-params"},
                "stringData": {"params": json.dumps({"password": "s3cret"})},
            },
        )
        instances = {}
        for name, instance_id, sent, written in (
            ("db", DB_ID, DB_PARAMS, DB_PARAMS),
            ("cache", CACHE_ID, {"tier": "gold", "password": "s3cret"}, {"tier": "gold"}),
        ):
            sc.provision(
                broker.url,
                instance_id,
                service_id=SERVICE_ID,
                plan_id=SYNC_PLAN_ID,
                namespace=ns,
                namespace_uid=ns_uid,
                cluster_id=CLUSTER_ID,
                name=name,
                parameters=sent,
            )
            instances[name] = sc.create_instance(
                api,
                ns,
                name,
                instance_id=instance_id,
                class_name="programmable-db",
                plan="sync",
                plan_id=SYNC_PLAN_ID,
                parameters=written,
            )
        merged = {"tier": "gold", "password": "s3cret"}
        cache = instances["cache"]
        cache["spec"]["parametersFrom"] = [
            {"secretKeyRef": {"name": "cache-params", "key": "params"}}
        ]
        cache = dict(
            client.CustomObjectsApi(api).replace_namespaced_custom_object(
                sc.GROUP, sc.VERSION, ns, "serviceinstances", "cache", cache
            )
        )
        cache["status"]["externalProperties"]["parameterChecksum"] = sc.go_checksum(merged)
        cache["status"]["externalProperties"]["parameters"] = {
            "tier": "gold",
            "password": "<redacted>",
        }
        cache["status"]["reconciledGeneration"] = cache["metadata"]["generation"]
        client.CustomObjectsApi(api).replace_namespaced_custom_object_status(
            sc.GROUP, sc.VERSION, ns, "serviceinstances", "cache", cache
        )
        creds = {}
        for instance_id, binding_id, name, instance in (
            (DB_ID, DB_BINDING_ID, "db-binding", "db"),
            (CACHE_ID, CACHE_BINDING_ID, "cache-binding", "cache"),
        ):
            creds[name] = sc.bind(
                broker.url,
                instance_id,
                binding_id,
                service_id=SERVICE_ID,
                plan_id=SYNC_PLAN_ID,
                namespace_uid=ns_uid,
            )
            obj = sc.create_binding(
                api, ns, name, instance=instance, binding_id=binding_id, secret_name=f"{name}-creds"
            )
            sc.create_binding_secret(api, obj, creds[name])
        # Unfinished: a provision in flight, and a binding of it.
        sc.create_instance(
            api,
            ns,
            "pending",
            instance_id=PENDING_ID,
            class_name="programmable-db",
            plan="sync",
            plan_id=SYNC_PLAN_ID,
            status={
                "provisionStatus": "NotProvisioned",
                "asyncOpInProgress": True,
                "currentOperation": "Provision",
                "lastOperation": "op-1",
                "deprovisionStatus": "Required",
            },
        )
        sc.create_binding(
            api,
            ns,
            "pending-binding",
            instance="pending",
            binding_id=str(uuid.uuid4()),
            secret_name="pending-creds",
            status={
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ErrorInstanceNotReady"}
                ]
            },
        )
        # A workload reading the credentials, as Service Catalog users wired them.
        client.AppsV1Api(api).create_namespaced_deployment(
            ns,
            {
                "metadata": {"name": "web"},
                "spec": {
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [
                                {
                                    "name": "app",
                                    "image": "web:1",
                                    "envFrom": [{"secretRef": {"name": "db-binding-creds"}}],
                                }
                            ]
                        },
                    },
                },
            },
        )
        yield World(api, kubeconfig, ns, broker, tmp_path, ns_uid, creds)
    finally:
        broker.stop()
        sc.remove_cluster_objects(api)


def _changing(world: World, since: int) -> list[tuple[str, str]]:
    return mutating(world.broker.requests[since:])


def test_migrate_takes_over_without_a_changing_broker_request(
    world: World, kube_apiserver: KubeApiServer
) -> None:
    ns = world.ns
    audited = len(kube_apiserver.audit(ns))
    secrets_before = {n: world.secret(f"{n}-creds").data for n in ("db-binding", "cache-binding")}
    web_before = client.AppsV1Api(world.api).read_namespaced_deployment("web", ns)
    seen = len(world.broker.requests)

    result = world.migrate()

    assert result.exit_code == 0, result.stderr
    assert _changing(world, seen) == []
    assert {r.method for r in world.broker.requests[seen:]} == {"GET"}

    # Desired state: one file per namespace plus the cluster brokers, spec only.
    assert {p.name for p in world.out.iterdir()} == {f"{ns}.yaml", "cluster-brokers.yaml"}
    brokers = list(yaml.safe_load_all((world.out / "cluster-brokers.yaml").read_text()))
    assert [(b["kind"], b["metadata"], b["spec"]["url"]) for b in brokers] == [
        ("ClusterServiceBroker", {"name": "prog"}, world.broker.url)
    ]
    docs = {
        (d["kind"], d["metadata"]["name"]): d
        for d in yaml.safe_load_all((world.out / f"{ns}.yaml").read_text())
    }
    assert set(docs) == {
        ("ServiceInstance", "db"),
        ("ServiceInstance", "cache"),
        ("ServiceBinding", "db-binding"),
        ("ServiceBinding", "cache-binding"),
    }
    for doc in docs.values():
        assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(doc["metadata"]) == {"name", "namespace"}
        assert "userInfo" not in doc["spec"]
    assert docs[("ServiceInstance", "db")]["spec"] == {
        "clusterServiceClassExternalName": "programmable-db",
        "clusterServicePlanExternalName": "sync",
        "externalID": DB_ID,
        "parameters": DB_PARAMS,
        "updateRequests": 0,
    }
    assert docs[("ServiceInstance", "cache")]["spec"]["parametersFrom"] == [
        {"secretKeyRef": {"name": "cache-params", "key": "params"}}
    ]
    assert "s3cret" not in (world.out / f"{ns}.yaml").read_text()

    # State: ids, plan, checksum as Service Catalog recorded them, the cluster id.
    res = world.resources()
    assert set(res) == {
        f"ServiceInstance/{ns}/db",
        f"ServiceInstance/{ns}/cache",
        f"ServiceBinding/{ns}/db-binding",
        f"ServiceBinding/{ns}/cache-binding",
        f"Secret/{ns}/db-binding-creds",
        f"Secret/{ns}/cache-binding-creds",
    }
    db = res[f"ServiceInstance/{ns}/db"]
    assert (db["instance_id"], db["service_id"], db["plan_id"]) == (DB_ID, SERVICE_ID, SYNC_PLAN_ID)
    assert db["parameters_checksum"] == sc.go_checksum(DB_PARAMS)
    assert db["attributes"]["cluster_id"] == CLUSTER_ID
    cache = res[f"ServiceInstance/{ns}/cache"]
    assert cache["parameters_checksum"] == sc.go_checksum({"tier": "gold", "password": "s3cret"})
    assert cache["sensitive_parameter_keys"] == ["password"]
    assert "s3cret" not in json.dumps(res)
    assert res[f"ServiceBinding/{ns}/db-binding"]["binding_id"] == DB_BINDING_ID
    assert res[f"ServiceBinding/{ns}/cache-binding"]["binding_id"] == CACHE_BINDING_ID

    # Secrets: data intact, catalogctl's marks (binding and state) added, the ownerReference gone.
    lineage = json.loads((world.state / "catalogctl.state.json").read_text())["lineage"]
    for name in ("db-binding", "cache-binding"):
        secret = world.secret(f"{name}-creds")
        assert secret.data == secrets_before[name]
        assert secret.metadata.owner_references is None
        assert secret.metadata.labels["app.kubernetes.io/managed-by"] == "catalogctl"
        assert secret.metadata.annotations["catalogctl.io/owner"] == f"ServiceBinding/{ns}/{name}"
        assert secret.metadata.annotations["catalogctl.io/state-lineage"] == lineage
    assert "s3cret" not in result.stdout + result.stderr

    # Workloads untouched: the only writes in the namespace are the two Secrets adopted.
    web_after = client.AppsV1Api(world.api).read_namespaced_deployment("web", ns)
    assert web_after.metadata.resource_version == web_before.metadata.resource_version
    assert _writes(kube_apiserver, ns, audited) == [
        ("update", "secrets/cache-binding-creds"),
        ("update", "secrets/db-binding-creds"),
    ]

    # Unfinished objects are skipped and reported with what to do, and left out.
    assert f"Skipped ServiceInstance/{ns}/pending: an operation is in progress (Provision)" in (
        result.stderr
    )
    assert f"Skipped ServiceBinding/{ns}/pending-binding" in result.stderr
    assert "pending" not in (world.out / f"{ns}.yaml").read_text()

    # Afterwards: plan shows no changes, drift none, and nothing changes anywhere.
    seen = len(world.broker.requests)
    audited = len(kube_apiserver.audit(ns))
    plan = world.cli("plan", "-f", str(world.out))
    assert plan.exit_code == 0, plan.stderr
    assert "No changes." in plan.stdout
    drift = world.cli("drift", "-f", str(world.out))
    assert drift.exit_code == 0, drift.stdout + drift.stderr
    assert _changing(world, seen) == []
    assert _writes(kube_apiserver, ns, audited) == []


def test_a_second_migration_changes_nothing(world: World) -> None:
    ns = world.ns
    assert world.migrate().exit_code == 0
    state_before = (world.state / "catalogctl.state.json").read_text()
    rv = world.secret("db-binding-creds").metadata.resource_version
    again = world.migrate()
    assert again.exit_code == 0, again.stderr
    assert f"ServiceInstance/{ns}/db: already in the state with the same id" in again.stdout
    assert (world.state / "catalogctl.state.json").read_text() == state_before
    assert world.secret("db-binding-creds").metadata.resource_version == rv


def test_release_removes_finalizers_and_deleting_service_catalog_leaves_the_secrets(
    world: World,
) -> None:
    ns = world.ns
    result = world.migrate("--release")
    assert result.exit_code == 0, result.stderr
    for kind, name in (
        ("ServiceInstance", "db"),
        ("ServiceInstance", "cache"),
        ("ServiceBinding", "db-binding"),
        ("ServiceBinding", "cache-binding"),
    ):
        assert sc.get_object(world.api, kind, ns, name)["metadata"].get("finalizers") in (None, [])
    assert sc.get_object(world.api, "ClusterServiceBroker", None, "prog")["metadata"].get(
        "finalizers"
    ) in (None, [])
    # Unfinished objects keep Service Catalog's finalizer: they are not catalogctl's.
    assert sc.get_object(world.api, "ServiceInstance", ns, "pending")["metadata"]["finalizers"] == [
        sc.FINALIZER
    ]

    data = world.secret("db-binding-creds").data
    for kind, name in (("ServiceBinding", "db-binding"), ("ServiceInstance", "db")):
        sc.delete_object(world.api, kind, ns, name)
        with pytest.raises(ApiException) as gone:
            sc.get_object(world.api, kind, ns, name)
        assert gone.value.status == 404
    # No ownerReference is left for a garbage collector to follow: the Secret stays.
    secret = world.secret("db-binding-creds")
    assert secret.data == data
    assert not secret.metadata.owner_references


def test_without_release_service_catalog_objects_stay_blocked_by_their_finalizer(
    world: World,
) -> None:
    ns = world.ns
    assert world.migrate().exit_code == 0
    sc.delete_object(world.api, "ServiceBinding", ns, "db-binding")
    left = sc.get_object(world.api, "ServiceBinding", ns, "db-binding")
    assert left["metadata"]["deletionTimestamp"]
    assert left["metadata"]["finalizers"] == [sc.FINALIZER]


def test_dry_run_prints_what_it_would_do_and_changes_nothing(world: World) -> None:
    ns = world.ns
    secret_before = world.secret("db-binding-creds")
    seen = len(world.broker.requests)
    result = world.migrate("--dry-run", "--release")
    assert result.exit_code == 0, result.stderr
    assert f"# would write {world.out / (ns + '.yaml')}" in result.stdout
    assert f"externalID: {DB_ID}\n" in result.stdout
    assert result.stdout.index("# would write") < result.stdout.index("would change Secret")
    assert (
        f"would change Secret {ns}/db-binding-creds: add label app.kubernetes.io/managed-by="
        f"catalogctl and annotation catalogctl.io/owner=ServiceBinding/{ns}/db-binding, remove the "
        "ServiceBinding ownerReference (data unchanged)"
    ) in result.stdout
    assert f"would import ServiceInstance/{ns}/db" in result.stdout
    assert (
        f"would remove finalizer kubernetes-incubator/service-catalog from ServiceInstance/{ns}/db"
        in result.stdout
    )
    assert not world.out.exists()
    assert world.resources() == {}
    after = world.secret("db-binding-creds")
    assert after.metadata.resource_version == secret_before.metadata.resource_version
    assert sc.get_object(world.api, "ServiceInstance", ns, "db")["metadata"]["finalizers"] == [
        sc.FINALIZER
    ]
    assert _changing(world, seen) == []


def test_plan_refuses_to_write_service_catalogs_secret_before_any_broker_call(
    world: World,
) -> None:
    """Adopting a binding by hand (YAML + import) must not unbind and rebind it: the plan
    stops at its Service Catalog-owned Secret before asking any broker anything."""
    ns = world.ns
    world.out.mkdir()
    (world.out / "services.yaml").write_text(
        f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: prog
spec:
  url: {world.broker.url}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
  namespace: {ns}
spec:
  clusterServiceClassExternalName: programmable-db
  clusterServicePlanExternalName: sync
  externalID: {DB_ID}
  parameters: {json.dumps(DB_PARAMS)}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata:
  name: db-binding
  namespace: {ns}
spec:
  instanceRef:
    name: db
  externalID: {DB_BINDING_ID}
  secretName: db-binding-creds
"""
    )
    imported = world.cli("import", "-f", str(world.out))
    assert imported.exit_code == 0, imported.stderr
    assert set(world.resources()) == {f"ServiceInstance/{ns}/db", f"ServiceBinding/{ns}/db-binding"}
    again = world.cli("import", "-f", str(world.out))
    assert again.exit_code == 0, again.stderr
    assert f"ServiceBinding/{ns}/db-binding: already in the state with the same id" in again.stdout
    seen = len(world.broker.requests)
    for command in (("plan",), ("apply", "--auto-approve")):
        result = world.cli(*command, "-f", str(world.out))
        assert result.exit_code == 1, result.stdout
        assert (
            f"Secret {ns}/db-binding-creds (for ServiceBinding/{ns}/db-binding) is controlled by "
            f"ServiceBinding {ns}/db-binding (servicecatalog.k8s.io), not catalogctl"
        ) in result.stderr
        assert "take it over with `catalogctl migrate service-catalog`" in result.stderr
        assert "Traceback" not in result.stderr
    assert world.broker.requests[seen:] == []
    assert (DB_ID, DB_BINDING_ID) in world.broker.bindings  # never unbound


def test_import_refuses_an_id_contradicting_the_manifest(world: World) -> None:
    ns = world.ns
    assert world.migrate().exit_code == 0
    other = world.tmp / "other-state"
    result = run_cli(
        "--no-color",
        "import",
        "-f",
        str(world.out),
        f"ServiceInstance/{ns}/db",
        PENDING_ID,
        "--kubeconfig",
        str(world.kubeconfig),
        "--state",
        str(other),
    )
    assert result.exit_code == 1
    assert f"sets spec.externalID {DB_ID}" in result.stderr
    assert f"{ns}.yaml:" in result.stderr


def test_new_instances_keep_service_catalogs_cluster_id_and_namespace_uid(world: World) -> None:
    ns = world.ns
    assert world.migrate().exit_code == 0
    with (world.out / f"{ns}.yaml").open("a") as f:
        f.write(
            "---\napiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceInstance\n"
            f"metadata:\n  name: extra\n  namespace: {ns}\nspec:\n"
            "  clusterServiceClassExternalName: programmable-db\n"
            "  clusterServicePlanExternalName: sync\n"
            "---\napiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceBinding\n"
            f"metadata:\n  name: extra-binding\n  namespace: {ns}\nspec:\n"
            "  instanceRef:\n    name: extra\n"
        )
    seen = len(world.broker.requests)
    result = world.cli("apply", "-f", str(world.out), "--auto-approve")
    assert result.exit_code == 0, result.stderr
    puts = [r for r in world.broker.requests[seen:] if r.method == "PUT"]
    assert len(puts) == 2  # the new instance and its binding; nothing else
    provision, bind = puts
    assert provision.body["context"]["clusterid"] == CLUSTER_ID
    assert provision.body["organization_guid"] == CLUSTER_ID
    assert provision.body["space_guid"] == world.namespace_uid
    assert bind.body["context"]["clusterid"] == CLUSTER_ID
    assert bind.body["app_guid"] == world.namespace_uid
    assert bind.body["bind_resource"] == {"app_guid": world.namespace_uid}


def test_a_saved_plan_is_refused_when_its_secret_was_taken_since(world: World) -> None:
    """Apply never revokes or creates credentials it cannot store: a Secret that appeared
    after the plan was saved stops the apply before any broker request."""
    ns = world.ns
    assert world.migrate().exit_code == 0
    with (world.out / f"{ns}.yaml").open("a") as f:
        f.write(
            "---\napiVersion: servicecatalog.k8s.io/v1beta1\nkind: ServiceBinding\n"
            f"metadata:\n  name: late\n  namespace: {ns}\nspec:\n  instanceRef:\n    name: db\n"
        )
    saved = world.tmp / "plan.json"
    planned = world.cli("plan", "-f", str(world.out), "--out", str(saved))
    assert planned.exit_code == 0, planned.stderr
    client.CoreV1Api(world.api).create_namespaced_secret(
        ns, {"metadata": {"name": "late"}, "stringData": {"who": "someone else"}}
    )
    seen = len(world.broker.requests)
    result = world.cli("apply", str(saved))
    assert result.exit_code == 1
    assert f"Secret {ns}/late (for ServiceBinding/{ns}/late) exists and is not managed" in (
        result.stderr
    )
    assert world.broker.requests[seen:] == []
    assert world.secret("late").data == {"who": "c29tZW9uZSBlbHNl"}
