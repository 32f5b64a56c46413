"""``catalogctl state list|show|rm|mv`` against a real local state directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalogctl.state import LocalBackend, State
from catalogctl.state.local import BACKUP_FILE, JOURNAL_FILE, STATE_FILE
from tests.cli import run_cli
from tests.cli.test_state_cmd_fixtures import (
    BINDING,
    BROKER,
    INSTANCE,
    MAPPING,
    SECRET,
    binding,
    instance,
    standard,
    write_state,
)


def _stored(directory: Path) -> State:
    return State.from_json((directory / STATE_FILE).read_bytes())


def _assert_untouched(directory: Path, before: bytes) -> None:
    assert (directory / STATE_FILE).read_bytes() == before
    assert not (directory / JOURNAL_FILE).exists()
    assert LocalBackend(directory).lock_info() is None


# -- list --
def test_list_prints_sorted_addresses(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "list", "--state", str(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == sorted([INSTANCE, BINDING, SECRET, MAPPING])


def test_list_filters_by_prefixes(tmp_path: Path) -> None:
    write_state(tmp_path, [*standard(), instance("ServiceInstance/team-a/cache")])
    result = run_cli("state", "list", "--state", str(tmp_path), "ServiceInstance/", "Secret/")
    assert result.stdout == f"{SECRET}\nServiceInstance/default/db\nServiceInstance/team-a/cache\n"
    result = run_cli("state", "list", "--state", str(tmp_path), "ServiceInstance/team-a/")
    assert result.stdout == "ServiceInstance/team-a/cache\n"
    result = run_cli("state", "list", "--state", str(tmp_path), "PodMapping/other/")
    assert (result.exit_code, result.stdout) == (0, "")


def test_list_of_empty_state_prints_nothing(tmp_path: Path) -> None:
    result = run_cli("state", "list", "--state", str(tmp_path))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


# -- show --
def test_show_one_resource(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "show", "--state", str(tmp_path), SECRET)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:6] == [
        "# Secret/default/db-creds:",
        '    status     = "ready"',
        "    data       = {",
        "        password = (sensitive value)",
        "        uri      = (sensitive value)",
        "        username = (sensitive value)",
    ]


def test_show_short_address_means_default_namespace(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "show", "--state", str(tmp_path), "ServiceInstance/db")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"# {INSTANCE}:\n")


def test_show_json_is_the_stored_resource(tmp_path: Path) -> None:
    stored = write_state(tmp_path, standard())
    result = run_cli("state", "show", "--json", "--state", str(tmp_path), BINDING)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(stored.resources[BINDING].model_dump_json())


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            "ServiceInstance/default/nope",
            "Error: ServiceInstance/default/nope is not in the state (see `catalogctl state list`)",
        ),
        (
            "Widget/x",
            "Error: invalid address 'Widget/x': unknown kind 'Widget' (one of "
            "ClusterServiceBroker, ServiceBroker, ServiceInstance, ServiceBinding, Secret, "
            "PodMapping)",
        ),
    ],
)
def test_show_unknown_or_invalid_address_is_one_line_error(
    tmp_path: Path, address: str, message: str
) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "show", "--state", str(tmp_path), address)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [message]


# -- rm --
def test_rm_forgets_resources_bumps_serial_and_keeps_a_backup(tmp_path: Path) -> None:
    before = write_state(tmp_path, standard())
    before_bytes = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli("state", "rm", "--state", str(tmp_path), MAPPING, SECRET)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Removed {MAPPING}\nRemoved {SECRET}\nSuccessfully removed 2 resources from the state.\n"
    )
    assert result.stderr.splitlines() == [
        f"Warning: {MAPPING}: its entries are still in the workload; catalogctl no longer manages "
        "or deletes it.",
        f"Warning: {SECRET}: the Secret still exists in the cluster; catalogctl no longer manages "
        "or deletes it.",
    ]
    after = _stored(tmp_path)
    assert after.serial == before.serial + 1
    assert after.lineage == before.lineage
    assert after.addresses() == [BINDING, INSTANCE]
    assert after.resources[INSTANCE] == before.resources[INSTANCE]
    assert (tmp_path / BACKUP_FILE).read_bytes() == before_bytes
    assert not (tmp_path / JOURNAL_FILE).exists()
    assert LocalBackend(tmp_path).lock_info() is None


def test_rm_instance_warns_that_it_still_exists_at_the_broker_and_names_dependents(
    tmp_path: Path,
) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "rm", "--state", str(tmp_path), INSTANCE)
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        f"Warning: {INSTANCE}: the service instance still exists at its broker (instance "
        "6f1c6a1e-0000-4000-8000-000000000001); catalogctl no longer manages or deletes it.",
        f"Warning: {INSTANCE}: still named as a dependency by {BINDING}.",
    ]
    assert INSTANCE not in _stored(tmp_path).resources


def test_rm_refuses_all_when_one_address_is_missing(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    before = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli(
        "state", "rm", "--state", str(tmp_path), SECRET, "ServiceBinding/default/ghost"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: ServiceBinding/default/ghost is not in the state (see `catalogctl state list`)\n"
    )
    _assert_untouched(tmp_path, before)
    assert not (tmp_path / BACKUP_FILE).exists()


def test_rm_dry_run_changes_nothing(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    before = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli("state", "rm", "--dry-run", "--state", str(tmp_path), BINDING)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Would remove {BINDING}\n"
    _assert_untouched(tmp_path, before)


def test_rm_needs_the_lock(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    before = (tmp_path / STATE_FILE).read_bytes()
    holder = LocalBackend(tmp_path)
    info = holder.lock("apply")
    try:
        result = run_cli("state", "rm", "--state", str(tmp_path), BINDING)
    finally:
        holder.unlock(info.id)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: local state at {tmp_path} is locked by ")
    assert f"lock id {info.id}; gave up after 0s" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert (tmp_path / STATE_FILE).read_bytes() == before


def test_rm_without_arguments_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("state", "rm", "--state", str(tmp_path))
    assert result.exit_code == 1  # usage errors exit 1: 2 means "changes present"
    assert "Missing argument 'ADDR...'" in result.stderr


# -- mv --
def test_mv_renames_and_repoints_dependents(tmp_path: Path) -> None:
    before = write_state(tmp_path, standard())
    new = "ServiceInstance/default/database"
    result = run_cli("state", "mv", "--state", str(tmp_path), INSTANCE, new)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Moved {INSTANCE} to {new}\nUpdated references in {BINDING}\n"
    assert result.stderr == ""
    after = _stored(tmp_path)
    assert after.serial == before.serial + 1
    assert after.addresses() == sorted([new, BINDING, SECRET, MAPPING])
    moved = after.resources[new]
    old = before.resources[INSTANCE]
    # Everything but the address (and the write time) is kept: ids, checksums, attributes.
    assert moved.model_dump(exclude={"address", "updated_at"}) == old.model_dump(
        exclude={"address", "updated_at"}
    )
    b = after.resources[BINDING]
    assert b.depends_on == (new,)
    assert b.attributes["display"] == {"instance": new, "secret_name": "db-creds"}
    assert b.binding_id == before.resources[BINDING].binding_id
    assert after.resources[SECRET] == before.resources[SECRET]
    assert (tmp_path / BACKUP_FILE).exists()
    assert LocalBackend(tmp_path).lock_info() is None


def test_mv_binding_notes_that_its_secret_still_names_the_old_owner(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    new = "ServiceBinding/default/db-creds-binding"
    result = run_cli("state", "mv", "--state", str(tmp_path), BINDING, new)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Moved {BINDING} to {new}\nUpdated references in {SECRET}\n"
    assert result.stderr.startswith(
        f"Note: {SECRET} is still marked in the cluster as managed for {BINDING}"
    )
    after = _stored(tmp_path)
    assert after.resources[SECRET].depends_on == (new,)
    # The owner recorded on the cluster object is not changed by a state-only move.
    assert after.resources[SECRET].attributes["binding"] == BINDING


def test_mv_broker_repoints_instances_and_bindings(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    new = "ClusterServiceBroker/demo-v2"
    result = run_cli("state", "mv", "--state", str(tmp_path), BROKER, new)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Moved {BROKER} to {new}\n"
        f"Updated references in {BINDING}\nUpdated references in {INSTANCE}\n"
    )
    after = _stored(tmp_path)
    for address in (INSTANCE, BINDING):
        res = after.resources[address]
        assert res.broker == new
        record = res.attributes["broker_record"]
        assert isinstance(record, dict) and record["address"] == new
    assert after.resources[INSTANCE].depends_on == (new,)


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        (
            INSTANCE,
            BINDING,
            f"cannot move {INSTANCE} to {BINDING}: a ServiceInstance can only move to a "
            "ServiceInstance address",
        ),
        (INSTANCE, INSTANCE, f"{INSTANCE} and {INSTANCE} are the same address"),
        (
            "ServiceInstance/default/ghost",
            "ServiceInstance/default/x",
            "ServiceInstance/default/ghost is not in the state (see `catalogctl state list`)",
        ),
        (
            SECRET,
            "Secret/default/other",
            f"cannot move {SECRET}: a Secret's address is its name in the "
            "cluster; change the binding's spec.secretName instead and apply",
        ),
        (
            "ClusterServiceBroker/unused",
            "ClusterServiceBroker/x",
            "ClusterServiceBroker/unused is not in the state (see `catalogctl state list`)",
        ),
    ],
)
def test_mv_refusals(tmp_path: Path, src: str, dst: str, message: str) -> None:
    write_state(tmp_path, standard())
    before = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli("state", "mv", "--state", str(tmp_path), src, dst)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
    _assert_untouched(tmp_path, before)


def test_mv_refuses_an_existing_destination(tmp_path: Path) -> None:
    other = "ServiceInstance/default/other"
    write_state(tmp_path, [*standard(), instance(other, instance_id="other-id")])
    before = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli("state", "mv", "--state", str(tmp_path), INSTANCE, other)
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: cannot move {INSTANCE} to {other}: {other} is already in the state\n"
    )
    _assert_untouched(tmp_path, before)


def test_mv_dry_run(tmp_path: Path) -> None:
    write_state(tmp_path, [instance(), binding()])
    before = (tmp_path / STATE_FILE).read_bytes()
    result = run_cli(
        "state", "mv", "--dry-run", "--state", str(tmp_path), INSTANCE, "ServiceInstance/x/y"
    )
    assert result.exit_code == 0, result.stderr
    assert (
        result.stdout
        == f"Would move {INSTANCE} to ServiceInstance/x/y\nWould update references in {BINDING}\n"
    )
    _assert_untouched(tmp_path, before)


def test_state_help_lists_subcommands() -> None:
    result = run_cli("state", "--help")
    assert result.exit_code == 0
    for sub in ("list", "show", "rm", "mv"):
        assert f"  {sub} " in result.stdout


# -- namespaces and near matches --
def test_show_rm_and_mv_take_a_namespace_for_short_addresses(tmp_path: Path) -> None:
    write_state(tmp_path, [*standard(), instance("ServiceInstance/team-a/cache")])
    shown = run_cli(
        "state", "show", "--state", str(tmp_path), "-n", "team-a", "ServiceInstance/cache"
    )
    assert shown.exit_code == 0, shown.stderr
    assert shown.stdout.startswith("# ServiceInstance/team-a/cache:\n")
    moved = run_cli(
        "state",
        "mv",
        "--state",
        str(tmp_path),
        "--namespace",
        "team-a",
        "ServiceInstance/cache",
        "ServiceInstance/cache2",
    )
    assert moved.exit_code == 0, moved.stderr
    assert "ServiceInstance/team-a/cache2" in _stored(tmp_path).resources
    removed = run_cli(
        "state", "rm", "--state", str(tmp_path), "-n", "team-a", "ServiceInstance/cache2"
    )
    assert removed.exit_code == 0, removed.stderr
    assert "ServiceInstance/team-a/cache2" not in _stored(tmp_path).resources


def test_an_address_in_another_namespace_or_misspelt_is_suggested(tmp_path: Path) -> None:
    write_state(tmp_path, [*standard(), instance("ServiceInstance/team-a/cache")])
    result = run_cli("state", "show", "--state", str(tmp_path), "ServiceInstance/cache")
    assert result.stderr == (
        "Error: ServiceInstance/default/cache is not in the state "
        "(did you mean ServiceInstance/team-a/cache?)\n"
    )
    result = run_cli("state", "rm", "--state", str(tmp_path), "ServiceBinding/default/db-bindng")
    assert result.stderr == (
        "Error: ServiceBinding/default/db-bindng is not in the state "
        "(did you mean ServiceBinding/default/db-binding?)\n"
    )
