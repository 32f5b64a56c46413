"""PATCH dialects on the emulator: JSON merge patch, JSON patch, strategic merge patch (with the
merge keys catalogctl relies on when wiring Secrets into pod templates) and server-side apply."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeEmulator

ApiException = client.ApiException
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
SMP = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    return json.loads(exc.value.body)


@pytest.fixture
def api(kube_emulator: KubeEmulator) -> client.ApiClient:
    return kube_emulator.api_client()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


def pod_spec() -> dict[str, Any]:
    return {
        "initContainers": [{"name": "init", "image": "busybox", "args": ["a"]}],
        "containers": [
            {"name": "app", "image": "app:1",
             "env": [{"name": "LOG", "value": "info"}, {"name": "OLD", "value": "x"}],
             "envFrom": [{"configMapRef": {"name": "base"}}],
             "ports": [{"containerPort": 8080, "name": "http"}],
             "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]},
            {"name": "sidecar", "image": "proxy:1", "env": [{"name": "MODE", "value": "tcp"}],
             "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]},
        ],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "imagePullSecrets": [{"name": "registry"}],
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "nodeSelector": {"disk": "ssd", "zone": "a"},
    }


def make_deployment(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment("default", {
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod_spec()}},
    })


def template_spec(apps: client.AppsV1Api, api: client.ApiClient) -> dict[str, Any]:
    dep = apps.read_namespaced_deployment("web", "default")
    spec: dict[str, Any] = api.sanitize_for_serialization(dep.spec.template.spec)
    return spec


def containers(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in spec["containers"]}


def user_fields(container: dict[str, Any]) -> dict[str, Any]:
    """A container without the fields the server defaults."""
    defaulted = {"imagePullPolicy", "resources", "terminationMessagePath",
                 "terminationMessagePolicy"}
    return {k: v for k, v in container.items() if k not in defaulted}


def smp(apps: client.AppsV1Api, pod: dict[str, Any]) -> None:
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": pod}}},
                                     _content_type=SMP)


# --- strategic merge patch -------------------------------------------------------------------


def test_smp_wires_a_secret_into_one_container_without_disturbing_others(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    before = template_spec(apps, api)
    smp(apps, {
        "containers": [{
            "name": "app",
            "env": [{"name": "DB_PASSWORD",
                     "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
            "envFrom": [{"secretRef": {"name": "db-all"}}],
            "volumeMounts": [{"name": "db-creds", "mountPath": "/etc/db", "readOnly": True}],
        }],
        "volumes": [{"name": "db-creds", "secret": {"secretName": "db"}}],
    })
    spec = template_spec(apps, api)
    app, sidecar = containers(spec)["app"], containers(spec)["sidecar"]
    assert [e["name"] for e in app["env"]] == ["LOG", "OLD", "DB_PASSWORD"]
    assert app["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password"}}
    assert app["envFrom"] == [{"secretRef": {"name": "db-all"}}]  # no merge key: replaced
    assert [m["mountPath"] for m in app["volumeMounts"]] == ["/cache", "/etc/db"]
    assert app["image"] == "app:1"
    assert app["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert sidecar == containers(before)["sidecar"]
    assert spec["volumes"] == [{"name": "cache", "emptyDir": {}},
                               {"name": "db-creds", "secret": {"secretName": "db",
                                                               "defaultMode": 420}}]
    assert spec["initContainers"] == before["initContainers"]
    assert spec["imagePullSecrets"] == [{"name": "registry"}]
    assert {k: v for k, v in spec.items() if k not in ("containers", "volumes")} == {
        k: v for k, v in before.items() if k not in ("containers", "volumes")}


def test_smp_updates_entries_in_place_by_merge_key(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    smp(apps, {
        "containers": [{"name": "app", "env": [{"name": "LOG", "value": "debug"}],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "volumeMounts": [{"mountPath": "/cache", "name": "cache",
                                          "readOnly": True}]}],
        "initContainers": [{"name": "init", "image": "busybox:2"}],
        "imagePullSecrets": [{"name": "other"}],
    })
    spec = template_spec(apps, api)
    app = containers(spec)["app"]
    assert app["env"] == [{"name": "LOG", "value": "debug"}, {"name": "OLD", "value": "x"}]
    assert app["ports"] == [{"containerPort": 8080, "name": "http", "protocol": "TCP"}]
    assert app["volumeMounts"] == [{"name": "cache", "mountPath": "/cache", "readOnly": True}]
    assert user_fields(spec["initContainers"][0]) == {"name": "init", "image": "busybox:2",
                                                      "args": ["a"]}
    assert spec["imagePullSecrets"] == [{"name": "registry"}, {"name": "other"}]


def test_smp_delete_directive_and_null_remove_entries(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    smp(apps, {
        "containers": [{"name": "app", "env": [{"name": "OLD", "$patch": "delete"}],
                        "envFrom": None,
                        "volumeMounts": [{"mountPath": "/cache", "$patch": "delete"}]},
                       {"name": "sidecar",
                        "volumeMounts": [{"mountPath": "/cache", "$patch": "delete"}]}],
        "volumes": [{"name": "cache", "$patch": "delete"}],
        "nodeSelector": {"zone": None},
        "tolerations": None,
    })
    spec = template_spec(apps, api)
    app = containers(spec)["app"]
    assert app["env"] == [{"name": "LOG", "value": "info"}]
    assert "envFrom" not in app
    assert "volumes" not in spec or spec["volumes"] == []
    assert spec["nodeSelector"] == {"disk": "ssd"}
    assert "tolerations" not in spec
    assert containers(spec)["sidecar"]["env"] == [{"name": "MODE", "value": "tcp"}]
    assert "volumeMounts" not in app or app["volumeMounts"] == []


def test_smp_replace_directive_and_unknown_lists(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    smp(apps, {
        "nodeSelector": {"$patch": "replace", "only": "this"},
        "tolerations": [{"key": "b", "operator": "Exists"}],
        "containers": [{"name": "sidecar", "args": ["--x"],
                        "env": [{"$patch": "replace"}, {"name": "ONLY", "value": "1"}]}],
    })
    spec = template_spec(apps, api)
    assert spec["nodeSelector"] == {"only": "this"}
    assert spec["tolerations"] == [{"key": "b", "operator": "Exists"}]
    sidecar = containers(spec)["sidecar"]
    assert sidecar["env"] == [{"name": "ONLY", "value": "1"}]
    assert sidecar["args"] == ["--x"]
    assert containers(spec)["app"]["env"][0] == {"name": "LOG", "value": "info"}


def test_smp_accepts_set_element_order_and_retain_keys(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    apps.patch_namespaced_deployment("web", "default", {"spec": {
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"},
        "template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
            "containers": [{"name": "app", "image": "app:2",
                            "$setElementOrder/env": [{"name": "LOG"}, {"name": "OLD"}]}],
        }},
    }}, _content_type=SMP)
    dep = apps.read_namespaced_deployment("web", "default")
    spec = api.sanitize_for_serialization(dep.spec)
    assert spec["strategy"] == {"type": "Recreate"}
    names = [c["name"] for c in spec["template"]["spec"]["containers"]]
    assert names == ["app", "sidecar"]
    assert containers(spec["template"]["spec"])["app"]["image"] == "app:2"
    assert not any(k.startswith("$") for c in spec["template"]["spec"]["containers"] for k in c)


def test_smp_merges_finalizers_as_a_set(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "f",
                                                               "finalizers": ["a/x"]}})
    patched = core.patch_namespaced_config_map(
        "f", "default", {"metadata": {"finalizers": ["b/y"]}}, _content_type=SMP)
    assert patched.metadata.finalizers == ["a/x", "b/y"]


def test_default_dict_patch_from_the_client_is_strategic(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}})
    assert kube_emulator.requests[-1].content_type == SMP


# --- JSON merge patch ------------------------------------------------------------------------


def test_merge_patch_replaces_lists_and_deletes_nulls(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {
        "containers": [{"name": "only", "image": "x"}], "nodeSelector": {"zone": None}}}}},
        _content_type=MERGE)
    spec = template_spec(apps, api)
    assert [user_fields(c) for c in spec["containers"]] == [{"name": "only", "image": "x"}]
    assert spec["nodeSelector"] == {"disk": "ssd"}


# --- JSON patch ------------------------------------------------------------------------------


def test_json_patch_operations(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "j", "labels": {"a": "1"}},
                                                  "data": {"x": "1", "y": "2"}})
    patched = core.patch_namespaced_config_map("j", "default", [
        {"op": "test", "path": "/data/x", "value": "1"},
        {"op": "add", "path": "/data/z", "value": "3"},
        {"op": "remove", "path": "/data/y"},
        {"op": "replace", "path": "/data/x", "value": "10"},
        {"op": "copy", "from": "/data/z", "path": "/data/z2"},
        {"op": "move", "from": "/metadata/labels/a", "path": "/metadata/labels/b~1c"},
    ], _content_type=JSON_PATCH)
    assert patched.data == {"x": "10", "z": "3", "z2": "3"}
    assert patched.metadata.labels == {"b/c": "1"}


def test_json_patch_list_body_is_sent_as_json_patch(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "j"}, "data": {"a": "1"}})
    core.patch_namespaced_config_map("j", "default",
                                     [{"op": "add", "path": "/data/b", "value": "2"}])
    assert kube_emulator.requests[-1].content_type == JSON_PATCH
    assert core.read_namespaced_config_map("j", "default").data == {"a": "1", "b": "2"}


def test_json_patch_failed_test_is_invalid(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "j"}, "data": {"a": "1"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("j", "default", [
            {"op": "test", "path": "/data/a", "value": "2"},
            {"op": "add", "path": "/data/b", "value": "2"}])
    assert exc.value.status == 422
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid", "details": {}, "code": 422}
    assert core.read_namespaced_config_map("j", "default").data == {"a": "1"}


def test_json_patch_can_guard_on_resource_version(core: client.CoreV1Api) -> None:
    cm = core.create_namespaced_config_map("default", {"metadata": {"name": "j"}})
    rv = cm.metadata.resource_version
    core.patch_namespaced_config_map("j", "default", [
        {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
        {"op": "add", "path": "/data", "value": {"a": "b"}}])
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("j", "default", [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv}])
    assert exc.value.status == 422


# --- content types, missing objects, server-side apply ---------------------------------------


def test_unknown_patch_type_is_unsupported(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("c", "default", {"data": {}},
                                         _content_type="application/json")
    assert exc.value.status == 415
    assert status_of(exc)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/strategic-merge-patch+json, application/apply-patch+yaml")


def test_strategic_merge_patch_on_custom_resource_is_unsupported(api: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "servicecatalog.k8s.io", "v1beta1", "default", "serviceinstances",
        {"apiVersion": "servicecatalog.k8s.io/v1beta1", "kind": "ServiceInstance",
         "metadata": {"name": "db"}, "spec": {"clusterServiceClassExternalName": "pg"}})
    with pytest.raises(ApiException) as exc:
        custom.patch_namespaced_custom_object(
            "servicecatalog.k8s.io", "v1beta1", "default", "serviceinstances", "db",
            {"spec": {"x": 1}}, _content_type=SMP)
    assert exc.value.status == 415
    assert status_of(exc)["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml")


def test_patch_of_missing_object_is_not_found(core: client.CoreV1Api) -> None:
    for ctype, body in ((SMP, {"data": {}}), (MERGE, {"data": {}}),
                        (JSON_PATCH, [{"op": "add", "path": "/data", "value": {}}])):
        with pytest.raises(ApiException) as exc:
            core.patch_namespaced_config_map("nope", "default", body, _content_type=ctype)
        assert exc.value.status == 404
        assert status_of(exc)["message"] == 'configmaps "nope" not found'


def test_apply_creates_then_merges_and_records_field_manager(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"},
            "data": {"a": "1"}}
    created = core.patch_namespaced_config_map("ssa", "default", body, field_manager="catalogctl",
                                               _content_type=APPLY)
    assert kube_emulator.requests[-1].status == 201
    assert created.data == {"a": "1"}
    assert [(m.manager, m.operation) for m in created.metadata.managed_fields] == [
        ("catalogctl", "Apply")]
    merged = core.patch_namespaced_config_map(
        "ssa", "default", {**body, "data": {"b": "2"}}, field_manager="catalogctl",
        _content_type=APPLY)
    assert merged.data == {"a": "1", "b": "2"}
    managers = {(m.manager, m.operation) for m in merged.metadata.managed_fields}
    assert ("catalogctl", "Apply") in managers


def test_apply_requires_field_manager(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("ssa", "default", {"metadata": {"name": "ssa"}},
                                         _content_type=APPLY)
    assert exc.value.status == 422
    assert status_of(exc)["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for '
        "apply patch")


def test_patch_cannot_rename(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("c", "default", {"metadata": {"name": "d"}},
                                         _content_type=MERGE)
    assert exc.value.status == 400


def test_smp_delete_from_primitive_list(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {
        "name": "f", "finalizers": ["a/x", "b/y", "c/z"]}})
    patched = core.patch_namespaced_config_map(
        "f", "default", {"metadata": {"$deleteFromPrimitiveList/finalizers": ["b/y"]}},
        _content_type=SMP)
    assert patched.metadata.finalizers == ["a/x", "c/z"]


def test_apply_body_is_logged_decoded_from_yaml(
        kube_emulator: KubeEmulator, api: client.ApiClient) -> None:
    url = kube_emulator.url + "/api/v1/namespaces/default/configmaps/y?fieldManager=me"
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\ndata:\n  a: '1'\n"
    resp = api.call_api("PATCH", url, header_params={"Content-Type": APPLY}, body=text)
    assert resp.status == 201
    assert json.loads(resp.read())["data"] == {"a": "1"}
    assert kube_emulator.requests[-1].body["data"] == {"a": "1"}


def test_force_is_only_for_apply(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("c", "default", {"data": {"a": "b"}}, force=True,
                                         _content_type=MERGE)
    assert exc.value.status == 422
    assert status_of(exc)["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for '
        "non-apply patch")
    applied = core.patch_namespaced_config_map(
        "c", "default", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                         "data": {"a": "b"}}, force=True, field_manager="m", _content_type=APPLY)
    assert applied.data == {"a": "b"}


def test_smp_set_element_order_places_new_items_and_keeps_foreign_ones(
        apps: client.AppsV1Api, api: client.ApiClient) -> None:
    make_deployment(apps)
    smp(apps, {"containers": [{"name": "app", "env": [{"name": "INJECTED", "value": "1"}]}]})
    # what kubectl apply sends when its manifest gains NEW between LOG and OLD
    smp(apps, {
        "$setElementOrder/containers": [{"name": "app"}, {"name": "sidecar"}],
        "containers": [{
            "name": "app",
            "$setElementOrder/env": [{"name": "LOG"}, {"name": "NEW"}, {"name": "OLD"}],
            "env": [{"name": "NEW", "value": "n"}],
        }],
    })
    env = [e["name"] for e in containers(template_spec(apps, api))["app"]["env"]]
    assert env == ["LOG", "NEW", "OLD", "INJECTED"]
