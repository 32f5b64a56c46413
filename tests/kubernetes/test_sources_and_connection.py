"""Secret value sources for inputs, kubeconfig resolution and cluster selection."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from catalogctl.errors import ClusterError, InputError
from catalogctl.providers.kubernetes import (
    ClusterConfigNotFound,
    DirectoryCluster,
    KubeCluster,
    KubeOptions,
    open_cluster,
)
from catalogctl.providers.kubernetes.connection import KubeConnection, kubeconfig_paths
from catalogctl.providers.kubernetes.secrets import MissingSecretError
from catalogctl.providers.kubernetes.sources import (
    ChainSecretSource,
    DirectorySecretSource,
    EnvSecretSource,
    env_var_name,
    read_basic_auth,
    read_bearer_token,
    read_parameters_from,
)


def test_env_var_name() -> None:
    assert env_var_name("catalogctl-system", "cloud-broker-auth", "password") == (
        "CATALOGCTL_SECRET_CATALOGCTL_SYSTEM_CLOUD_BROKER_AUTH_PASSWORD"
    )
    assert env_var_name("ns", "db.creds", "key.json") == "CATALOGCTL_SECRET_NS_DB_CREDS_KEY_JSON"


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    base = tmp_path / "secrets" / "ns" / "auth"
    base.mkdir(parents=True)
    (base / "username").write_text("from-dir")
    (base / "password").write_text("dir-pw")
    # A mounted Secret's bookkeeping entries must be ignored.
    (base / "..data").mkdir()
    (base / "..data" / "username").write_text("ignored")
    return tmp_path / "secrets"


@pytest.fixture
def cluster(tmp_path: Path) -> DirectoryCluster:
    target = DirectoryCluster(tmp_path / "cluster")
    target.write_binding_secret(
        namespace="ns",
        name="auth",
        owner="ServiceBinding/ns/x",
        data={"username": b"from-cluster", "token": b"cluster-token"},
    )
    return target


def test_chain_order_env_then_dir_then_cluster(
    secrets_dir: Path, cluster: DirectoryCluster
) -> None:
    env = {env_var_name("ns", "auth", "username"): "from-env"}
    chain = ChainSecretSource.standard(cluster, str(secrets_dir), environ=env)
    assert chain.read_key("ns", "auth", "username") == b"from-env"
    assert chain.read_key("ns", "auth", "password") == b"dir-pw"
    assert chain.read_key("ns", "auth", "token") == b"cluster-token"
    assert chain.read_key("ns", "auth", "nope") is None
    # Whole-Secret reads skip the environment and stop at the first source that has the Secret.
    assert chain.read_secret("ns", "auth") == {"password": b"dir-pw", "username": b"from-dir"}
    assert chain.require_secret("ns", "auth")


def test_missing_key_error_lists_sources_without_values(
    secrets_dir: Path, cluster: DirectoryCluster
) -> None:
    chain = ChainSecretSource.standard(cluster, str(secrets_dir), environ={})
    with pytest.raises(MissingSecretError) as exc:
        chain.require_key("ns", "auth", "nope")
    msg = str(exc.value)
    assert "Secret ns/auth key 'nope' not found" in msg
    assert "secrets directory" in msg and "cluster directory" in msg
    assert "CATALOGCTL_SECRET_NS_AUTH_NOPE" in msg
    assert "dir-pw" not in msg and "cluster-token" not in msg
    with pytest.raises(MissingSecretError, match="Secret ns/other not found"):
        chain.require_secret("ns", "other")


def test_broker_auth_helpers(secrets_dir: Path) -> None:
    chain = ChainSecretSource([DirectorySecretSource(secrets_dir)])
    assert read_basic_auth(chain, "ns", "auth") == ("from-dir", "dir-pw")
    with pytest.raises(MissingSecretError, match="key 'token'"):
        read_bearer_token(chain, "ns", "auth")
    env_chain = ChainSecretSource([EnvSecretSource({env_var_name("ns", "b", "token"): "t0k"})])
    assert read_bearer_token(env_chain, "ns", "b") == "t0k"


def test_basic_auth_needs_both_keys(tmp_path: Path) -> None:
    (tmp_path / "ns" / "half").mkdir(parents=True)
    (tmp_path / "ns" / "half" / "username").write_text("u")
    with pytest.raises(MissingSecretError, match="key 'password'"):
        read_basic_auth(ChainSecretSource([DirectorySecretSource(tmp_path)]), "ns", "half")


def test_parameters_from_must_be_json_object() -> None:
    env = {
        env_var_name("ns", "p", "ok"): '{"a": 1}',
        env_var_name("ns", "p", "list"): "[1]",
        env_var_name("ns", "p", "bad"): "not-json-secret",
    }
    chain = ChainSecretSource([EnvSecretSource(env)])
    assert read_parameters_from(chain, "ns", "p", "ok") == {"a": 1}
    with pytest.raises(ClusterError, match="must be a JSON object"):
        read_parameters_from(chain, "ns", "p", "list")
    with pytest.raises(ClusterError, match="not valid JSON") as exc:
        read_parameters_from(chain, "ns", "p", "bad")
    assert "not-json-secret" not in str(exc.value)
    assert exc.value.__cause__ is None


class TestKubeconfigResolution:
    def test_flag_must_exist(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="does not exist"):
            kubeconfig_paths(str(tmp_path / "nope"), {})

    def test_env_list_and_dedup(self, tmp_path: Path) -> None:
        a, b = tmp_path / "a", tmp_path / "b"
        a.write_text("{}")
        b.write_text("{}")
        env = {"KUBECONFIG": f"{a}::{tmp_path / 'missing'}:{b}:{a}"}
        assert kubeconfig_paths(None, env, home=tmp_path) == [a, b]

    def test_home_default(self, tmp_path: Path) -> None:
        assert kubeconfig_paths(None, {}, home=tmp_path) == []
        (tmp_path / ".kube").mkdir()
        (tmp_path / ".kube" / "config").write_text("{}")
        assert kubeconfig_paths(None, {}, home=tmp_path) == [tmp_path / ".kube" / "config"]

    def test_nothing_configured(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.delenv("KUBECONFIG", raising=False)
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
        conn = KubeConnection(KubeOptions())
        assert not conn.configured
        with pytest.raises(ClusterConfigNotFound, match="--cluster-dir"):
            conn.api_client()
        with pytest.raises(ClusterConfigNotFound):
            open_cluster(KubeOptions())
        fallback = open_cluster(KubeOptions(namespace="demo"), fallback_dir=tmp_path / "q")
        assert isinstance(fallback, DirectoryCluster) and fallback.default_namespace == "demo"

    def test_cluster_dir_wins_and_kubeconfig_selects_api(self, tmp_path: Path) -> None:
        cfg = tmp_path / "kubeconfig"
        cfg.write_text("apiVersion: v1\nkind: Config\n")
        assert isinstance(
            open_cluster(KubeOptions(kubeconfig=str(cfg)), cluster_dir=str(tmp_path)),
            DirectoryCluster,
        )
        assert isinstance(open_cluster(KubeOptions(kubeconfig=str(cfg))), KubeCluster)


def test_importing_the_provider_does_not_import_kubernetes() -> None:
    code = (
        "import sys, catalogctl.providers.kubernetes, catalogctl.cli.commands.render; "
        "sys.exit(1 if 'kubernetes' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
