"""``catalogctl state migrate``: moving a state between backends with its lineage and serial."""

from __future__ import annotations

import uuid
from pathlib import Path

from catalogctl.engine.statestore import open_state
from catalogctl.state import LocalBackend, State
from tests.cli import run_cli
from tests.fixtures.cluster import KubeApiServer
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.state.conformance import instance, locked, run


def _local_state(directory: Path) -> State:
    backend = LocalBackend(directory)
    run(backend, record=(instance("a"), instance("b")))
    return run(backend, forget=("ServiceInstance/ns/b",), record=(instance("c"),))


def test_local_to_postgresql_keeps_lineage_serial_and_resources(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    local = _local_state(tmp_path / "state")
    url = postgres_server.url(f"m{uuid.uuid4().hex[:8]}")
    result = run_cli("state", "migrate", "--state", str(tmp_path / "state"), "--to", url)
    assert result.exit_code == 0, result.stderr
    assert f"Copied 2 resources (lineage {local.lineage}, serial 2)" in result.stdout
    assert PASSWORD not in result.stdout + result.stderr
    assert open_state(url).read() == local
    # The source is left alone, and the new state works for the next run.
    assert LocalBackend(tmp_path / "state").read() == local
    listed = run_cli("state", "list", "--state", url)
    assert listed.stdout.splitlines() == ["ServiceInstance/ns/a", "ServiceInstance/ns/c"]


def test_a_target_holding_a_state_is_refused_without_force(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    local = _local_state(tmp_path / "state")
    url = postgres_server.url(f"m{uuid.uuid4().hex[:8]}")
    other = run(open_state(url), record=(instance("theirs"),))
    refused = run_cli("state", "migrate", "--state", str(tmp_path / "state"), "--to", url)
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert f"already holds a state (lineage {other.lineage}, serial 1, 1 resources)" in (
        refused.stderr
    )
    assert "--force" in refused.stderr
    assert PASSWORD not in refused.stderr
    assert open_state(url).read() == other

    forced = run_cli("state", "migrate", "--state", str(tmp_path / "state"), "--to", url, "--force")
    assert forced.exit_code == 0, forced.stderr
    assert open_state(url).read() == local


def test_a_locked_target_is_not_written(tmp_path: Path, postgres_server: PostgresServer) -> None:
    local_dir = tmp_path / "state"
    _local_state(local_dir)
    url = postgres_server.url(f"m{uuid.uuid4().hex[:8]}")
    target = open_state(url)
    with locked(target, "apply") as info:
        result = run_cli("state", "migrate", "--state", str(local_dir), "--to", url)
        assert result.exit_code == 1
        assert f"is locked by {info.who}" in result.stderr and info.id in result.stderr
        assert PASSWORD not in result.stderr
    assert open_state(url).read().serial == 0
    # The source's lock was released on the way out.
    assert LocalBackend(local_dir).lock_info() is None


def test_empty_source_is_refused(tmp_path: Path, postgres_server: PostgresServer) -> None:
    url = postgres_server.url(f"m{uuid.uuid4().hex[:8]}")
    result = run_cli("state", "migrate", "--state", str(tmp_path / "none"), "--to", url)
    assert result.exit_code == 1
    assert "holds no state; there is nothing to migrate" in result.stderr


def test_local_to_kubernetes_through_the_kubeconfig(
    tmp_path: Path, kube_apiserver: KubeApiServer, kube_namespace: str
) -> None:
    local = _local_state(tmp_path / "state")
    kubeconfig = str(kube_apiserver.kubeconfig(kube_namespace))
    to = f"kubernetes://{kube_namespace}/team-a"
    result = run_cli(
        "state",
        "migrate",
        "--state",
        str(tmp_path / "state"),
        "--to",
        to,
        "--kubeconfig",
        kubeconfig,
    )
    assert result.exit_code == 0, result.stderr
    assert open_state(to, kubeconfig=kubeconfig).read() == local
    shown = run_cli("show", "--json", "--state", to, "--kubeconfig", kubeconfig)
    assert State.from_json(shown.stdout) == local
