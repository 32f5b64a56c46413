"""TLS to brokers: caBundle, system trust and insecureSkipTLSVerify (rules §2; SC broker spec).

Certificates are made with the ``openssl`` CLI for 127.0.0.1; the tests skip
when it is not installed.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from catalogctl.providers.osb.client import OSBClient
from catalogctl.providers.osb.config import BasicAuth, BrokerConnection, Secret
from catalogctl.providers.osb.outcomes import Done, Unreachable
from tests.brokers.programmable import ProgrammableBroker

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "1",
        "-subj",
        "/CN=catalogctl-test-ca",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "1", "-extfile", "ext.cnf")  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


@pytest.fixture
def tls_broker(certs: dict[str, Path]) -> Iterator[ProgrammableBroker]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs["cert"], certs["key"])
    with ProgrammableBroker(ssl_context=ctx) as broker:
        yield broker


async def test_ca_bundle_verifies_the_brokers_certificate(
    tls_broker: ProgrammableBroker, certs: dict[str, Path]
) -> None:
    conn = BrokerConnection(
        "ClusterServiceBroker/tls",
        tls_broker.url,
        ca_bundle=certs["ca"].read_bytes(),
        auth=BasicAuth("admin", Secret("pw")),
    )
    assert conn.url.startswith("https://")
    async with OSBClient(conn) as c:
        assert isinstance(await c.get_catalog(), Done)


async def test_unknown_ca_is_refused_before_anything_is_sent(
    tls_broker: ProgrammableBroker,
) -> None:
    async with OSBClient(BrokerConnection("ClusterServiceBroker/tls", tls_broker.url)) as c:
        outcome = await c.get_catalog()
    assert isinstance(outcome, Unreachable) and not outcome.request_sent
    assert tls_broker.requests == []


async def test_insecure_skip_tls_verify_connects_and_warns(
    tls_broker: ProgrammableBroker, caplog: pytest.LogCaptureFixture
) -> None:
    conn = BrokerConnection(
        "ClusterServiceBroker/tls", tls_broker.url, insecure_skip_tls_verify=True
    )
    with caplog.at_level(logging.WARNING):
        async with OSBClient(conn) as c:
            assert isinstance(await c.get_catalog(), Done)
    assert any("DISABLED" in r.getMessage() for r in caplog.records)
