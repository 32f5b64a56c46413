"""Broker traffic over real networks: proxies, TLS failures, hostile answers, broken catalogs,
and polls that end.  Every broker here is a real server on 127.0.0.1 and every run goes
through the CLI (or, where waits would be long, the same engine with an injected clock)."""

from __future__ import annotations

import base64
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.brokers.certs import make_certs
from tests.brokers.hostile import HostileBroker, Mode
from tests.brokers.programmable import ProgrammableBroker
from tests.brokers.proxy import ForwardingProxy
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, mutating
from tests.e2e.inprocess import Run

LO = r"/last_operation$"
INSTANCES = r"/v2/service_instances/[^/]+$"


def _workspace(tmp_path: Path, url: str, extra: str = "") -> Workspace:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(url, name="net", auth=False) + extra)
    return ws


def _clean_failure(result: Any) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    return str(result.stderr)


# --------------------------------------------------------------------------- proxies


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment, free of proxies (tests/conftest.py), for a test to set its own."""
    return monkeypatch


def test_apply_through_a_proxy_that_alone_knows_the_brokers_host_name(
    tmp_path: Path, programmable_broker: ProgrammableBroker, no_proxy_env: pytest.MonkeyPatch
) -> None:
    host = "osb-broker.internal"
    with ForwardingProxy({host: ("127.0.0.1", programmable_broker.port)}) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        ws = _workspace(tmp_path, f"http://{host}:{programmable_broker.port}")
        ws.write("db.yaml", instance_yaml("db"))
        ws.ok("apply", "--auto-approve")
    assert {r.host for r in proxy.requests} == {host}
    assert [r.method for r in proxy.requests if r.method != "GET"] == ["PUT"]
    assert len(programmable_broker.instances) == 1


def test_no_proxy_sends_the_broker_traffic_directly(
    tmp_path: Path, programmable_broker: ProgrammableBroker, no_proxy_env: pytest.MonkeyPatch
) -> None:
    with ForwardingProxy({}) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", proxy.url)
        no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        ws = _workspace(tmp_path, programmable_broker.url)
        ws.write("db.yaml", instance_yaml("db"))
        ws.ok("apply", "--auto-approve")
    assert proxy.requests == []
    assert len(programmable_broker.instances) == 1


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl CLI is needed to make test certificates (.ci/run installs it)")
    return make_certs(tmp_path_factory.mktemp("tls"))


def _tls_broker(pair: tuple[Path, Path]) -> ProgrammableBroker:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*pair)
    return ProgrammableBroker(ssl_context=ctx)


def _ca_bundle(certs: dict[str, Any]) -> str:
    return f"  caBundle: {base64.b64encode(certs['ca'].read_bytes()).decode()}\n"


@pytest.mark.parametrize(
    ("cert", "with_ca", "expected"),
    [
        ("good", False, ["signed by an unknown authority", "spec.caBundle"]),
        (
            "other_name",
            True,
            ["does not match host 127.0.0.1", "it is valid for broker.other.test"],
        ),
        ("expired", True, ["certificate has expired"]),
    ],
)
def test_each_tls_failure_says_what_is_wrong(
    tmp_path: Path, certs: dict[str, Any], cert: str, with_ca: bool, expected: list[str]
) -> None:
    with _tls_broker(certs[cert]) as broker:
        ws = _workspace(tmp_path, broker.url, _ca_bundle(certs) if with_ca else "")
        ws.write("db.yaml", instance_yaml("db"))
        stderr = _clean_failure(ws.run("plan"))
        assert broker.requests == []  # refused before anything was sent
    for text in expected:
        assert text in stderr, stderr
    assert "ClusterServiceBroker/net" in stderr


def test_a_verified_certificate_works(tmp_path: Path, certs: dict[str, Any]) -> None:
    with _tls_broker(certs["good"]) as broker:
        ws = _workspace(tmp_path, broker.url, _ca_bundle(certs))
        ws.write("db.yaml", instance_yaml("db"))
        ws.ok("apply", "--auto-approve")
        assert len(broker.instances) == 1


def test_ssl_cert_file_from_the_environment_verifies_brokers_without_a_ca_bundle(
    tmp_path: Path, certs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["ca"]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    with _tls_broker(certs["good"]) as broker:
        ws = _workspace(tmp_path, broker.url)
        ws.write("db.yaml", instance_yaml("db"))
        ws.ok("apply", "--auto-approve")
        assert len(broker.instances) == 1


# --------------------------------------------------------------------------- hostile answers


@pytest.fixture(params=["endless", "huge"])
def hostile(request: pytest.FixtureRequest) -> Iterator[HostileBroker]:
    mode: Mode = request.param
    with HostileBroker(mode) as broker:
        yield broker


def test_an_endless_or_oversized_body_is_refused_at_the_size_limit(
    tmp_path: Path, hostile: HostileBroker
) -> None:
    ws = _workspace(tmp_path, hostile.url)
    ws.write("db.yaml", instance_yaml("db"))
    stderr = _clean_failure(ws.run("plan", "--max-response-size", "1Mi"))
    assert "ClusterServiceBroker/net" in stderr and "GET /v2/catalog" in stderr
    assert "response body larger than 1 MiB (--max-response-size)" in stderr
    assert hostile.sent < 64 * 1024 * 1024  # the client stopped reading early


def test_json_nested_too_deep_is_an_unusable_answer(tmp_path: Path) -> None:
    with HostileBroker("deep") as broker:
        ws = _workspace(tmp_path, broker.url)
        ws.write("db.yaml", instance_yaml("db"))
        stderr = _clean_failure(ws.run("plan"))
    assert "JSON nested deeper than 128 levels" in stderr


# --------------------------------------------------------------------------- catalogs


def test_an_invalid_catalog_is_not_cached_and_its_fix_is_used_at_once(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    good = programmable_broker.catalog
    programmable_broker.catalog = {"services": [{"id": 7, "name": ["not", "a", "name"]}]}
    ws = _workspace(tmp_path, programmable_broker.url)
    ws.write("db.yaml", instance_yaml("db"))
    ws.state.mkdir(parents=True)  # catalogs are cached inside a state that exists
    stderr = _clean_failure(ws.run("plan"))
    assert "unusable catalog" in stderr
    cache = ws.state / "catalog-cache"
    assert not cache.exists() or list(cache.glob("*.json")) == []

    programmable_broker.catalog = good
    plan = ws.ok("plan")
    assert '+ ServiceInstance "apps/db"' in plan.stdout
    assert len(list(cache.glob("*.json"))) == 1


# --------------------------------------------------------------------------- polling


@pytest.fixture
def async_ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    ws = _workspace(tmp_path, programmable_broker.url)
    ws.write("db.yaml", instance_yaml("db", plan="async"))
    return ws


def test_last_operation_400_fails_the_provision_and_mitigates(
    async_ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("GET", LO, status=400, body={"description": "unknown operation"})
    programmable_broker.script("DELETE", INSTANCES, status=200, body={})
    run = Run(async_ws)
    failure = run.apply()
    assert failure is not None
    assert "provisioning failed" in str(failure) and "unknown operation" in str(failure)
    assert [m for m, _ in mutating(programmable_broker.requests)] == ["PUT", "DELETE"]
    assert any(line.endswith("Cleaned up after 0s") for line in run.lines), run.lines


@pytest.mark.parametrize("body", ["<html>bad gateway</html>", {"state": "weird"}])
def test_unusable_last_operation_answers_end_the_operation(
    async_ws: Workspace, programmable_broker: ProgrammableBroker, body: Any
) -> None:
    programmable_broker.script("GET", LO, status=200, body=body, times=None)
    programmable_broker.script("DELETE", INSTANCES, status=200, body={})
    run = Run(async_ws)
    failure = run.apply()
    assert failure is not None and "5 unusable answers in a row" in str(failure), failure
    assert len(programmable_broker.requests_to("GET", LO)) == 5
    assert [m for m, _ in mutating(programmable_broker.requests)] == ["PUT", "DELETE"]


def test_mitigation_that_gives_up_says_so_and_keeps_the_original_failure(
    async_ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.script("GET", LO, status=400, body={"description": "unknown operation"})
    programmable_broker.script("DELETE", INSTANCES, status=401, body={"description": "who?"})
    run = Run(async_ws)
    failure = str(run.apply())
    assert "unknown operation" in failure  # the original failure, the broker's words
    assert "orphan mitigation of instance" in failure and "did not finish" in failure
    assert not any("Cleaned up" in line for line in run.lines)
    assert any("Cleaning up (orphan mitigation) failed" in line for line in run.lines)
    assert async_ws.resources()["ServiceInstance/apps/db"]["orphan_mitigation_pending"]


def test_poll_timeout_caps_one_operation(
    async_ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.async_polls = 10_000
    programmable_broker.script("DELETE", INSTANCES, status=200, body={})
    result = async_ws.run("apply", "--auto-approve", "--poll-timeout", "2s")
    assert result.exit_code == 1
    assert "did not finish within 2s" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-response-size", "12Q", "invalid size '12Q'"),
        ("--retry-timeout", "-5s", "--retry-timeout must not be negative"),
        ("--poll-timeout", "soon", "invalid duration 'soon'"),
    ],
)
def test_bad_transport_flags_are_usage_errors_before_any_broker_call(
    tmp_path: Path, programmable_broker: ProgrammableBroker, flag: str, value: str, message: str
) -> None:
    ws = _workspace(tmp_path, programmable_broker.url)
    ws.write("db.yaml", instance_yaml("db"))
    result = ws.run("plan", flag, value)
    assert message in _clean_failure(result)
    assert programmable_broker.requests == []
