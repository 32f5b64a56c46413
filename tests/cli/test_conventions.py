"""One CLI convention everywhere: -o/--output FORMAT (old spellings warn), global flags on
either side of the command, "did you mean" for commands, examples and value types in every
command's help, and no flag listed that the command ignores."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from catalogctl.cli.main import COMMANDS, cli, globals_first
from catalogctl.state import State
from tests.cli import run_cli
from tests.cli.test_state_cmd_fixtures import INSTANCE, standard, write_state


def _all_commands() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    found: list[tuple[str, ...]] = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        found.append((name,))
        if isinstance(command, click.Group):
            found += [(name, sub) for sub in command.commands]
    return found


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_has_examples_in_its_help(path: tuple[str, ...]) -> None:
    result = run_cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert "Examples:\n" in text
    examples = [line.strip() for line in text.split("Examples:\n", 1)[1].splitlines()]
    assert examples
    assert all(line.startswith("catalogctl ") or "| catalogctl " in line for line in examples)


def test_paths_and_durations_are_named_in_help() -> None:
    text = run_cli("plan", "--help").stdout
    for shown in (
        "-f, --filename PATH",
        "--state STATE",
        "--lock-timeout DURATION",
        "--kubeconfig FILE",
        "--cluster-dir DIR",
        "--out FILE",
        "--broker-timeout SECONDS",
    ):
        assert shown in text, shown


def test_a_mistyped_command_gets_a_suggestion() -> None:
    result = run_cli("pln", "-f", "x")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: no such command 'pln' (did you mean 'plan'?)"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["plan", "-f", "x", "--no-color", "-v"], ["--no-color", "-v", "plan", "-f", "x"]),
        (["-v", "plan", "-vv"], ["-vv", "-v", "plan"]),
        (["plan", "--", "--no-color"], ["plan", "--", "--no-color"]),
        (["--version"], ["--version"]),
    ],
)
def test_global_flags_move_before_the_command(args: list[str], expected: list[str]) -> None:
    assert globals_first(args) == expected


def test_global_flags_after_the_command_are_accepted(tmp_path: Path) -> None:
    write_state(tmp_path, standard())
    result = run_cli("state", "list", "--state", str(tmp_path), "--no-color", "-v")
    assert result.exit_code == 0, result.stderr
    assert INSTANCE in result.stdout.splitlines()


def test_output_format_and_its_deprecated_spellings(tmp_path: Path) -> None:
    stored = write_state(tmp_path, standard())
    as_json = run_cli("show", "--state", str(tmp_path), "-o", "json")
    assert as_json.exit_code == 0 and as_json.stderr == ""
    assert State.from_json(as_json.stdout.encode()) == stored
    as_yaml = run_cli("show", "--state", str(tmp_path), "--output", "yaml")
    import yaml

    assert yaml.safe_load(as_yaml.stdout) == json.loads(as_json.stdout)
    old = run_cli("show", "--state", str(tmp_path), "--json")
    assert old.stdout == as_json.stdout
    assert old.stderr == "Warning: --json is deprecated; use -o json.\n"
    clash = run_cli("show", "--state", str(tmp_path), "--json", "-o", "yaml")
    assert clash.exit_code == 1
    assert "Error: --json contradicts -o yaml: pass one of them" in clash.stderr
    listed = run_cli("state", "list", "--state", str(tmp_path), "-o", "json")
    assert json.loads(listed.stdout) == sorted(stored.resources)
    shown = run_cli("state", "show", "--state", str(tmp_path), INSTANCE, "-o", "json")
    assert json.loads(shown.stdout)["address"] == INSTANCE


def test_output_help_lists_only_the_flags_it_uses() -> None:
    text = run_cli("output", "--help").stdout
    for unused in ("--parallelism", "--broker-timeout", "--lock-timeout", "--cluster-id"):
        assert unused not in text
    for used in ("--state", "--kubeconfig", "--context", "--cluster-dir", "--secrets-dir"):
        assert used in text


def test_destroy_help_has_no_plan_only_flags_and_target_grows_to_dependents() -> None:
    text = " ".join(run_cli("destroy", "--help").stdout.split())
    assert "--replace" not in text and "--upgrade" not in text
    assert "Destroy only ADDR and everything that depends on it." in text
