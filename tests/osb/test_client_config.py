"""BrokerConnection validation and secret handling (osb-platform-rules §2; SC broker rules)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest

from catalogctl.errors import InputError
from catalogctl.providers.osb.config import BasicAuth, BearerAuth, BrokerConnection, Secret

PASSWORD = "hunter2-very-secret"
TOKEN = "tok-abcdef-very-secret"


def test_bearer_token_requires_tls_except_on_loopback() -> None:
    with pytest.raises(InputError, match="https"):
        BrokerConnection("b", "http://broker.example.com", auth=BearerAuth(Secret(TOKEN)))
    BrokerConnection("b", "https://broker.example.com", auth=BearerAuth(Secret(TOKEN)))
    BrokerConnection("b", "http://127.0.0.1:8080", auth=BearerAuth(Secret(TOKEN)))


def test_ca_bundle_and_insecure_skip_tls_verify_are_exclusive() -> None:
    with pytest.raises(InputError, match="exclusive"):
        BrokerConnection("b", "https://x.example", ca_bundle=b"pem", insecure_skip_tls_verify=True)


def test_invalid_ca_bundle_is_an_input_error() -> None:
    conn = BrokerConnection("b", "https://x.example", ca_bundle=b"not a pem")
    with pytest.raises(InputError, match="caBundle"):
        conn.ssl_verify()


def test_insecure_skip_tls_verify_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    conn = BrokerConnection(
        "ClusterServiceBroker/x", "https://x.example", insecure_skip_tls_verify=True
    )
    with caplog.at_level(logging.WARNING):
        assert conn.ssl_verify() is False
    assert any(
        r.levelno == logging.WARNING and "DISABLED" in r.getMessage() for r in caplog.records
    )


def test_credentials_in_url_are_refused() -> None:
    with pytest.raises(InputError, match="auth"):
        BrokerConnection("b", f"https://admin:{PASSWORD}@x.example")


def test_secrets_never_appear_in_repr_or_str() -> None:
    conn = BrokerConnection("b", "https://x.example", auth=BasicAuth("admin", Secret(PASSWORD)))
    bearer = BrokerConnection("b", "https://x.example", auth=BearerAuth(Secret(TOKEN)))
    for text in (repr(conn), str(conn), repr(bearer), f"{conn.auth}", str(Secret(TOKEN))):
        assert PASSWORD not in text and TOKEN not in text
    assert Secret(PASSWORD).reveal() == PASSWORD


def test_secret_survives_copying_but_refuses_pickling() -> None:
    import copy
    import pickle

    conn = BrokerConnection("b", "https://x.example", auth=BasicAuth("admin", Secret(PASSWORD)))
    clone = copy.deepcopy(conn)
    assert clone == conn and isinstance(clone.auth, BasicAuth)
    assert clone.auth.password.reveal() == PASSWORD
    with pytest.raises(TypeError):
        pickle.dumps(conn)


def test_brokers_without_a_ca_bundle_share_one_trust_store_per_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    first = BrokerConnection("ClusterServiceBroker/a", "https://a.example").ssl_verify()
    second = BrokerConnection("ClusterServiceBroker/b", "https://b.example").ssl_verify()
    assert isinstance(first, ssl.SSLContext) and first is second
    assert first.verify_mode == ssl.CERT_REQUIRED and first.check_hostname

    # A changed SSL_CERT_DIR is a trust store of its own, not the cached one.
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    other = BrokerConnection("ClusterServiceBroker/c", "https://c.example").ssl_verify()
    assert isinstance(other, ssl.SSLContext) and other is not first
