"""Semantic rules in isolation: names, durations, CA bundles, URLs, mapping conflicts."""

from __future__ import annotations

import base64
import ssl
import textwrap

import pytest

from catalogctl.model.address import Address
from catalogctl.model.loader import load_documents
from catalogctl.model.names import (
    dns1123_label_error,
    dns1123_subdomain_error,
    env_var_name_error,
    parse_go_duration,
    secret_key_error,
)
from catalogctl.model.source import parse_text
from catalogctl.model.validate import decode_ca_bundle

# A real self-signed certificate (P-256), so the PEM/DER check is exercised.
CERT = textwrap.dedent("""\
    -----BEGIN CERTIFICATE-----
    MIIBfzCCASWgAwIBAgIUTdkQuFXuKjFLxiAqyrcZeKR8L2MwCgYIKoZIzj0EAwIw
    FDESMBAGA1UEAwwJYnJva2VyLWNhMCAXDTI2MTEyNjE2MDI0OFoYDzIxMjYxMTAy
    MTYwMjQ4WjAUMRIwEAYDVQQDDAlicm9rZXItY2EwWTATBgcqhkjOPQIBBggqhkjO
    PQMBBwNCAAQ0HoLGxEboRhrw9MvoDO4H4AwqJaE78Bwtd6kL3Zug631ZihkYFSLr
    EC7D+KMlcmYORaW6Mo2VcpFNiJt6aTbLo1MwUTAdBgNVHQ4EFgQU5MHXq/UaHMia
    qDMwd9aU2YegUrEwHwYDVR0jBBgwFoAU5MHXq/UaHMiaqDMwd9aU2YegUrEwDwYD
    VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiBJNiUgFPAhc3ImaCrZ/9WF
    whGtqg4IPQ9VjEndWC+ciAIhAL1iLS3sjAjYqJ1yHWN5HIDWUzwE2e1a/o1MmQbn
    vEic
    -----END CERTIFICATE-----
    """)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a", True), ("db-1", True), ("a" * 63, True), ("a" * 64, False), ("-a", False),
     ("a-", False), ("A", False), ("a.b", False), ("a_b", False), ("", False)],
)
def test_dns1123_label(value: str, ok: bool) -> None:
    assert (dns1123_label_error(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a.b.c", True), ("db-1.example", True), ("a" * 253, True), ("a" * 254, False),
     ("a..b", False), (".a", False), ("a.", False), ("My", False), ("", False)],
)
def test_dns1123_subdomain(value: str, ok: bool) -> None:
    assert (dns1123_subdomain_error(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("DATABASE_URL", True), ("_x", True), ("a.b-c", True), ("1X", False), ("A B", False),
     ("A=B", False), ("", False)],
)
def test_env_var_names(value: str, ok: bool) -> None:
    assert (env_var_name_error(value) is None) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("ca.crt", True), ("A_b-1", True), (".dot", True), ("a..b", True), ("a/b", False),
     ("a b", False), (".", False), ("..", False), ("..data", False), ("../../etc/evil", False)],
)
def test_secret_keys(value: str, ok: bool) -> None:
    assert (secret_key_error(value) is None) is ok


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0", 0.0), ("90s", 90.0), ("15m", 900.0), ("1h30m", 5400.0), ("1.5h", 5400.0),
     ("500ms", 0.5), ("-5m", -300.0), ("2h0m0s", 7200.0), ("1µs", 1e-6)],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "15", "15 minutes", "1d", "h", "1h 30m", "P1D"])
def test_invalid_go_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


def test_ca_bundle_accepts_pem_text_and_base64_of_pem() -> None:
    assert decode_ca_bundle(CERT) == CERT.encode()
    assert decode_ca_bundle(base64.b64encode(CERT.encode()).decode()) == CERT.encode()
    assert decode_ca_bundle(CERT + CERT) == (CERT + CERT).encode()


def test_ca_bundle_comments_in_any_language_are_dropped_not_fatal() -> None:
    commented = "# Zertifikat für die Broker-CA\n" + CERT
    assert decode_ca_bundle(commented) == CERT.encode()
    encoded = base64.b64encode(commented.encode("utf-8")).decode()
    assert decode_ca_bundle(encoded) == CERT.encode()
    # the bundle decoded is what ssl accepts
    ssl.create_default_context(cadata=CERT.encode().decode())


@pytest.mark.parametrize(
    "value",
    [
        "not base64 !",
        base64.b64encode(b"hello").decode(),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_ca_bundle_rejects_what_is_not_a_certificate(value: str) -> None:
    assert decode_ca_bundle(value) is None


def _problems(text: str) -> list[str]:
    docs, problems = parse_text(textwrap.dedent(text), "in.yaml")
    _, more = load_documents(docs)
    return [p.render() for p in sorted(problems + more)]


BROKER = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata: {{name: b}}
spec: {{url: "{url}"}}
"""


@pytest.mark.parametrize(
    "url",
    ["http://b", "https://b.example.com:8443/osb/", "http://10.0.0.1:80", "http://[::1]:8080"],
)
def test_good_broker_urls(url: str) -> None:
    assert _problems(BROKER.format(url=url)) == []


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("b.example.com", "missing scheme (expected http:// or https://)"),
        ("//b.example.com", "missing scheme (expected http:// or https://)"),
        ("file:///etc/passwd", "unsupported scheme 'file' (expected http or https)"),
        ("https://", "missing host"),
        ("http://b:0", "port must be a number from 1 to 65535"),
        ("http://b:65536", "port must be a number from 1 to 65535"),
        ("", "missing scheme (expected http:// or https://)"),
    ],
)
def test_bad_broker_urls(url: str, why: str) -> None:
    assert _problems(BROKER.format(url=url)) == [
        f"in.yaml:4:8: ClusterServiceBroker/b: spec.url: invalid URL {url!r}: {why}"
    ]


MAPPINGS = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata: {{name: db}}
spec: {{clusterServiceClassExternalName: postgres}}
---
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceBinding
metadata: {{name: db}}
spec: {{instanceRef: {{name: db}}}}
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {{name: one}}
spec:
  bindingRef: {{name: db}}
  target: {{kind: Deployment, name: web{first}}}
  env: [{{name: DB_URL, key: uri}}]
---
apiVersion: catalogctl.io/v1alpha1
kind: PodMapping
metadata: {{name: two}}
spec:
  bindingRef: {{name: db}}
  target: {{kind: {kind}, name: web{second}}}
  env: [{{name: DB_URL, key: uri}}]
"""


@pytest.mark.parametrize(
    ("first", "second", "kind", "conflict"),
    [
        ("", "", "Deployment", True),
        (", containers: [a]", "", "Deployment", True),  # no list: every container
        (", containers: [a, b]", ", containers: [b]", "Deployment", True),
        (", containers: [a]", ", containers: [b]", "Deployment", False),
        ("", "", "StatefulSet", False),  # another workload named web
    ],
)
def test_env_conflicts_between_mappings_respect_containers(
    first: str, second: str, kind: str, conflict: bool
) -> None:
    problems = _problems(MAPPINGS.format(first=first, second=second, kind=kind))
    expected = (
        ["in.yaml:25:10: PodMapping/default/two: spec.env[0].name: env var 'DB_URL' in "
         "Deployment/default/web is also set by PodMapping/default/one (in.yaml:11)"]
        if conflict
        else []
    )
    assert problems == expected


def test_a_qualified_external_name_naming_a_declared_broker_is_fine() -> None:
    text = """\
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceBroker
    metadata: {name: team, namespace: a}
    spec: {url: "http://team"}
    ---
    apiVersion: servicecatalog.k8s.io/v1beta1
    kind: ServiceInstance
    metadata: {name: cache, namespace: a}
    spec: {serviceClassExternalName: team/redis, servicePlanExternalName: small}
    """
    assert _problems(text) == []


def test_address_parse_round_trips() -> None:
    for text in ("ClusterServiceBroker/b", "ServiceInstance/apps/db", "Secret/a/s"):
        assert str(Address.parse(text)) == text
    assert Address.parse("ServiceBinding/db", "team") == Address("ServiceBinding", "team", "db")
    for bad in ("ServiceInstance", "Nope/a/b", "ClusterServiceBroker/a/b", "ServiceInstance//x"):
        with pytest.raises(ValueError):
            Address.parse(bad)
