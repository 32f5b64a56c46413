"""Hostile input: alias bombs, recursive aliases, deep nesting and oversized files are
refused with a positioned problem, quickly and in bounded memory (YAML and JSON)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from catalogctl.errors import InputError
from catalogctl.model import limits
from catalogctl.model.source import parse_text, read_sources
from tests.cli import run_cli

HEADER = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n"


def alias_bomb(levels: int = 10, fan_out: int = 10) -> str:
    """``levels`` nested anchors of ``fan_out`` aliases each: fan_out**levels nodes, ~600 bytes."""
    lines = [f"  a0: &a0 [{', '.join(['lol'] * fan_out)}]"]
    for i in range(1, levels):
        lines.append(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan_out)}]")
    return HEADER + "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_the_anchor_that_expands_too_far() -> None:
    text = alias_bomb()
    assert len(text) < 1024
    started = time.process_time()
    documents, problems = parse_text(text, "bomb.yaml")
    cpu = time.process_time() - started
    tracemalloc.start()  # slows the run down: measured apart from its time
    try:
        assert parse_text(text, "bomb.yaml")[1] == problems
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert documents == []
    assert [p.render() for p in problems] == [
        # a5 stands for 10**6 nodes, the first anchor over the limit (line 11: HEADER + a0..a5).
        "bomb.yaml:11:7: this node holds more than 500,000 nodes with its aliases expanded "
        "(the limit per document)"
    ]
    assert peak < 100 * 1024 * 1024, peak
    assert cpu < 1.0, cpu


#: Runs the CLI, then prints the process's peak resident memory (VmHWM, kB).  VmHWM
#: belongs to the executed program: ru_maxrss would count the forking test process too.
_MEASURED_CLI = """
import sys
from catalogctl.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
status = open("/proc/self/status").read()
peak = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
print(peak)
sys.exit(code)
"""


def test_alias_bomb_through_the_cli_is_one_message_in_under_100_mb(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED_CLI, "validate", "-f", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"{path}:11:7: this node holds more than 500,000 nodes with its aliases expanded "
        "(the limit per document)"
    )
    # The whole process, interpreter and imports included.
    assert int(proc.stdout.split()[-1]) < 100 * 1024, proc.stdout


def test_recursive_alias_is_refused_where_it_refers_to_itself() -> None:
    documents, problems = parse_text(HEADER + "  loop: &a [1, [2, *a]]\n", "loop.yaml")
    assert documents == []
    assert [p.render() for p in problems] == [
        "loop.yaml:6:9: an alias inside the node anchored here refers back to it "
        "(a recursive document)"
    ]


def test_recursive_merge_key_is_refused() -> None:
    text = HEADER + "  m: &m\n    x: 1\n    <<: *m\n"
    documents, problems = parse_text(text, "merge.yaml")
    assert documents == []
    assert len(problems) == 1
    assert (problems[0].line, problems[0].column) == (6, 6)
    assert "refers back to it (a recursive document)" in problems[0].message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        # flow style, within libyaml's own limit of 1,000 levels
        (HEADER + "  deep: " + "[" * 500 + "]" * 500 + "\n", (6, 9 + limits.MAX_DEPTH - 2)),
        # block style
        (
            HEADER + "".join("  " * (i + 1) + "k:\n" for i in range(300)) + "  " * 301 + "v\n",
            # data (depth 2) is on line 6; depth MAX_DEPTH + 1 is indented 2 * MAX_DEPTH
            (5 + limits.MAX_DEPTH, 2 * limits.MAX_DEPTH + 1),
        ),
    ],
    ids=["flow", "block"],
)
def test_nesting_deeper_than_the_limit_is_a_positioned_problem(
    text: str, where: tuple[int, int]
) -> None:
    documents, problems = parse_text(text, "deep.yaml")
    assert documents == []
    assert [(p.line, p.column, p.message) for p in problems] == [
        (*where, f"nesting is deeper than {limits.MAX_DEPTH} levels")
    ]


def test_aliases_cannot_nest_past_the_limit_either() -> None:
    half = limits.MAX_DEPTH // 2 + 5
    text = (
        HEADER + "  a: &a " + "[" * half + "]" * half + "\n  b: " + "[" * half + "*a" + "]" * half
    )
    documents, problems = parse_text(text + "\n", "deep.yaml")
    assert documents == []
    assert len(problems) == 1
    assert problems[0].message == f"nesting is deeper than {limits.MAX_DEPTH} levels"


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    small = HEADER + "  a: b\n"
    big = HEADER + "  blob: " + "x" * (limits.MAX_DOCUMENT_BYTES + 1) + "\n"
    documents, problems = parse_text(small + "---\n" + big, "big.yaml")
    assert documents == []
    assert [p.render() for p in problems] == [
        # the document's "---" line
        "big.yaml:7:1: YAML document is larger than 2 MiB (the limit per document)"
    ]


def test_many_documents_under_the_limit_are_fine() -> None:
    doc = HEADER + "  blob: " + "x" * (limits.MAX_DOCUMENT_BYTES // 2) + "\n"
    documents, problems = parse_text("---\n".join([doc] * 3), "ok.yaml")
    assert problems == []
    assert len(documents) == 3


def test_a_file_over_the_size_limit_is_refused_without_reading_all_of_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    line = "# " + "x" * 1021 + "\n"  # 1 KiB lines
    with open(path, "w") as fh:
        for _ in range(limits.MAX_TEXT_BYTES // len(line) + 10):
            fh.write(line)
    documents, problems = read_sources([str(path)])
    assert documents == []
    assert [(p.file, p.line) for p in problems] == [(str(path), 32 * 1024 + 1)]
    assert "larger than 32 MiB" in problems[0].message


def test_json_documents_given_with_f_have_the_same_limits(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    value: object = "leaf"
    for _ in range(200):
        value = [value]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": value}))
    result = run_cli("validate", "-f", str(path))
    assert result.exit_code == 1, result
    assert result.stderr.startswith(f"{path}:1:")
    assert f"nesting is deeper than {limits.MAX_DEPTH} levels" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_saved_plan_file_nesting_too_deep_is_refused_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "deep.plan"
    # Brackets inside strings do not count.
    path.write_text(
        '{"kind": "catalogctl-plan", "note": "[[[[",\n "plan": ' + "[" * 150 + "]" * 150 + "}"
    )
    from catalogctl.engine.session import read_plan_file

    with pytest.raises(InputError) as caught:
        read_plan_file(path)
    # The 101st level (the object is the first) opens at column 10 + 99 of line 2.
    assert str(caught.value) == (
        f"cannot read plan file: {path}:2:109: nesting is deeper than {limits.MAX_DEPTH} levels"
    )


def test_json_within_the_limits_loads_as_json() -> None:
    text = json.dumps({"a": [[["[{"]]], "b": "}}]]"})
    assert limits.load_json(text, "x.json") == json.loads(text)
