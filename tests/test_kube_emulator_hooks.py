"""Test hooks of the emulator: the request log, fault injection, and its speed and thread
safety under the official client."""

from __future__ import annotations

import json
import threading
import time

import pytest
import urllib3
from kubernetes import client

from tests.fixtures.kube import KubeEmulator

ApiException = client.ApiException


@pytest.fixture
def core(kube_emulator: KubeEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(kube_emulator.api_client())


def test_request_log_records_method_path_query_type_and_body(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "s"},
                                              "stringData": {"k": "v"}}, field_manager="me")
    core.patch_namespaced_secret("s", "default", {"metadata": {"labels": {"a": "b"}}})
    core.list_namespaced_secret("default", label_selector="a=b")
    post, patch, get = kube_emulator.requests[-3:]
    assert (post.method, post.path, post.query) == (
        "POST", "/api/v1/namespaces/default/secrets", {"fieldManager": "me"})
    assert post.body == {"metadata": {"name": "s"}, "stringData": {"k": "v"}}
    assert post.status == 201
    assert (patch.method, patch.content_type) == (
        "PATCH", "application/strategic-merge-patch+json")
    assert patch.body == {"metadata": {"labels": {"a": "b"}}}
    assert (get.method, get.query, get.body, get.status) == (
        "GET", {"labelSelector": "a=b"}, None, 200)


def test_request_records_do_not_show_bodies_in_repr(
        kube_emulator: KubeEmulator, core: client.CoreV1Api,
        capfd: pytest.CaptureFixture[str]) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "s"},
                                              "stringData": {"token": "sup3r-s3cret"}})
    core.read_namespaced_secret("s", "default")
    assert "sup3r-s3cret" not in repr(kube_emulator.requests)
    out, err = capfd.readouterr()
    assert "sup3r-s3cret" not in out + err and "c3VwM3ItczNjcmV0" not in out + err


def test_fault_answers_next_matching_requests_then_clears(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
    rule = kube_emulator.inject_fault(
        "GET", r"/configmaps/c$", 503, "ServiceUnavailable", "etcd is busy", count=2)
    for _ in range(2):
        with pytest.raises(ApiException) as exc:
            core.read_namespaced_config_map("c", "default")
        assert exc.value.status == 503
        assert json.loads(exc.value.body) == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "etcd is busy", "reason": "ServiceUnavailable", "details": {},
            "code": 503}
    assert core.read_namespaced_config_map("c", "default").metadata.name == "c"
    assert rule.hits == 2 and rule.count == 0
    assert [r.fault for r in kube_emulator.requests[-3:]] == [True, True, False]


def test_fault_only_hits_matching_method_and_path(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    kube_emulator.inject_fault("PUT", r"/secrets/", 409, "Conflict", "injected conflict")
    core.create_namespaced_secret("default", {"metadata": {"name": "s"}})
    core.read_namespaced_secret("s", "default")
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_secret("s", "default", {"metadata": {"name": "s"}})
    assert exc.value.status == 409
    assert json.loads(exc.value.body)["reason"] == "Conflict"
    assert core.replace_namespaced_secret("s", "default", {"metadata": {"name": "s"}})


def test_fault_wildcard_method_and_retry_after(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    kube_emulator.inject_fault("*", r"^/api/v1/namespaces$", 429, "TooManyRequests",
                                "slow down", details={"causes": []})
    with pytest.raises(ApiException) as exc:
        core.list_namespace()
    assert exc.value.status == 429
    assert json.loads(exc.value.body)["details"] == {"causes": []}
    kube_emulator.inject_fault("GET", r"^/api/v1/namespaces$", 500, "InternalError", "boom")
    kube_emulator.clear_faults()
    assert core.list_namespace().items


def test_retry_after_header_makes_urllib3_retry(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    """Like a real apiserver's 429, the fault carries Retry-After, which urllib3 honours by
    retrying on its own; the caller only sees the delay."""
    kube_emulator.inject_fault("GET", r"^/api/v1/namespaces$", 429, "TooManyRequests",
                                "slow down", retry_after_seconds=1)
    began = time.monotonic()
    assert core.list_namespace().items
    assert time.monotonic() - began >= 1
    first, second = kube_emulator.requests[-2:]
    assert (first.status, first.fault, second.status, second.fault) == (429, True, 200, False)
    assert first.path == second.path == "/api/v1/namespaces"


def test_simple_create_is_fast(core: client.CoreV1Api) -> None:
    for i in range(20):  # warm the connection pool and the client's model classes
        core.create_namespaced_config_map("default", {"metadata": {"name": f"w{i}"}})
    n = 300
    began = time.perf_counter()
    for i in range(n):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"},
                                                      "data": {"k": "v"}})
    per_create = (time.perf_counter() - began) / n
    # ~0.5 ms here including the client's own work; the bound leaves room for slow CI hosts.
    assert per_create < 0.005


def test_concurrent_writers_get_unique_resource_versions(kube_emulator: KubeEmulator) -> None:
    versions: list[int] = []
    lock = threading.Lock()

    def writer(w: int) -> None:
        api = client.CoreV1Api(kube_emulator.api_client())
        for i in range(25):
            made = api.create_namespaced_config_map("default", {"metadata": {"name": f"{w}-{i}"}})
            with lock:
                versions.append(int(made.metadata.resource_version))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(versions) == 200 and len(set(versions)) == 200
    listed = client.CoreV1Api(kube_emulator.api_client()).list_namespaced_config_map("default")
    assert len(listed.items) == 200
    assert int(listed.metadata.resource_version) == max(versions)


def test_kubeconfig_points_at_the_emulator(kube_emulator: KubeEmulator) -> None:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(kube_emulator.kubeconfig_path),
                                        context="emulator")
    try:
        assert api.configuration.host == kube_emulator.url
        names = [n.metadata.name for n in client.CoreV1Api(api).list_namespace().items]
        assert "kube-system" in names
    finally:
        api.close()
    _contexts, active = config.list_kube_config_contexts(str(kube_emulator.kubeconfig_path))
    assert active["name"] == "emulator" and active["context"]["namespace"] == "default"


def test_injected_delay_serves_the_request_late(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    kube_emulator.inject_delay("GET", r"/namespaces/default$", 0.5)
    began = time.monotonic()
    assert core.read_namespace("default").metadata.name == "default"
    assert time.monotonic() - began >= 0.5
    # urllib3 retries an idempotent GET after a read timeout, so every attempt is delayed
    kube_emulator.inject_delay("GET", r"/namespaces/default$", 1, count=10)
    with pytest.raises(urllib3.exceptions.HTTPError) as exc:
        core.read_namespace("default", _request_timeout=0.2)
    assert "timed out" in str(exc.value)


def test_injected_disconnect_drops_the_connection(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    kube_emulator.inject_disconnect("POST", r"/configmaps$")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        core.create_namespaced_config_map("default", {"metadata": {"name": "c"}},
                                          _request_timeout=5)
    assert kube_emulator.requests[-1].fault and kube_emulator.requests[-1].status == 0
    assert core.list_namespaced_config_map("default").items == []  # nothing was created
    assert core.create_namespaced_config_map("default", {"metadata": {"name": "c"}})
