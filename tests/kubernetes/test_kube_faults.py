"""KubeCluster under faults a real API server does not produce on demand, on the emulator
(``tests/kube``): injected 409 storms, create and delete races, 403s and 422s. Everything else
about the API target runs against a real kube-apiserver in ``test_kube_cluster.py``."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest
from kubernetes import client

from catalogctl.errors import ProviderError
from catalogctl.providers.kubernetes import (
    KubeApiError,
    KubeCluster,
    build_secret_data,
    mapping_entries,
)
from catalogctl.providers.kubernetes.sources import ChainSecretSource
from tests.fixtures.kube import KubeEmulator
from tests.kubernetes.helpers import QUEUE_MAPPING, pod_mapping, transforms, workload

NS = "cloud-apps"
OWNER = "ServiceBinding/cloud-apps/cloud-queue-binding"
SECRET = "cloud-queue-binding"
PASSWORD = "pw-Zq8!unique-credential"
TOKEN = "tok-9f8e7d-unique-token"


@pytest.fixture
def api(kube_emulator: KubeEmulator) -> client.ApiClient:
    api_client = kube_emulator.api_client()
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": NS}})
    return api_client


@pytest.fixture
def kube(api: client.ApiClient) -> KubeCluster:
    return KubeCluster.from_api_client(api, NS)


def raw_secret(api: client.ApiClient, name: str) -> dict[str, Any]:
    resp = client.CoreV1Api(api).read_namespaced_secret(name, NS, _preload_content=False)
    result: dict[str, Any] = json.loads(resp.data)
    return result


class TestSecretFaults:
    def test_create_race_already_exists_is_retried(
        self, kube: KubeCluster, kube_emulator: KubeEmulator
    ) -> None:
        kube_emulator.inject_fault(
            "POST", r"/secrets$", 409, "AlreadyExists", f'secrets "{SECRET}" already exists'
        )
        obs = kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        assert obs.exists
        assert [r.status for r in kube_emulator.requests if r.method == "POST"][-2:] == [409, 201]

    def test_conflicts_are_bounded(self, kube: KubeCluster, kube_emulator: KubeEmulator) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube_emulator.inject_fault("PUT", r"/secrets/", 409, "Conflict", "modified", count=100)
        with pytest.raises(KubeApiError) as exc:
            kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"2"})
        assert exc.value.status == 409 and exc.value.reason == "Conflict"
        assert len([r for r in kube_emulator.requests if r.method == "PUT"]) == 5

    def test_delete_404_race_counts_as_gone(
        self, kube: KubeCluster, kube_emulator: KubeEmulator
    ) -> None:
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data={"a": b"1"})
        kube_emulator.inject_fault(
            "DELETE", r"/secrets/", 404, "NotFound", f'secrets "{SECRET}" not found'
        )
        assert kube.delete_binding_secret(namespace=NS, name=SECRET, owner=OWNER) is False

    def test_namespace_uid_forbidden_is_unknown(
        self, kube: KubeCluster, kube_emulator: KubeEmulator
    ) -> None:
        assert kube.namespace_uid(NS)
        kube_emulator.inject_fault("GET", r"/namespaces/cloud-apps$", 403, "Forbidden", "no")
        assert kube.namespace_uid(NS) is None


class TestNoSecretLeaksUnderErrors:
    def test_values_never_in_logs_or_errors(
        self,
        kube: KubeCluster,
        api: client.ApiClient,
        kube_emulator: KubeEmulator,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        client.CoreV1Api(api).create_namespaced_secret(
            NS,
            {
                "metadata": {"name": "broker-auth"},
                "stringData": {"username": "admin", "password": PASSWORD, "token": TOKEN},
            },
        )
        sources = ChainSecretSource.standard(kube, environ={})
        messages: list[str] = []
        creds: dict[str, Any] = {"password": PASSWORD, "nested": {"token": TOKEN}}
        data = build_secret_data(
            creds,
            transforms(
                "[{addKeysFrom: {secretRef: {name: broker-auth}}},"
                " {addKey: {key: t, jsonPathExpression: '{.nested.token}'}}]"
            ),
            sources.require_secret,
            namespace=NS,
        )
        client.AppsV1Api(api).create_namespaced_deployment(NS, workload())
        kube.write_binding_secret(namespace=NS, name=SECRET, owner=OWNER, data=data)
        kube.apply_mapping(
            namespace=NS,
            kind="Deployment",
            name="myapp",
            entries=mapping_entries(pod_mapping(QUEUE_MAPPING), SECRET),
        )
        kube_emulator.inject_fault(
            "PUT", r"/secrets/", 422, "Invalid", "Secret is invalid", count=10
        )
        for attempt in (
            lambda: kube.write_binding_secret(
                namespace=NS, name=SECRET, owner=OWNER, data={"password": PASSWORD.encode() + b"2"}
            ),
            lambda: kube.write_binding_secret(
                namespace=NS, name="broker-auth", owner=OWNER, data={"password": PASSWORD.encode()}
            ),
            lambda: kube.delete_binding_secret(namespace=NS, name="broker-auth", owner=OWNER),
            lambda: build_secret_data(
                creds,
                transforms("[{addKey: {key: x, jsonPathExpression: '{.password.deeper}'}}]"),
                sources.require_secret,
            ),
            lambda: build_secret_data(
                creds,
                transforms("[{addKeysFrom: {secretRef: {name: nope}}}]"),
                sources.require_secret,
                namespace=NS,
            ),
            lambda: sources.require_key(NS, "broker-auth", "missing"),
        ):
            with pytest.raises(ProviderError) as exc:
                attempt()
            messages.append(str(exc.value))
            messages.append(repr(exc.value))
        assert len(messages) == 12
        everything = caplog.text + "\n".join(messages)
        for secret_value in (PASSWORD, TOKEN, base64.b64encode(PASSWORD.encode()).decode()):
            assert secret_value not in everything
        assert "created Secret cloud-apps/cloud-queue-binding" in caplog.text
