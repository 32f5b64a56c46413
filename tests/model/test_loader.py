"""From YAML documents to a typed Desired: scopes, defaults, ignored kinds, manifests."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from catalogctl.errors import ValidationFailed
from catalogctl.model.address import Address
from catalogctl.model.base import IGNORED_METADATA_FIELDS
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.desired import Desired
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.loader import load, load_documents
from catalogctl.model.podmappings import PodMapping
from catalogctl.model.source import parse_text
from catalogctl.model.validate import decode_ca_bundle

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = Path(__file__).resolve().parent / "manifests"


def load_text(
    text: str, namespace: str = "default", strict: bool = False
) -> tuple[Desired, list[str]]:
    docs, problems = parse_text(text, "in.yaml")
    desired, more = load_documents(docs, namespace, strict)
    return desired, [p.render() for p in sorted(problems + more)]


INSTANCE = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
{namespace}spec:
  clusterServiceClassExternalName: postgres
"""


def test_namespace_defaults_from_the_namespace_option() -> None:
    desired, problems = load_text(INSTANCE.format(namespace=""), namespace="team-a")
    assert problems == []
    assert list(desired.resources) == [Address("ServiceInstance", "team-a", "db")]
    explicit, _ = load_text(INSTANCE.format(namespace="  namespace: apps\n"), namespace="team-a")
    assert list(explicit.resources) == [Address("ServiceInstance", "apps", "db")]


def test_cluster_scoped_broker_has_no_namespace_whatever_the_option() -> None:
    text = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata: {name: b}
spec: {url: "http://b"}
"""
    desired, problems = load_text(text, namespace="team-a")
    assert problems == []
    (address,) = desired.resources
    assert address == Address("ClusterServiceBroker", "", "b")
    assert str(address) == "ClusterServiceBroker/b"


def test_other_kinds_are_listed_as_ignored_and_strict_kinds_rejects_them() -> None:
    text = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: apps}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServicePlan
metadata: {name: p}
---
apiVersion: services.cloud.sap.com/v1
kind: ServiceInstance
metadata: {name: not-ours}
"""
    desired, problems = load_text(text)
    assert problems == []
    assert len(desired) == 0
    assert [(o.line, o.api_version, o.kind, o.name) for o in desired.ignored] == [
        (1, "apps/v1", "Deployment", "web"),
        (5, "servicecatalog.k8s.io/v1beta1", "ClusterServicePlan", "p"),
        (9, "services.cloud.sap.com/v1", "ServiceInstance", "not-ours"),
    ]
    strict, problems = load_text(text, strict=True)
    # Kinds generated from broker catalogs are still skipped under --strict-kinds.
    assert [p.split(": ")[1] for p in problems] == [
        "Deployment/apps/web",
        "ServiceInstance/not-ours",
    ]
    assert [o.kind for o in strict.ignored] == ["ClusterServicePlan"]


def test_status_and_server_managed_metadata_are_accepted_and_ignored() -> None:
    meta = "\n".join(f"  {name}: x" for name in IGNORED_METADATA_FIELDS)
    text = f"""\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: db
{meta}
spec:
  clusterServiceClassExternalName: postgres
  clusterServiceClassRef: {{name: abc}}
  userInfo: {{username: admin}}
status:
  anything: [goes, here]
"""
    desired, problems = load_text(text)
    assert problems == []
    assert len(desired) == 1


def test_manifest_files_load_unchanged_with_their_values() -> None:
    desired, problems = load_documents(parse_text((MANIFESTS / "brokers.yaml").read_text(), "b")[0])
    assert problems == []
    cloud = desired.resources[Address("ClusterServiceBroker", "", "cloud-broker")].obj
    assert isinstance(cloud, Broker)
    assert cloud.cluster_scoped
    assert cloud.broker_api_version == "2.14"
    assert cloud.spec.auth_info is not None and cloud.spec.auth_info.basic is not None
    assert cloud.spec.auth_info.basic.secret_ref.namespace == "brokers"
    assert cloud.spec.catalog_restrictions is not None
    assert cloud.spec.catalog_restrictions.service_plan == [
        "spec.free=true",
        "spec.clusterServiceClass.name notin (legacy)",
    ]
    assert cloud.spec.ca_bundle is not None
    pem = decode_ca_bundle(cloud.spec.ca_bundle)
    assert pem is not None and pem.startswith(b"-----BEGIN CERTIFICATE-----")
    team = desired.resources[Address("ServiceBroker", "team-a", "team-broker")].obj
    assert isinstance(team, Broker) and not team.cluster_scoped
    assert team.spec.relist_behavior == "Manual" and team.spec.insecure_skip_tls_verify


def test_every_selector_form_loads() -> None:
    desired = load([str(MANIFESTS / "instances.yaml"), str(MANIFESTS / "brokers.yaml")])
    selectors = {
        res.address.name: {
            k: v
            for k, v in inst.spec.model_dump(by_alias=True).items()
            if v is not None and ("Class" in k or "Plan" in k)
        }
        for res, inst in desired.of_type(ServiceInstance)
    }
    assert selectors["pg-by-external-id"] == {
        "clusterServiceClassExternalID": "4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468",
        "clusterServicePlanExternalID": "86064792-7ea2-467b-af93-ac9694d96d52",
    }
    assert selectors["cache-by-k8s-name"] == {
        "serviceClassName": "team-cache-id",
        "servicePlanName": "team-cache-default-id",
    }
    assert selectors["ups"] == {"clusterServiceClassExternalName": "user-provided-service"}
    assert len(selectors) == 7


def test_binding_with_every_secret_transform_in_order() -> None:
    desired = load([str(MANIFESTS)])
    res = desired.resources[Address("ServiceBinding", "team-a", "pg-binding")]
    binding = res.obj
    assert isinstance(binding, ServiceBinding)
    assert binding.effective_secret_name == "pg-credentials"
    kinds = [
        next(k for k, v in t.model_dump(by_alias=True).items() if v is not None)
        for t in binding.spec.secret_transforms
    ]
    assert kinds == ["renameKey", "addKey", "addKey", "addKey", "addKeysFrom", "removeKey"]
    assert binding.spec.secret_transforms[0].rename_key is not None
    assert binding.spec.secret_transforms[0].rename_key.from_ == "uri"
    add = binding.spec.secret_transforms[2].add_key
    assert add is not None and add.value is not None
    assert base64.b64decode(add.value) == b"broker-ca"
    defaulted = desired.resources[Address("ServiceBinding", "team-a", "ups-binding")].obj
    assert isinstance(defaulted, ServiceBinding)
    assert defaulted.effective_secret_name == "ups-binding"
    mapping = desired.resources[Address("PodMapping", "team-a", "api-pg")].obj
    assert isinstance(mapping, PodMapping)
    assert mapping.spec.volume is not None and mapping.spec.volume.default_mode == 0o400
    # Exported objects and ignored kinds come along in the same directory.
    assert Address("ServiceBinding", "team-a", "exported-binding") in desired.resources
    assert [o.kind for o in desired.ignored] == ["ClusterServiceClass", "Secret"]


@pytest.mark.parametrize("path", ["examples", "examples/walkthrough/walkthrough.yaml"])
def test_examples_load(path: str) -> None:
    desired = load([str(REPO / path)])
    assert Address("ServiceBinding", "test-ns", "ups-binding") in desired.resources


def test_load_raises_every_problem_sorted() -> None:
    with pytest.raises(ValidationFailed) as info:
        load([str(REPO / "tests" / "corpus" / "multiple_problems.yaml")])
    problems = info.value.problems
    assert [(p.line, p.field) for p in problems] == [
        (9, "spec.secretName"),
        (16, "spec.url"),
        (17, "spec.relistDuration"),
        (25, "spec.parameter"),
    ]
    assert str(info.value) == "4 problems found"


def test_an_invalid_resource_is_still_known_to_references() -> None:
    """A binding naming an instance that failed schema validation gets no second,
    misleading 'not in the input' problem."""
    text = INSTANCE.format(namespace="") + """\
  planName: typo
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {name: db}
spec:
  instanceRef: {name: db}
"""
    desired, problems = load_text(text)
    assert problems == [
        "in.yaml:7:3: ServiceInstance/default/db: spec.planName: unknown field (did you mean "
        "'clusterServicePlanExternalName'? planName is its name in earlier Service Catalog APIs)"
    ]
    assert desired.declares(Address("ServiceInstance", "default", "db"))
    assert Address("ServiceInstance", "default", "db") not in desired.resources


def test_duplicates_across_files_name_the_first_file(tmp_path: Path) -> None:
    first = tmp_path / "a.yaml"
    second = tmp_path / "b.yaml"
    first.write_text(INSTANCE.format(namespace="  namespace: apps\n"))
    second.write_text("# again\n" + INSTANCE.format(namespace="  namespace: apps\n"))
    with pytest.raises(ValidationFailed) as info:
        load([str(tmp_path)])
    assert [p.render() for p in info.value.problems] == [
        f"{second}:5:3: ServiceInstance/apps/db: metadata.name: "
        f"duplicate resource (first defined at {first}:1)"
    ]


def test_a_duplicate_is_reported_even_when_the_first_copy_is_invalid() -> None:
    text = INSTANCE.format(namespace="") + "  plan: typo\n---\n" + INSTANCE.format(namespace="")
    _, problems = load_text(text)
    assert problems == [
        "in.yaml:7:3: ServiceInstance/default/db: spec.plan: unknown field",
        "in.yaml:12:3: ServiceInstance/default/db: metadata.name: "
        "duplicate resource (first defined at in.yaml:1)",
    ]
