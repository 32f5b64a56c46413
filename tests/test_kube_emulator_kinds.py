"""Kind-specific behaviour: Secrets and ConfigMaps, Leases as locks, the five workload kinds with
their status subresource, and custom resources (servicecatalog.k8s.io plus CRD registration)."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from tests.fixtures.kube import KubeEmulator

ApiException = client.ApiException
SC = ("servicecatalog.k8s.io", "v1beta1")


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    return json.loads(exc.value.body)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def api(kube_emulator: KubeEmulator) -> client.ApiClient:
    return kube_emulator.api_client()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def custom(api: client.ApiClient) -> client.CustomObjectsApi:
    return client.CustomObjectsApi(api)


# --- Secrets and ConfigMaps ------------------------------------------------------------------


def test_secret_string_data_is_folded_into_data(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret("default", {
        "metadata": {"name": "s"}, "data": {"a": b64("from-data"), "b": b64("old")},
        "stringData": {"b": "new", "c": "plain"}})
    assert created.data == {"a": b64("from-data"), "b": b64("new"), "c": b64("plain")}
    assert created.string_data is None
    assert created.type == "Opaque"
    patched = core.patch_namespaced_secret("s", "default", {"stringData": {"d": "x"}})
    assert patched.data["d"] == b64("x") and patched.string_data is None


@pytest.mark.parametrize(("value", "offset"), [
    ("My-pass-123", 2),  # offsets as kubectl users report them from real clusters
    ("andrii", 4),
    ('{"mypass": 1}', 0),
])
def test_secret_invalid_base64_is_bad_request(kube_emulator: KubeEmulator, value: str,
                                              offset: int) -> None:
    api = kube_emulator.api_client()
    resp = api.call_api("POST", kube_emulator.url + "/api/v1/namespaces/default/secrets",
                        body={"metadata": {"name": "s"}, "data": {"k": value}})
    assert resp.status == 400
    body = json.loads(resp.read())
    assert body["reason"] == "BadRequest"
    assert body["message"] == ('Secret in version "v1" cannot be handled as a Secret: '
                               f"illegal base64 data at input byte {offset}")


def test_secret_key_names_are_validated(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", {"metadata": {"name": "s"},
                                                  "stringData": {"bad key": "v"}})
    assert exc.value.status == 422
    assert status_of(exc)["message"].startswith(
        'Secret "s" is invalid: data[bad key]: Invalid value: "bad key": a valid config key must '
        "consist of alphanumeric characters")


def test_tls_secret_requires_its_keys(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", {"metadata": {"name": "tls"},
                                                  "type": "kubernetes.io/tls"})
    assert status_of(exc)["message"] == (
        'Secret "tls" is invalid: [data[tls.crt]: Required value, data[tls.key]: Required value]')


def test_immutable_secret_rejects_data_changes(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "im"}, "immutable": True,
                                              "stringData": {"k": "v"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_secret("im", "default", {"stringData": {"k": "changed"}})
    assert exc.value.status == 422
    body = status_of(exc)
    assert body["message"] == (
        'Secret "im" is invalid: data: Forbidden: field is immutable when `immutable` is set')
    assert body["details"]["causes"] == [{"reason": "FieldValueForbidden", "message":
                                          "Forbidden: field is immutable when `immutable` is set",
                                          "field": "data"}]
    labelled = core.patch_namespaced_secret("im", "default", {"metadata": {"labels": {"a": "b"}}})
    assert labelled.metadata.labels == {"a": "b"}
    core.delete_namespaced_secret("im", "default")


def test_secret_type_is_immutable(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "t"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_secret("t", "default", {"type": "example.com/other"})
    assert status_of(exc)["message"] == (
        'Secret "t" is invalid: type: Invalid value: "example.com/other": field is immutable')


def test_configmap_data_and_binary_data(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", {
        "metadata": {"name": "cm"}, "data": {"a": "1"}, "binaryData": {"b": b64("\x00\x01")}})
    assert created.data == {"a": "1"} and created.binary_data == {"b": b64("\x00\x01")}
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {
            "metadata": {"name": "dup"}, "data": {"a": "1"}, "binaryData": {"a": b64("x")}})
    assert status_of(exc)["message"] == (
        'ConfigMap "dup" is invalid: data[a]: Invalid value: "a": duplicate of key present in '
        "binaryData")
    core.patch_namespaced_config_map("cm", "default", {"immutable": True})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("cm", "default", {"data": {"a": "2"}})
    assert exc.value.status == 422


# --- Leases ----------------------------------------------------------------------------------


def lease(name: str, holder: str) -> dict[str, Any]:
    return {"metadata": {"name": name},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 15}}


def test_lease_create_conflicts_and_replace_needs_current_version(
        api: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api)
    first = coord.create_namespaced_lease("default", lease("lock", "a"))
    assert first.spec.holder_identity == "a"
    with pytest.raises(ApiException) as exc:
        coord.create_namespaced_lease("default", lease("lock", "b"))
    assert exc.value.status == 409
    assert status_of(exc)["message"] == 'leases.coordination.k8s.io "lock" already exists'
    first.spec.holder_identity = "a2"
    renewed = coord.replace_namespaced_lease("lock", "default", first)
    first.spec.holder_identity = "stale"
    with pytest.raises(ApiException) as exc:
        coord.replace_namespaced_lease("lock", "default", first)
    assert exc.value.status == 409
    assert status_of(exc)["details"] == {"name": "lock", "group": "coordination.k8s.io",
                                         "kind": "leases"}
    assert coord.read_namespaced_lease("lock", "default").spec.holder_identity == "a2"
    assert renewed.metadata.resource_version != first.metadata.resource_version


def test_lease_replace_without_resource_version_is_invalid(api: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api)
    coord.create_namespaced_lease("default", lease("lock", "a"))
    with pytest.raises(ApiException) as exc:
        coord.replace_namespaced_lease("lock", "default", lease("lock", "b"))
    assert exc.value.status == 422
    assert status_of(exc)["message"] == (
        'leases.coordination.k8s.io "lock" is invalid: metadata.resourceVersion: Invalid value: '
        "0x0: must be specified for an update")


def test_lease_can_be_created_by_put(kube_emulator: KubeEmulator,
                                     api: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(api)
    made = coord.replace_namespaced_lease("fresh", "default", lease("fresh", "a"))
    assert kube_emulator.requests[-1].status == 201
    assert made.metadata.uid


def test_official_lease_lock_acquires_and_renews(api: client.ApiClient) -> None:
    lock = LeaseLock("leader", "default", "me")
    lock.api_instance = client.CoordinationV1Api(api)
    record = LeaderElectionRecord("me", "15", "2026-01-01 00:00:00.000000",
                                  "2026-01-01 00:00:00.000000")
    assert lock.create("leader", "default", record) is True
    found, current = lock.get("leader", "default")
    assert found and current.holder_identity == "me"
    record.renew_time = "2026-01-01 00:00:05.000000"
    assert lock.update("leader", "default", record) is True
    # update() does not keep the replace response, so a second renewal from the same stale
    # reference conflicts, exactly as on a cluster; the election loop re-reads first.
    assert lock.update("leader", "default", record) is False
    assert lock.get("leader", "default")[0] is True
    assert lock.update("leader", "default", record) is True
    rival = LeaseLock("leader", "default", "rival")
    rival.api_instance = client.CoordinationV1Api(api)
    taken = LeaderElectionRecord("rival", "15", record.acquire_time, record.renew_time)
    assert rival.create("leader", "default", taken) is False


def test_racing_lease_creators_have_exactly_one_winner(kube_emulator: KubeEmulator) -> None:
    results: list[int] = []
    barrier = threading.Barrier(8)

    def contend(who: int) -> None:
        coord = client.CoordinationV1Api(kube_emulator.api_client())
        barrier.wait()
        try:
            coord.create_namespaced_lease("default", lease("race", f"h{who}"))
            results.append(201)
        except ApiException as exc:
            results.append(exc.status)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201] + [409] * 7


# --- workloads and the status subresource ----------------------------------------------------


def pod_template(app: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}],
                     "restartPolicy": "Never"}}


WORKLOADS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # plural: (api class, method suffix, spec)
    "deployments": ("AppsV1Api", "deployment",
                    {"selector": {"matchLabels": {"app": "w"}}, "template": pod_template("w")}),
    "statefulsets": ("AppsV1Api", "stateful_set",
                     {"selector": {"matchLabels": {"app": "w"}}, "serviceName": "w",
                      "template": pod_template("w")}),
    "daemonsets": ("AppsV1Api", "daemon_set",
                   {"selector": {"matchLabels": {"app": "w"}}, "template": pod_template("w")}),
    "jobs": ("BatchV1Api", "job", {"template": pod_template("w")}),
    "cronjobs": ("BatchV1Api", "cron_job",
                 {"schedule": "*/5 * * * *",
                  "jobTemplate": {"spec": {"template": pod_template("w")}}}),
}

_DS_COUNTERS = {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                "desiredNumberScheduled": 0, "numberReady": 0}


def status_with(plural: str, marker: int) -> dict[str, Any]:
    """A status body valid for the kind that carries ``marker`` in one field."""
    if plural == "jobs":
        return {"active": marker}
    if plural == "cronjobs":
        return {"lastSuccessfulTime": f"2026-01-01T00:00:{marker:02d}Z"}
    extra = {"statefulsets": {"replicas": 0}, "daemonsets": _DS_COUNTERS}.get(plural, {})
    return {**extra, "observedGeneration": marker}


def marker_of(plural: str, status: Any) -> int | None:
    if status is None:
        return None
    if plural == "jobs":
        return status.active
    if plural == "cronjobs":
        when = status.last_successful_time
        return None if when is None else when.second
    return status.observed_generation


@pytest.mark.parametrize("plural", sorted(WORKLOADS))
def test_workload_crud_and_status_separation(api: client.ApiClient, plural: str) -> None:
    cls, suffix, spec = WORKLOADS[plural]
    wl = getattr(client, cls)(api)

    def call(verb: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(wl, f"{verb}_namespaced_{suffix}")(*args, **kwargs)

    created = call("create", "default", {"metadata": {"name": "w"}, "spec": spec,
                                         "status": status_with(plural, 42)})
    assert created.metadata.generation == 1
    assert marker_of(plural, created.status) is None  # create cannot set status
    # PATCH on the main resource ignores .status ...
    call("patch", "w", "default", {"metadata": {"labels": {"a": "b"}},
                                   "status": status_with(plural, 7)})
    assert marker_of(plural, call("read", "w", "default").status) is None
    # ... and PATCH on /status ignores everything else.
    on_status = getattr(wl, f"patch_namespaced_{suffix}_status")(
        "w", "default", {"metadata": {"labels": {"ignored": "yes"}},
                         "status": status_with(plural, 1)})
    assert marker_of(plural, on_status.status) == 1
    assert on_status.metadata.labels == {"a": "b"}
    # PUT on the main resource keeps the stored status.
    current = api.sanitize_for_serialization(call("read", "w", "default"))
    current["metadata"]["labels"] = {"x": "y"}
    current["status"] = status_with(plural, 9)
    replaced = call("replace", "w", "default", current)
    assert marker_of(plural, replaced.status) == 1
    assert replaced.metadata.labels == {"x": "y"}
    assert marker_of(plural, getattr(wl, f"read_namespaced_{suffix}_status")(
        "w", "default").status) == 1
    listed = getattr(wl, f"list_namespaced_{suffix}")("default").items
    assert [i.metadata.name for i in listed] == ["w"]
    assert [i.metadata.name for i in getattr(wl, f"list_{suffix}_for_all_namespaces")().items] \
        == ["w"]
    call("delete", "w", "default")
    assert getattr(wl, f"list_namespaced_{suffix}")("default").items == []


def test_status_put_replaces_only_status(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    _, _, spec = WORKLOADS["deployments"]
    apps.create_namespaced_deployment("default", {"metadata": {"name": "d"}, "spec": spec})
    current = apps.read_namespaced_deployment("d", "default")
    current.spec.replicas = 5
    current.status.ready_replicas = 2
    updated = apps.replace_namespaced_deployment_status("d", "default", current)
    assert updated.status.ready_replicas == 2
    assert updated.spec.replicas == 1  # the defaulted value; the /status write's 5 is ignored
    assert updated.metadata.generation == 1


def test_daemonset_and_statefulset_status_have_required_counters(api: client.ApiClient) -> None:
    apps = client.AppsV1Api(api)
    ds = apps.create_namespaced_daemon_set("default", {"metadata": {"name": "ds"},
                                                       "spec": WORKLOADS["daemonsets"][2]})
    assert ds.status.number_ready == 0 and ds.status.desired_number_scheduled == 0
    sts = apps.create_namespaced_stateful_set("default", {"metadata": {"name": "s"},
                                                          "spec": WORKLOADS["statefulsets"][2]})
    assert sts.status.replicas == 0


# --- custom resources ------------------------------------------------------------------------


def instance(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "servicecatalog.k8s.io/v1beta1", "kind": "ServiceInstance",
            "metadata": {"name": name}, "spec": spec}


def test_service_catalog_types_are_preloaded(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    names = [c.metadata.name for c in ext.list_custom_resource_definition().items]
    assert names == [f"{p}.servicecatalog.k8s.io" for p in (
        "clusterservicebrokers", "clusterserviceclasses", "clusterserviceplans",
        "servicebindings", "serviceinstances")]


def test_namespaced_custom_resource_lifecycle(custom: client.CustomObjectsApi) -> None:
    made = custom.create_namespaced_custom_object(*SC, "default", "serviceinstances",
                                                  instance("db", plan="small"))
    assert made["metadata"]["generation"] == 1 and made["kind"] == "ServiceInstance"
    got = custom.get_namespaced_custom_object(*SC, "default", "serviceinstances", "db")
    assert got["spec"] == {"plan": "small"}
    patched = custom.patch_namespaced_custom_object(*SC, "default", "serviceinstances", "db",
                                                    {"spec": {"plan": "large"}})
    assert patched["metadata"]["generation"] == 2
    listed = custom.list_namespaced_custom_object(*SC, "default", "serviceinstances")
    assert listed["kind"] == "ServiceInstanceList"
    assert listed["items"][0]["kind"] == "ServiceInstance"
    deleted = custom.delete_namespaced_custom_object(*SC, "default", "serviceinstances", "db")
    assert deleted["metadata"]["name"] == "db"
    with pytest.raises(ApiException) as exc:
        custom.get_namespaced_custom_object(*SC, "default", "serviceinstances", "db")
    assert status_of(exc)["message"] == 'serviceinstances.servicecatalog.k8s.io "db" not found'
    assert status_of(exc)["details"] == {"name": "db", "group": "servicecatalog.k8s.io",
                                         "kind": "serviceinstances"}


def test_custom_resource_status_subresource(custom: client.CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(*SC, "default", "serviceinstances",
                                           {**instance("db"), "status": {"ready": True}})
    got = custom.get_namespaced_custom_object(*SC, "default", "serviceinstances", "db")
    assert "status" not in got
    custom.patch_namespaced_custom_object_status(
        *SC, "default", "serviceinstances", "db",
        {"spec": {"ignored": True}, "status": {"provisionStatus": "Provisioned"}})
    got = custom.get_namespaced_custom_object(*SC, "default", "serviceinstances", "db")
    assert got["status"] == {"provisionStatus": "Provisioned"} and got["spec"] == {}
    got["spec"] = {"plan": "p"}
    got["status"] = {"provisionStatus": "Ignored"}
    replaced = custom.replace_namespaced_custom_object(*SC, "default", "serviceinstances", "db",
                                                       got)
    assert replaced["status"] == {"provisionStatus": "Provisioned"}
    assert replaced["metadata"]["generation"] == 2


def test_custom_resource_put_requires_resource_version(custom: client.CustomObjectsApi) -> None:
    custom.create_namespaced_custom_object(*SC, "default", "serviceinstances", instance("db"))
    with pytest.raises(ApiException) as exc:
        custom.replace_namespaced_custom_object(*SC, "default", "serviceinstances", "db",
                                                instance("db"))
    assert exc.value.status == 422
    assert status_of(exc)["message"] == (
        'serviceinstances.servicecatalog.k8s.io "db" is invalid: metadata.resourceVersion: '
        "Invalid value: 0x0: must be specified for an update")


def test_cluster_scoped_custom_resources(custom: client.CustomObjectsApi) -> None:
    broker = {"apiVersion": "servicecatalog.k8s.io/v1beta1", "kind": "ClusterServiceBroker",
              "metadata": {"name": "osb"}, "spec": {"url": "http://broker"}}
    made = custom.create_cluster_custom_object(*SC, "clusterservicebrokers", broker)
    assert "namespace" not in made["metadata"]
    plans = custom.list_cluster_custom_object(*SC, "clusterserviceplans")
    assert plans["items"] == []
    custom.delete_cluster_custom_object(*SC, "clusterservicebrokers", "osb")
    assert custom.list_cluster_custom_object(*SC, "clusterservicebrokers")["items"] == []


def test_creating_a_crd_serves_its_versions_and_deleting_it_removes_them(
        api: client.ApiClient, custom: client.CustomObjectsApi) -> None:
    ext = client.ApiextensionsV1Api(api)
    crd = ext.create_custom_resource_definition({
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
                 "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                 "versions": [{"name": "v1", "served": True, "storage": True,
                               "schema": {"openAPIV3Schema": {"type": "object"}}}]}})
    conditions = {c.type: c.status for c in crd.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    w = custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", {
        "apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
        "status": {"kept": True}})
    assert w["status"] == {"kept": True}  # no status subresource declared: status is ordinary
    ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as exc:
        custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert exc.value.status == 404


def test_crd_name_must_match_names_and_group(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    with pytest.raises(ApiException) as exc:
        ext.create_custom_resource_definition({
            "metadata": {"name": "wrong"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "widgets", "kind": "Widget"},
                     "versions": [{"name": "v1", "served": True, "storage": True}]}})
    assert exc.value.status == 422
    assert status_of(exc)["message"] == (
        'CustomResourceDefinition.apiextensions.k8s.io "wrong" is invalid: metadata.name: '
        'Invalid value: "wrong": must be spec.names.plural+"."+spec.group')


def test_secret_larger_than_one_mebibyte_is_invalid(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", {"metadata": {"name": "big"},
                                                  "stringData": {"blob": "x" * (1024 * 1024)}})
    assert status_of(exc)["message"] == (
        'Secret "big" is invalid: data: Too long: must have at most 1048576 bytes')


def test_deleting_a_crd_returns_it(api: client.ApiClient) -> None:
    ext = client.ApiextensionsV1Api(api)
    gone = ext.delete_custom_resource_definition("servicebindings.servicecatalog.k8s.io")
    assert gone["kind"] == "CustomResourceDefinition"
    assert gone["metadata"]["name"] == "servicebindings.servicecatalog.k8s.io"
