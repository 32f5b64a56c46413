"""Watch streams on the emulator, consumed by the official client's ``watch.Watch``: initial
state, replay from a resourceVersion, 410 Expired, timeouts, selectors and bookmarks."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch

from tests.fixtures.kube import KubeEmulator
from tests.kube import EmulatorServer

ApiException = client.ApiException


@pytest.fixture
def core(kube_emulator: KubeEmulator) -> client.CoreV1Api:
    return client.CoreV1Api(kube_emulator.api_client())


def cm(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def events(core: client.CoreV1Api, count: int | None = None,
           **kwargs: Any) -> list[tuple[str, str, str]]:
    """(type, name, resourceVersion) of a ConfigMap watch in ``default``, read until ``count``
    events arrived or the server closed the stream at ``timeout_seconds``."""
    kwargs.setdefault("timeout_seconds", 1 if count is None else 5)
    w = watch.Watch()
    out = []
    for ev in w.stream(core.list_namespaced_config_map, "default", **kwargs):
        meta = ev["raw_object"]["metadata"]
        out.append((ev["type"], meta.get("name", ""), meta["resourceVersion"]))
        if len(out) == count:
            w.stop()
    return out


def test_watch_without_version_starts_with_current_state_then_goes_live(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("b"))
    core.create_namespaced_config_map("default", cm("a"))

    def later() -> None:
        deadline = time.monotonic() + 5
        while not kube_emulator.active_watches and time.monotonic() < deadline:
            time.sleep(0.01)
        core.create_namespaced_config_map("default", cm("c"))
        core.patch_namespaced_config_map("c", "default", {"data": {"x": "1"}})
        core.delete_namespaced_config_map("c", "default")

    writer = threading.Thread(target=later)
    writer.start()
    seen = events(core, count=5)
    writer.join()
    assert [(t, n) for t, n, _ in seen] == [
        ("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c"), ("MODIFIED", "c"), ("DELETED", "c")]
    rvs = [int(rv) for _, _, rv in seen[2:]]
    assert rvs == sorted(rvs) and len(set(rvs)) == 3  # DELETED carries a fresh RV


def test_watch_from_resource_version_replays_later_events(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("before"))
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("after"))
    core.delete_namespaced_config_map("before", "default")
    seen = events(core, count=2, resource_version=start)
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "after"), ("DELETED", "before")]


def test_deleted_event_carries_the_final_object(core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", {"metadata": {"name": "x"}, "data": {"k": "v"}})
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.delete_namespaced_config_map("x", "default")
    stream = watch.Watch().stream(core.list_namespaced_config_map, "default",
                                  resource_version=start, timeout_seconds=1)
    (event,) = list(stream)
    assert event["type"] == "DELETED"
    assert event["object"].data == {"k": "v"}
    assert int(event["object"].metadata.resource_version) > int(start)


def test_too_old_resource_version_gives_410_expired(
        kube_emulator: KubeEmulator, core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("a"))
    old = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_config_map("default", cm("b"))
    compacted = kube_emulator.store.compact()
    with pytest.raises(ApiException) as exc:
        events(core, resource_version=old)
    assert exc.value.status == 410
    assert exc.value.reason == f"Expired: too old resource version: {old} ({compacted})"


def test_bounded_event_log_expires_old_versions() -> None:
    server = EmulatorServer(event_log_size=3).start()
    try:
        cfg = client.Configuration()
        cfg.host = server.url
        api = client.ApiClient(cfg)
        core = client.CoreV1Api(api)
        start = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(5):
            core.create_namespaced_config_map("default", cm(f"c{i}"))
        with pytest.raises(ApiException) as exc:
            events(core, resource_version=start)
        assert exc.value.status == 410
        recent = str(int(start) + 3)
        assert [n for _, n, _ in events(core, 2, resource_version=recent)] == ["c3", "c4"]
        api.close()
    finally:
        server.stop()


def test_timeout_seconds_closes_the_stream(core: client.CoreV1Api) -> None:
    began = time.monotonic()
    assert events(core, timeout_seconds=1) == []
    assert 0.9 <= time.monotonic() - began < 2.5


def test_label_selector_watch_reports_objects_entering_and_leaving(
        core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("x", app="web"))
    core.create_namespaced_config_map("default", cm("y", app="db"))
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.patch_namespaced_config_map("x", "default", {"metadata": {"labels": {"app": "db"}}})
    core.patch_namespaced_config_map("y", "default", {"metadata": {"labels": {"app": "web"}}})
    core.patch_namespaced_config_map("y", "default", {"data": {"a": "b"}})
    seen = events(core, 3, resource_version=start, label_selector="app=web")
    assert [(t, n) for t, n, _ in seen] == [("DELETED", "x"), ("ADDED", "y"), ("MODIFIED", "y")]
    initial = events(core, 1, label_selector="app=db")
    assert [(t, n) for t, n, _ in initial] == [("ADDED", "x")]


def test_field_selector_and_namespace_scope(core: client.CoreV1Api) -> None:
    core.create_namespace({"metadata": {"name": "other"}})
    start = core.list_namespace().metadata.resource_version
    core.create_namespaced_config_map("default", cm("pick"))
    core.create_namespaced_config_map("default", cm("skip"))
    core.create_namespaced_config_map("other", cm("pick"))
    named = events(core, 1, resource_version=start, field_selector="metadata.name=pick")
    assert [n for _, n, _ in named] == ["pick"]
    w = watch.Watch()
    everywhere = []
    for e in w.stream(core.list_config_map_for_all_namespaces, resource_version=start,
                      timeout_seconds=5):
        everywhere.append((e["object"].metadata.namespace, e["object"].metadata.name))
        if len(everywhere) == 3:
            w.stop()
    assert everywhere == [("default", "pick"), ("default", "skip"), ("other", "pick")]


def test_bookmark_at_timeout_advances_the_watch_resource_version(
        core: client.CoreV1Api) -> None:
    core.create_namespaced_secret("default", {"metadata": {"name": "unrelated"}})
    w = watch.Watch()
    start = core.list_namespaced_config_map("default").metadata.resource_version
    core.create_namespaced_secret("default", {"metadata": {"name": "later"}})
    kinds = [e["type"] for e in w.stream(core.list_namespaced_config_map, "default",
                                         resource_version=start, timeout_seconds=1,
                                         allow_watch_bookmarks=True)]
    assert kinds == ["BOOKMARK"]
    assert int(w.resource_version) > int(start)


def test_custom_object_watch(kube_emulator: KubeEmulator) -> None:
    custom = client.CustomObjectsApi(kube_emulator.api_client())
    custom.create_namespaced_custom_object(
        "servicecatalog.k8s.io", "v1beta1", "default", "servicebindings",
        {"apiVersion": "servicecatalog.k8s.io/v1beta1", "kind": "ServiceBinding",
         "metadata": {"name": "bind"}, "spec": {"instanceRef": {"name": "db"}}})
    w = watch.Watch()
    seen = []
    for event in w.stream(custom.list_namespaced_custom_object, "servicecatalog.k8s.io",
                          "v1beta1", "default", "servicebindings", timeout_seconds=5):
        seen.append(event)
        w.stop()
    assert [(e["type"], e["object"]["kind"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "ServiceBinding", "bind")]


def test_stream_is_chunked_json_lines(kube_emulator: KubeEmulator,
                                      core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("a"))
    core.create_namespaced_config_map("default", cm("b"))
    http = urllib3.PoolManager()
    resp = http.request("GET", kube_emulator.url + "/api/v1/namespaces/default/configmaps"
                        "?watch=true&timeoutSeconds=1", preload_content=False)
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert resp.headers["Content-Type"] == "application/json"
    lines = resp.read().decode().splitlines()
    assert [json.loads(line)["object"]["metadata"]["name"] for line in lines] == ["a", "b"]
    assert all(json.loads(line)["object"]["kind"] == "ConfigMap" for line in lines)


def test_stop_ends_open_watches() -> None:
    server = EmulatorServer().start()
    cfg = client.Configuration()
    cfg.host = server.url
    core = client.CoreV1Api(client.ApiClient(cfg))
    finished = threading.Event()

    def consume() -> None:
        try:
            list(watch.Watch().stream(core.list_namespaced_config_map, "default",
                                      timeout_seconds=30))
        finally:
            finished.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    time.sleep(0.3)
    began = time.monotonic()
    server.stop()
    assert finished.wait(5)
    assert time.monotonic() - began < 3


def test_server_notices_a_watch_client_hanging_up(kube_emulator: KubeEmulator,
                                                  core: client.CoreV1Api) -> None:
    core.create_namespaced_config_map("default", cm("x"))
    w = watch.Watch()
    for _ in w.stream(core.list_namespaced_config_map, "default", timeout_seconds=60):
        assert kube_emulator.active_watches == 1
        w.stop()  # the client closes the connection; the stream would otherwise idle a minute
    deadline = time.monotonic() + 5
    while kube_emulator.active_watches and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kube_emulator.active_watches == 0
