"""The pure half of the Service Catalog migration: which objects are taken over, and the YAML."""

from __future__ import annotations

from typing import Any

import yaml

from catalogctl.engine.sc_export import CLUSTER_FILE, Inventory, export_desired

API = "servicecatalog.k8s.io/v1beta1"


def _instance(name: str, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "ServiceInstance",
        "metadata": {
            "name": name,
            "namespace": "apps",
            "uid": "u-" + name,
            "resourceVersion": "7",
            "finalizers": ["kubernetes-incubator/service-catalog"],
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "team": "db",
            },
        },
        "spec": {
            "clusterServiceClassName": "svc-1",
            "clusterServicePlanName": "plan-1",
            "clusterServiceClassRef": {"name": "svc-1"},
            "externalID": "id-" + name,
            "userInfo": {"username": "admin"},
        },
        "status": {"provisionStatus": "Provisioned", **status},
    }


def _catalog_objects() -> tuple[dict[str, Any], ...]:
    return (
        {
            "apiVersion": API,
            "kind": "ClusterServiceClass",
            "metadata": {"name": "svc-1"},
            "spec": {"externalName": "postgres", "externalID": "svc-1"},
        },
        {
            "apiVersion": API,
            "kind": "ClusterServicePlan",
            "metadata": {"name": "plan-1"},
            "spec": {"externalName": "small", "externalID": "plan-1"},
        },
    )


def test_kubernetes_name_selectors_become_external_names_and_managed_fields_go() -> None:
    export = export_desired(
        Inventory(
            classes=_catalog_objects()[:1],
            plans=_catalog_objects()[1:],
            instances=(_instance("db"),),
        )
    )
    (doc,) = yaml.safe_load_all(export.files["apps.yaml"])
    assert doc == {
        "apiVersion": API,
        "kind": "ServiceInstance",
        "metadata": {"name": "db", "namespace": "apps", "annotations": {"team": "db"}},
        "spec": {
            "clusterServiceClassExternalName": "postgres",
            "clusterServicePlanExternalName": "small",
            "externalID": "id-db",
        },
    }
    assert CLUSTER_FILE not in export.files


def test_unfinished_instances_are_skipped_with_what_to_do_and_not_written() -> None:
    deleting = _instance("deleting")
    deleting["metadata"]["deletionTimestamp"] = "2021-04-01T10:00:00Z"
    export = export_desired(
        Inventory(
            instances=(
                _instance("ok"),
                deleting,
                _instance("mitigating", orphanMitigationInProgress=True),
                _instance("updating", currentOperation="Update"),
                _instance(
                    "failed",
                    provisionStatus="NotProvisioned",
                    conditions=[
                        {"type": "Failed", "status": "True", "reason": "ProvisionCallFailed"}
                    ],
                ),
            )
        )
    )
    assert [i["metadata"]["name"] for i in export.instances] == ["ok"]
    why = {s.address: s.why for s in export.skipped}
    assert why == {
        "ServiceInstance/apps/deleting": (
            "it is being deleted (Service Catalog would deprovision it)"
        ),
        "ServiceInstance/apps/mitigating": "orphan mitigation is in progress",
        "ServiceInstance/apps/updating": "an operation is in progress (Update)",
        "ServiceInstance/apps/failed": "it is not provisioned (ProvisionCallFailed)",
    }
    assert all(s.todo for s in export.skipped)
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(export.files["apps.yaml"])]
    assert names == ["ok"]


def test_a_binding_of_a_skipped_instance_is_skipped() -> None:
    binding = {
        "apiVersion": API,
        "kind": "ServiceBinding",
        "metadata": {"name": "b", "namespace": "apps"},
        "spec": {"instanceRef": {"name": "updating"}, "externalID": "bid"},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    export = export_desired(
        Inventory(instances=(_instance("updating", asyncOpInProgress=True),), bindings=(binding,))
    )
    assert export.bindings == []
    assert [s.address for s in export.skipped] == [
        "ServiceInstance/apps/updating",
        "ServiceBinding/apps/b",
    ]


def test_a_class_several_brokers_offer_is_qualified_with_the_broker_it_was_picked_from() -> None:
    other = {
        "apiVersion": API,
        "kind": "ClusterServiceClass",
        "metadata": {"name": "svc-2"},
        "spec": {
            "externalName": "postgres",
            "externalID": "svc-2",
            "clusterServiceBrokerName": "b",
        },
    }
    ours = dict(_catalog_objects()[0])
    ours["spec"] = {**ours["spec"], "clusterServiceBrokerName": "a"}
    export = export_desired(
        Inventory(classes=(ours, other), plans=_catalog_objects()[1:], instances=(_instance("db"),))
    )
    (doc,) = yaml.safe_load_all(export.files["apps.yaml"])
    assert doc["spec"]["clusterServiceClassExternalName"] == "a/postgres"
    assert doc["spec"]["clusterServicePlanExternalName"] == "small"


def test_namespaced_brokers_go_to_their_namespace_file_and_cluster_brokers_to_their_own() -> None:
    brokers = (
        {
            "apiVersion": API,
            "kind": "ClusterServiceBroker",
            "metadata": {"name": "shared", "finalizers": ["kubernetes-incubator/service-catalog"]},
            "spec": {"url": "https://shared.example"},
            "status": {"conditions": []},
        },
        {
            "apiVersion": API,
            "kind": "ServiceBroker",
            "metadata": {"name": "team", "namespace": "apps"},
            "spec": {
                "url": "https://team.example",
                "authInfo": {"bearer": {"secretRef": {"name": "t"}}},
            },
        },
    )
    export = export_desired(Inventory(brokers=brokers))
    assert yaml.safe_load(export.files[CLUSTER_FILE]) == {
        "apiVersion": API,
        "kind": "ClusterServiceBroker",
        "metadata": {"name": "shared"},
        "spec": {"url": "https://shared.example"},
    }
    assert yaml.safe_load(export.files["apps.yaml"])["spec"]["authInfo"] == {
        "bearer": {"secretRef": {"name": "t"}}
    }
