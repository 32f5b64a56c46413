"""``catalogctl output``: binding credentials, masked unless --show-secrets.

Key names come from state; values are read from the binding's Secret in a
real cluster directory (``--cluster-dir``), the same files apply writes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalogctl.providers.kubernetes.directory import DirectoryCluster
from catalogctl.state import ResourceStatus
from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.cli.test_import import _desired
from tests.cli.test_state_cmd_fixtures import (
    BINDING,
    binding,
    instance,
    secret,
    standard,
    write_state,
)

CREDENTIALS = {
    "password": b"s3cr3t-pw-9f8e7d",
    "uri": b"postgres://app:s3cr3t-pw-9f8e7d@10.0.0.7:5432/app",
    "username": b"app",
}
OTHER = "ServiceBinding/team-a/cache-binding"


@pytest.fixture
def cluster_dir(tmp_path: Path) -> Path:
    """A cluster directory holding the binding Secret apply would have written."""
    root = tmp_path / "cluster"
    DirectoryCluster(root).write_binding_secret(
        namespace="default", name="db-creds", owner=BINDING, data=CREDENTIALS
    )
    return root


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "state"
    write_state(directory, standard())
    return directory


def _no_secret_values(text: str) -> None:
    for value in CREDENTIALS.values():
        if len(value) > 3:
            assert value.decode() not in text
    assert "s3cr3t" not in text


def test_output_masks_values_and_needs_no_cluster(state_dir: Path, tmp_path: Path) -> None:
    # The cluster directory does not exist: masked output must not read it.
    result = run_cli("output", "--state", str(state_dir), "--cluster-dir", str(tmp_path / "absent"))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"# {BINDING} (Secret default/db-creds):\n"
        "    password = (sensitive value)\n"
        "    uri      = (sensitive value)\n"
        "    username = (sensitive value)\n"
    )
    assert (
        result.stderr == "Values are hidden; pass --show-secrets to read them from the cluster.\n"
    )
    assert not (tmp_path / "absent").exists()


def test_output_show_secrets_reads_the_secret(state_dir: Path, cluster_dir: Path) -> None:
    result = run_cli(
        "output",
        BINDING,
        "--state",
        str(state_dir),
        "--cluster-dir",
        str(cluster_dir),
        "--show-secrets",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"# {BINDING} (Secret default/db-creds):\n"
        '    password = "s3cr3t-pw-9f8e7d"\n'
        '    uri      = "postgres://app:s3cr3t-pw-9f8e7d@10.0.0.7:5432/app"\n'
        '    username = "app"\n'
    )
    assert result.stderr == ""


def test_output_json_masked_and_shown(state_dir: Path, cluster_dir: Path) -> None:
    masked = run_cli("output", "--json", "--state", str(state_dir))
    assert masked.exit_code == 0, masked.stderr
    assert json.loads(masked.stdout) == {
        BINDING: {
            "secret": "default/db-creds",
            "keys": ["password", "uri", "username"],
            "sensitive": True,
            "values": None,
        }
    }
    _no_secret_values(masked.stdout + masked.stderr)
    shown = run_cli(
        "output",
        "--json",
        "--show-secrets",
        "--state",
        str(state_dir),
        "--cluster-dir",
        str(cluster_dir),
    )
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)[BINDING]["values"] == {
        k: v.decode() for k, v in CREDENTIALS.items()
    }
    assert json.loads(shown.stdout)[BINDING]["base64_keys"] == []


def test_output_binary_values_are_base64(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    write_state(state_dir, [instance(), binding(), secret(keys=("cert",))])
    root = tmp_path / "cluster"
    DirectoryCluster(root).write_binding_secret(
        namespace="default", name="db-creds", owner=BINDING, data={"cert": b"\xff\x00\x01"}
    )
    args = ["--state", str(state_dir), "--cluster-dir", str(root), "--show-secrets"]
    human = run_cli("output", *args)
    assert human.exit_code == 0, human.stderr
    assert '    cert = (binary, base64) "/wAB"\n' in human.stdout
    doc = json.loads(run_cli("output", "--json", *args).stdout)[BINDING]
    assert (doc["values"], doc["base64_keys"]) == ({"cert": "/wAB"}, ["cert"])


def test_output_all_bindings_notes_one_without_a_secret(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    write_state(
        state_dir,
        [
            *standard(),
            instance("ServiceInstance/team-a/cache", instance_id="cache-id"),
            binding(
                OTHER,
                status=ResourceStatus.CREATING,
                binding_id="cache-b",
                depends_on=("ServiceInstance/team-a/cache",),
            ),
        ],
    )
    result = run_cli("output", "--state", str(state_dir))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split("\n\n")[1] == (
        f"# {OTHER}: (no credentials: the binding is creating; run apply)\n"
    )


def test_output_with_no_bindings(tmp_path: Path) -> None:
    write_state(tmp_path, [instance()])
    result = run_cli("output", "--state", str(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "No bindings in the state.\n")
    result = run_cli("output", "--json", "--state", str(tmp_path))
    assert (result.exit_code, result.stdout) == (0, "{}\n")


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "ServiceInstance/default/db",
            "ServiceInstance/default/db: output shows the credentials of ServiceBinding "
            "addresses only",
        ),
        (
            "ServiceBinding/default/ghost",
            "ServiceBinding/default/ghost is not in the state (see `catalogctl state list "
            "ServiceBinding/`)",
        ),
    ],
)
def test_output_address_errors(state_dir: Path, address: str, message: str) -> None:
    result = run_cli("output", address, "--state", str(state_dir))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"


def test_output_of_a_binding_whose_secret_is_not_written_yet(tmp_path: Path) -> None:
    write_state(tmp_path, [instance(), binding()])
    result = run_cli("output", "ServiceBinding/db-binding", "--state", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {BINDING}: no credentials to show: its Secret has not been written yet; "
        "run apply\n"
    )


def test_output_fails_clearly_when_a_key_vanished(state_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    partial = {k: v for k, v in CREDENTIALS.items() if k != "uri"}
    DirectoryCluster(root).write_binding_secret(
        namespace="default", name="db-creds", owner=BINDING, data=partial
    )
    result = run_cli(
        "output", "--show-secrets", "--state", str(state_dir), "--cluster-dir", str(root)
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: ")
    assert "uri" in lines[0] and "db-creds" in lines[0]
    _no_secret_values(result.stderr)


def test_output_after_a_real_apply(tmp_path: Path, programmable_broker: ProgrammableBroker) -> None:
    """apply writes the Secret; output shows its keys masked, and the broker's values on request."""
    desired = tmp_path / "desired.yaml"
    desired.write_text(_desired(programmable_broker.url))
    where = ["--state", str(tmp_path / "state"), "--cluster-dir", str(tmp_path / "cluster")]
    applied = run_cli("apply", "-f", str(desired), *where, "--auto-approve")
    assert applied.exit_code == 0, applied.stderr
    [credentials] = [b.credentials for b in programmable_broker.bindings.values()]

    masked = run_cli("output", *where)
    assert masked.exit_code == 0, masked.stderr
    assert masked.stdout.splitlines()[1:] == [
        f"    {key.ljust(8)} = (sensitive value)" for key in sorted(credentials)
    ]
    for value in credentials.values():
        assert value not in masked.stdout + masked.stderr + applied.stdout + applied.stderr
        assert value not in (tmp_path / "state" / "catalogctl.state.json").read_text()

    shown = run_cli("output", BINDING, "--json", "--show-secrets", *where)
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)[BINDING]["values"] == credentials
