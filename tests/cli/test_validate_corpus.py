"""Golden messages: every malformed input in ``tests/corpus`` through the real CLI.

Each case asserts the exact stderr lines (file, line, column, resource, field,
message), exit code 1, nothing on stdout and no traceback.  See
``tests/corpus/README.md`` for the layout and how to regenerate after a
deliberate wording change.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.cli import CliResult, run_cli, run_subprocess

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
CASES = sorted(p.stem for p in CORPUS.glob("*.yaml"))

_SUMMARY = re.compile(r"^Error: (\d+) problems? found$")


def _args(case: str) -> list[str]:
    extra = CORPUS / f"{case}.args"
    args = shlex.split(extra.read_text()) if extra.exists() else []
    return ["validate", *args, "-f", f"{case}.yaml"]


def _expected(case: str) -> list[str]:
    return (CORPUS / f"{case}.expected").read_text().splitlines()


def _check_shape(case: str, result: CliResult) -> None:
    lines = result.stderr_lines
    assert result.exit_code == 1, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    summary = _SUMMARY.match(lines[-1])
    assert summary, lines[-1]
    problems = lines[:-1]
    assert int(summary.group(1)) == len(problems) >= 1
    for line in problems:
        assert line.startswith(f"{case}.yaml:"), line
        _file, line_no, column, rest = line.split(":", 3)
        assert int(line_no) >= 1 and int(column) >= 1, line
        assert rest.startswith(" ") and rest.strip(), line
    assert problems == sorted(
        problems, key=lambda p: (int(p.split(":")[1]), int(p.split(":")[2]))
    ), "problems must be reported in file order"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 45
    for case in CASES:
        assert (CORPUS / f"{case}.expected").exists(), f"{case}.expected is missing"


@pytest.mark.parametrize("case", CASES)
def test_corpus_case(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(CORPUS)
    result = run_cli(*_args(case))
    _check_shape(case, result)
    assert result.stderr_lines == _expected(case)


@pytest.mark.parametrize(
    "case",
    ["yaml_unclosed_quote", "duplicate_key", "unknown_field_deep", "multiple_problems",
     "cycle_three_nodes", "strict_kinds_deployment"],
)
def test_corpus_case_as_a_process(case: str) -> None:
    """The console path end to end: a separate interpreter, real stdio, exit status."""
    result = run_subprocess(*_args(case), cwd=CORPUS)
    _check_shape(case, result)
    assert result.stderr_lines == _expected(case)


def test_several_files_report_every_problem_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Problems of many files are collected in one run, sorted by file then position.

    The cases chosen declare distinct resources, so together they add no new
    (cross-file) problem and the output is exactly the union of their goldens.
    """
    monkeypatch.chdir(CORPUS)
    cases = [
        "yaml_undefined_alias",
        "url_ftp",
        "absent_qualified_namespaced_broker",
        "cycle_broker_auth",
        "not_a_mapping_list",
        "yaml_tab_indent",
    ]
    args = [a for c in cases for a in ("-f", f"{c}.yaml")]
    result = run_cli("validate", *args)
    assert result.exit_code == 1
    expected = [line for c in sorted(cases) for line in _expected(c)[:-1]]
    assert result.stderr_lines[:-1] == expected
    assert result.stderr_lines[-1] == f"Error: {len(expected)} problems found"
