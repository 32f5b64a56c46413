"""Emulator CRUD semantics, checked through the official client against real-apiserver answers:
object metadata, resourceVersion, verbs and status codes, optimistic concurrency, dry run,
Status bodies, namespaces and list selectors."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from kubernetes import client

from tests.fixtures.kube import KubeEmulator

ApiException = client.ApiException


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    return json.loads(exc.value.body)


def secret(name: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, **extra}, "stringData": {"k": "v"}}


@pytest.fixture
def core(kube_emulator: KubeEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(kube_emulator.api_client())


@pytest.fixture
def apps(kube_emulator: KubeEmulator) -> client.AppsV1Api:
    return client.AppsV1Api(kube_emulator.api_client())


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "nginx"}]}},
        },
    }


# --- metadata --------------------------------------------------------------------------------


def test_create_sets_uid_timestamp_namespace_and_type_meta(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    url = kube_emulator.url + "/api/v1/namespaces/default/secrets"
    raw = core.api_client.call_api("POST", url, body={"metadata": {"name": "s"}, "data": {}})
    raw.read()
    assert raw.status == 201
    obj = json.loads(raw.data)
    meta = obj["metadata"]
    assert obj["kind"] == "Secret" and obj["apiVersion"] == "v1"
    assert meta["namespace"] == "default"
    uuid4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"
    assert re.fullmatch(uuid4, meta["uid"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["creationTimestamp"])
    assert "generation" not in meta  # Secrets have no spec, hence no generation


def test_namespace_in_body_must_match_url(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", secret("s", namespace="kube-system"))
    assert exc.value.status == 400
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the namespace of the provided object does not match the namespace sent on "
                   "the request",
        "reason": "BadRequest", "code": 400,
    }


def test_generation_starts_at_one_and_bumps_only_on_spec_change(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment("default", deployment("web"))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"tier": "front"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2


def test_generate_name_appends_five_random_characters(core: client.CoreV1Api) -> None:
    a = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}})
    b = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}})
    assert re.fullmatch(r"cfg-[bcdfghjklmnpqrstvwxz2456789]{5}", a.metadata.name)
    assert a.metadata.name != b.metadata.name
    assert a.metadata.generate_name == "cfg-"


def test_missing_name_is_invalid(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", {"metadata": {}})
    assert exc.value.status == 422
    body = status_of(exc)
    assert body["reason"] == "Invalid"
    assert body["message"] == ('Secret "" is invalid: metadata.name: Required value: name or '
                               "generateName is required")
    assert body["details"] == {"kind": "Secret", "causes": [{
        "reason": "FieldValueRequired", "message": "Required value: name or generateName is "
        "required", "field": "metadata.name"}]}


def test_name_must_be_a_dns_subdomain(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {"metadata": {"name": "Bad_Name"}})
    assert exc.value.status == 422
    assert status_of(exc)["message"].startswith(
        'ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase '
        "RFC 1123 subdomain must consist of")


# --- resourceVersion and verbs ---------------------------------------------------------------


def test_resource_version_is_global_and_bumped_on_every_write(core: client.CoreV1Api) -> None:
    a = int(core.create_namespaced_secret("default", secret("a")).metadata.resource_version)
    b = int(core.create_namespaced_config_map("default", {"metadata": {"name": "b"}})
            .metadata.resource_version)
    c = int(core.patch_namespaced_secret("a", "default", {"metadata": {"labels": {"x": "y"}}})
            .metadata.resource_version)
    assert a < b < c
    listed = core.list_namespaced_secret("default")
    assert int(listed.metadata.resource_version) == c


def test_noop_update_keeps_resource_version(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret("default", secret("a"))
    same = core.patch_namespaced_secret("a", "default", {"data": {"k": "dg=="}})
    assert same.metadata.resource_version == created.metadata.resource_version


def test_status_codes_for_each_verb(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    base = kube_emulator.url + "/api/v1/namespaces/default/configmaps"

    def call(method: str, url: str, body: Any = None, ctype: str | None = None) -> int:
        headers = {"Content-Type": ctype} if ctype else None
        resp = api.call_api(method, url, header_params=headers, body=body)
        resp.read()
        return int(resp.status)

    assert call("POST", base, {"metadata": {"name": "c"}}) == 201
    assert call("GET", base + "/c") == 200
    assert call("GET", base) == 200
    current = json.loads(api.call_api("GET", base + "/c").read())
    assert call("PUT", base + "/c", current) == 200
    assert call("PATCH", base + "/c", {"data": {"a": "b"}},
                "application/merge-patch+json") == 200
    assert call("DELETE", base + "/c") == 200
    assert call("PUT", base, {"metadata": {"name": "c"}}) == 405
    assert call("POST", base + "/c", {"metadata": {"name": "c"}}) == 405


def test_method_not_allowed_body(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    resp = api.call_api("PUT", kube_emulator.url + "/api/v1/namespaces/default/secrets",
                        body={})
    assert resp.status == 405
    assert json.loads(resp.read()) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server does not allow this method on the requested resource",
        "reason": "MethodNotAllowed", "details": {}, "code": 405}


def test_delete_returns_success_status_with_details(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret("default", secret("gone"))
    # The v37 client returns DELETE bodies undecoded, as dicts.
    assert core.delete_namespaced_secret("gone", "default") == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": "gone", "kind": "secrets", "uid": created.metadata.uid}}
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_secret("gone", "default")
    assert exc.value.status == 404


def test_delete_with_finalizers_only_marks_for_deletion(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    marked = core.delete_namespaced_config_map("held", "default")
    assert marked["kind"] == "ConfigMap" and marked["metadata"]["deletionTimestamp"]
    still = core.read_namespaced_config_map("held", "default")
    assert still.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("held", "default")
    assert exc.value.status == 404


def test_delete_precondition_resource_version(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret("default", secret("p"))
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_secret("p", "default", body=client.V1DeleteOptions(
            preconditions=client.V1Preconditions(resource_version="1")))
    assert exc.value.status == 409
    body = status_of(exc)
    assert body["reason"] == "Conflict"
    assert body["message"] == (
        'Operation cannot be fulfilled on secrets "p": StorageError: invalid object, Code: 4, '
        "Key: /registry/secrets/default/p, ResourceVersion: 0, AdditionalErrorMsg: Precondition "
        f"failed: ResourceVersion in precondition: 1, ResourceVersion in object meta: "
        f"{created.metadata.resource_version}")
    core.delete_namespaced_secret("p", "default", body=client.V1DeleteOptions(
        preconditions=client.V1Preconditions(resource_version=created.metadata.resource_version)))


# --- optimistic concurrency and dry run -------------------------------------------------------


def test_put_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    first = core.create_namespaced_secret("default", secret("c"))
    core.patch_namespaced_secret("c", "default", {"metadata": {"labels": {"v": "2"}}})
    first.metadata.labels = {"v": "stale"}
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_secret("c", "default", first)
    assert exc.value.status == 409
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'Operation cannot be fulfilled on secrets "c": the object has been modified; '
                   "please apply your changes to the latest version and try again",
        "reason": "Conflict", "details": {"name": "c", "kind": "secrets"}, "code": 409}


def test_put_without_resource_version_is_unconditional(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", secret("u"))
    core.patch_namespaced_secret("u", "default", {"metadata": {"labels": {"v": "2"}}})
    replaced = core.replace_namespaced_secret(
        "u", "default", {"metadata": {"name": "u"}, "stringData": {"new": "x"}})
    assert replaced.data == {"new": "eA=="}
    assert replaced.metadata.labels is None


def test_put_name_must_match_url(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", secret("a"))
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_secret("a", "default", secret("b"))
    assert exc.value.status == 400
    assert status_of(exc)["message"] == (
        "the name of the object (b) does not match the name on the URL (a)")


def test_put_on_missing_object_is_not_found(apps: client.AppsV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        apps.replace_namespaced_deployment("nope", "default", deployment("nope"))
    assert exc.value.status == 404
    assert status_of(exc)["message"] == 'deployments.apps "nope" not found'
    assert status_of(exc)["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_patch_carrying_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_config_map("default", {"metadata": {"name": "m"}})
    core.patch_namespaced_config_map("m", "default", {"data": {"a": "1"}})
    with pytest.raises(ApiException) as exc:
        core.patch_namespaced_config_map("m", "default", {"metadata": {
            "resourceVersion": created.metadata.resource_version}, "data": {"a": "2"}})
    assert exc.value.status == 409
    assert status_of(exc)["reason"] == "Conflict"


def test_dry_run_validates_and_answers_without_persisting(core: client.CoreV1Api) -> None:
    answer = core.create_namespaced_secret("default", secret("dry"), dry_run="All")
    assert answer.metadata.name == "dry" and answer.data == {"k": "dg=="}
    assert answer.metadata.resource_version is None
    assert core.list_namespaced_secret("default").items == []
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", {"metadata": {}}, dry_run="All")
    assert exc.value.status == 422
    core.create_namespaced_secret("default", secret("real"))
    core.patch_namespaced_secret("real", "default", {"stringData": {"k": "changed"}},
                                 dry_run="All")
    core.delete_namespaced_secret("real", "default", dry_run="All")
    assert core.read_namespaced_secret("real", "default").data == {"k": "dg=="}


# --- Status bodies ----------------------------------------------------------------------------


def test_not_found_and_already_exists_bodies(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_secret("x", "default")
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "x" not found', "reason": "NotFound",
        "details": {"name": "x", "kind": "secrets"}, "code": 404}
    core.create_namespaced_secret("default", secret("x"))
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("default", secret("x"))
    assert exc.value.status == 409
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'secrets "x" already exists', "reason": "AlreadyExists",
        "details": {"name": "x", "kind": "secrets"}, "code": 409}


def test_unknown_resource_type_is_not_found(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    for path in ("/api/v1/namespaces/default/widgets", "/apis/example.com/v1/widgets"):
        resp = api.call_api("GET", kube_emulator.url + path)
        assert resp.status == 404
        assert json.loads(resp.read()) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "the server could not find the requested resource", "reason": "NotFound",
            "details": {}, "code": 404}


@pytest.mark.parametrize("ctype", ["application/vnd.kubernetes.protobuf", "text/plain"])
def test_non_json_body_is_unsupported_media_type(
        kube_emulator: KubeEmulator, ctype: str) -> None:
    api = kube_emulator.api_client()
    resp = api.call_api("POST", kube_emulator.url + "/api/v1/namespaces/default/secrets",
                        header_params={"Content-Type": ctype}, body="k8s\x00binary")
    assert resp.status == 415
    assert json.loads(resp.read()) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the body of the request was in an unknown format - accepted media types "
                   "include: application/json, application/yaml",
        "reason": "UnsupportedMediaType", "code": 415}


def test_malformed_json_is_bad_request(kube_emulator: KubeEmulator) -> None:
    api = kube_emulator.api_client()
    resp = api.call_api("POST", kube_emulator.url + "/api/v1/namespaces/default/secrets",
                        header_params={"Content-Type": "application/json"}, body="{nope")
    assert resp.status == 400
    assert json.loads(resp.read())["reason"] == "BadRequest"


# --- namespaces -------------------------------------------------------------------------------


def test_system_namespaces_exist_at_start(core: client.CoreV1Api) -> None:
    names = [n.metadata.name for n in core.list_namespace().items]
    assert names == ["default", "kube-public", "kube-system"]
    ns = core.read_namespace("default")
    assert ns.status.phase == "Active"
    assert ns.metadata.labels == {"kubernetes.io/metadata.name": "default"}


def test_create_in_missing_namespace_is_not_found(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_secret("nope", secret("s"))
    assert exc.value.status == 404
    assert status_of(exc) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'namespaces "nope" not found', "reason": "NotFound",
        "details": {"name": "nope", "kind": "namespaces"}, "code": 404}


def test_deleting_a_namespace_removes_its_objects(
        core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.create_namespace({"metadata": {"name": "team"}})
    core.create_namespaced_secret("team", secret("s"))
    apps.create_namespaced_deployment("team", deployment("d"))
    core.create_namespaced_secret("default", secret("keep"))
    gone = core.delete_namespace("team")
    assert gone["status"]["phase"] == "Terminating"
    assert core.list_secret_for_all_namespaces().items[0].metadata.name == "keep"
    assert len(core.list_secret_for_all_namespaces().items) == 1
    assert apps.list_deployment_for_all_namespaces().items == []
    with pytest.raises(ApiException) as exc:
        core.read_namespace("team")
    assert exc.value.status == 404


def test_system_namespace_cannot_be_deleted(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.delete_namespace("default")
    assert exc.value.status == 403
    assert status_of(exc)["message"] == (
        'namespaces "default" is forbidden: this namespace may not be deleted')


def test_namespace_name_must_be_a_dns_label(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespace({"metadata": {"name": "a.b"}})
    assert exc.value.status == 422
    assert status_of(exc)["message"].startswith(
        'Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b": a lowercase RFC 1123 '
        "label must consist of")


# --- lists and selectors ----------------------------------------------------------------------


def _labelled(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    for ns, name, labels in [
        ("default", "b", {"app": "web", "tier": "front"}),
        ("default", "a", {"app": "db"}),
        ("default", "c", {"app": "web", "tier": "back"}),
        ("other", "a", {"app": "web"}),
        ("default", "d", {}),
    ]:
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": labels}})


def test_list_shape_and_sort_order(kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    _labelled(core)
    api = kube_emulator.api_client()
    body = json.loads(api.call_api("GET", kube_emulator.url + "/api/v1/configmaps").read())
    assert body["kind"] == "ConfigMapList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"] == str(kube_emulator.store.rv)
    keys = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in body["items"]]
    assert keys == [("default", "a"), ("default", "b"), ("default", "c"), ("default", "d"),
                    ("other", "a")]


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", ["b", "c"]),
    ("app==web", ["b", "c"]),
    ("app!=web", ["a", "d"]),
    ("app in (db,cache)", ["a"]),
    ("app notin (db)", ["b", "c", "d"]),
    ("tier", ["b", "c"]),
    ("!tier", ["a", "d"]),
    ("app=web,tier in (back)", ["c"]),
])
def test_label_selectors(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    _labelled(core)
    items = core.list_namespaced_config_map("default", label_selector=selector).items
    assert [i.metadata.name for i in items] == expected


def test_field_selectors(core: client.CoreV1Api) -> None:
    _labelled(core)
    by_name = core.list_config_map_for_all_namespaces(field_selector="metadata.name=a").items
    assert [(i.metadata.namespace, i.metadata.name) for i in by_name] == [
        ("default", "a"), ("other", "a")]
    not_default = core.list_config_map_for_all_namespaces(
        field_selector="metadata.namespace!=default").items
    assert [i.metadata.namespace for i in not_default] == ["other"]


def test_unknown_field_selector_is_bad_request(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map("default", field_selector="spec.foo=bar")
    assert exc.value.status == 400
    assert status_of(exc)["message"] == (
        '"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"')
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_secret("default", field_selector="spec.foo=bar")
    assert status_of(exc)["message"] == "field label not supported: spec.foo"


def test_secret_type_field_selector(core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", secret("o"))
    core.create_namespaced_secret("default", {"metadata": {"name": "t"}, "type": "example/x"})
    items = core.list_namespaced_secret("default", field_selector="type=example/x").items
    assert [i.metadata.name for i in items] == ["t"]


def test_all_namespaces_list_routes(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.create_namespace({"metadata": {"name": "x"}})
    core.create_namespaced_secret("x", secret("s1"))
    core.create_namespaced_secret("default", secret("s2"))
    apps.create_namespaced_deployment("x", deployment("d1"))
    assert [s.metadata.name for s in core.list_secret_for_all_namespaces().items] == ["s2", "s1"]
    assert [d.metadata.namespace for d in apps.list_deployment_for_all_namespaces().items] == ["x"]


def test_list_pagination_with_limit_and_continue(core: client.CoreV1Api) -> None:
    for i in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert [i.metadata.name for i in first.items] == ["c0", "c1"]
    assert first.metadata.remaining_item_count == 3
    rest = core.list_namespaced_config_map("default", limit=10,
                                           _continue=first.metadata._continue)
    assert [i.metadata.name for i in rest.items] == ["c2", "c3", "c4"]
    assert rest.metadata._continue is None


def test_delete_collection_honours_selector(core: client.CoreV1Api) -> None:
    _labelled(core)
    core.delete_collection_namespaced_config_map("default", label_selector="app=web")
    left = [i.metadata.name for i in core.list_namespaced_config_map("default").items]
    assert left == ["a", "d"]


def test_timestamps_are_current(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_secret("default", secret("t"))
    assert abs(created.metadata.creation_timestamp.timestamp() - time.time()) < 5


def test_label_values_and_keys_are_validated(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {"metadata": {
            "name": "l", "labels": {"app": "has space"}}})
    assert status_of(exc)["message"] == (
        'ConfigMap "l" is invalid: metadata.labels: Invalid value: "has space": a valid label '
        "must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
        "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
        "'12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {"metadata": {
            "name": "l", "labels": {"example.com/instance": "x" * 64}}})
    assert status_of(exc)["message"] == (
        f'ConfigMap "l" is invalid: metadata.labels: Invalid value: "{"x" * 64}": must be no '
        "more than 63 characters")
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map("default", {"metadata": {
            "name": "l", "annotations": {"a/b/c": "x"}}})
    assert status_of(exc)["details"]["causes"][0]["field"] == "metadata.annotations"
    ok = core.create_namespaced_config_map("default", {"metadata": {
        "name": "l", "labels": {"app.kubernetes.io/name": "web", "empty": ""}}})
    assert ok.metadata.labels == {"app.kubernetes.io/name": "web", "empty": ""}


def test_patch_that_drops_resource_version_is_unconditional(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "m"}})
    core.patch_namespaced_config_map("m", "default", {"data": {"a": "1"}})
    patched = core.patch_namespaced_config_map(
        "m", "default", {"metadata": {"resourceVersion": None}, "data": {"a": "2"}},
        _content_type="application/merge-patch+json")
    assert patched.data == {"a": "2"}
