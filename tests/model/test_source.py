"""YAML reading: documents, positions of every field, duplicate keys, files and stdin."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from catalogctl.model.source import Document, Position, parse_text, read_sources

TWO_DOCS = """\
# leading comment
apiVersion: v1
kind: A
metadata:
  name: a
spec:
  items:
    - name: one
      value: 1
    - {name: two, value: 2}
---
---
apiVersion: v1
kind: B
"""


def test_multi_document_text_skips_empty_documents() -> None:
    docs, problems = parse_text(TWO_DOCS + "---\n# only a comment\n---\n", "f.yaml")
    assert problems == []
    assert [d.data["kind"] for d in docs] == ["A", "B"]
    # index counts documents as written, the empty ones included
    assert [d.index for d in docs] == [0, 2]
    assert docs[0].start == Position("f.yaml", 2, 1)
    assert docs[1].start == Position("f.yaml", 13, 1)


def test_positions_of_keys_and_list_items() -> None:
    doc = parse_text(TWO_DOCS, "f.yaml")[0][0]
    assert doc.position_of(("metadata", "name")) == Position("f.yaml", 5, 3)
    assert doc.position_of(("spec", "items", 0)) == Position("f.yaml", 8, 7)
    assert doc.position_of(("spec", "items", 0, "value")) == Position("f.yaml", 9, 7)
    assert doc.position_of(("spec", "items", 1)) == Position("f.yaml", 10, 7)
    assert doc.position_of(("spec", "items", 1, "value")) == Position("f.yaml", 10, 19)


def test_position_of_a_missing_field_is_its_nearest_parent() -> None:
    doc = parse_text(TWO_DOCS, "f.yaml")[0][0]
    assert doc.position_of(("spec", "items", 0, "key")) == Position("f.yaml", 8, 7)
    assert doc.position_of(("spec", "nothing", "here")) == Position("f.yaml", 6, 1)
    assert doc.position_of(("status",)) == doc.start
    assert doc.position_of(()) == doc.start


def test_plain_values_timestamps_stay_strings_and_merge_keys_work() -> None:
    text = """\
base: &base {a: 1, b: two}
merged:
  <<: *base
  b: three
many:
  <<: [{a: 1, c: first}, {c: second, d: 4}]
when: 2021-04-28T10:00:00Z
flag: yes
none: ~
"""
    doc = parse_text(text, "f.yaml")[0][0]
    assert doc.data["merged"] == {"a": 1, "b": "three"}
    assert doc.data["many"] == {"a": 1, "c": "first", "d": 4}
    assert doc.duplicate_keys == ()
    assert doc.data["when"] == "2021-04-28T10:00:00Z"
    assert doc.data["flag"] is True  # YAML 1.1, as Kubernetes' sigs.k8s.io/yaml reads it
    assert doc.data["none"] is None


def test_a_scalar_written_plain_and_quoted_in_one_file_keeps_each_type() -> None:
    # Tags are resolved once per distinct (text, quoting): the cache must not
    # hand the plain reading to the quoted spelling or the other way round.
    text = """\
a: {x: "true", y: true, z: 'true', w: true}
---
b: [10, "10", 10, '10', 0x10, "0x10", null, "null", 1.5, "1.5"]
---
"yes": yes
1: one
"""
    docs = parse_text(text, "f.yaml")[0]
    assert docs[0].data == {"a": {"x": "true", "y": True, "z": "true", "w": True}}
    b = docs[1].data["b"]
    assert b == [10, "10", 10, "10", 16, "0x10", None, "null", 1.5, "1.5"]
    assert [type(v) for v in b[:4]] == [int, str, int, str]
    assert docs[2].data == {"yes": True, "1": "one"}


def test_positions_come_from_the_files_text_once_asked_for(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(TWO_DOCS + "---\nkind: C\nspec: [1, 2\n", encoding="utf-8")
    docs, problems = read_sources([str(path)])
    assert [d.data["kind"] for d in docs] == ["A", "B"] and len(problems) == 1
    path.unlink()  # positions are worked out from the text read, not from the file again
    assert docs[1].position_of(("kind",)) == Position(str(path), 14, 1)
    assert docs[0].position_of(("spec", "items", 1, "value")) == Position(str(path), 10, 19)
    assert docs[0].source is docs[1].source  # one parse for the whole file
    assert docs[0].marks[("metadata",)] == (4, 1)
    built = Document("ServiceInstance/a/b", 0, {}, Position("ServiceInstance/a/b", 0, 0))
    assert built.marks == {} and built.position_of(("spec",)) == built.start


def test_duplicate_keys_are_recorded_with_both_positions_and_first_value_kept() -> None:
    text = "a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\na: 5\n"
    docs, problems = parse_text(text, "f.yaml")
    assert problems == []  # reported by the loader, which knows the resource
    doc = docs[0]
    assert doc.data == {"a": 1, "b": {"c": 2, "d": 3}}
    assert doc.duplicate_keys == (
        (("b", "c"), Position("f.yaml", 5, 3), Position("f.yaml", 3, 3)),
        (("a",), Position("f.yaml", 6, 1), Position("f.yaml", 1, 1)),
    )


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("a: [1, 2\nb: 3\n", 2, 2,
         "did not find expected ',' or ']' (while parsing a flow sequence that starts at "
         "line 1, column 4)"),
        ("a:\n  b: [1, 2\n\n", 2, 6,
         "did not find expected ',' or ']' before the end of the file: the flow sequence "
         "that starts here is never closed"),
        ("a: {b: 1\n", 1, 4,
         "did not find expected ',' or '}' before the end of the file: the flow mapping "
         "that starts here is never closed"),
        ("a: [\n", 1, 4, "unexpected end of file: a '[' or '{' is never closed"),
        ("a:\n\tb: 1\n", 2, 1,
         "found character that cannot start any token (a tab; YAML indentation must use spaces)"),
        ("a: *nope\n", 1, 4, "found undefined alias 'nope' (no anchor &nope before it)"),
        ("a: b: c\n", 1, 5,
         "mapping values are not allowed in this context (a value containing ': ' must be quoted)"),
        ("a: 1\n b: 2\n", 2, 3, "mapping values are not allowed in this context "
         "(a value containing ': ' must be quoted)"),
        ("a: 'x\n", 1, 4,
         "unexpected end of file: the quoted scalar that starts here is never closed"),
    ],
)
def test_syntax_errors_are_positioned_and_explained(
    text: str, line: int, column: int, message: str
) -> None:
    docs, problems = parse_text(text, "f.yaml")
    assert docs == []
    assert [p.render() for p in problems] == [
        f"f.yaml:{line}:{column}: YAML syntax error: {message}"
    ]


def test_syntax_error_in_a_later_document_keeps_the_earlier_ones() -> None:
    docs, problems = parse_text("a: 1\n---\nb: [x\n", "f.yaml")
    assert [d.data for d in docs] == [{"a": 1}]
    assert len(problems) == 1 and problems[0].line == 3


def _write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_directories_are_read_recursively_sorted_yaml_yml_and_json_only(tmp_path: Path) -> None:
    _write(tmp_path, "b.yaml", "name: b\n")
    _write(tmp_path, "a.yml", "name: a\n")
    _write(tmp_path, "sub/c.yaml", "name: c\n")
    _write(tmp_path, "sub/deeper/d.yml", "name: d\n")
    _write(tmp_path, "README.md", "name: readme\n")
    _write(tmp_path, "notes.txt", "{{{ not yaml")
    _write(tmp_path, "x.yaml.bak", "name: bak\n")
    _write(tmp_path, "sub/e.json", '{"name": "e"}')
    (tmp_path / "empty.yaml").mkdir()  # a directory named like a file is not read
    docs, problems = read_sources([str(tmp_path)])
    assert problems == []
    assert [d.data["name"] for d in docs] == ["a", "b", "c", "d", "e"]
    assert docs[0].file == str(tmp_path / "a.yml")


def test_several_paths_keep_their_order(tmp_path: Path) -> None:
    z = _write(tmp_path, "z.yaml", "name: z\n")
    a = _write(tmp_path, "a.yaml", "name: a\n---\nname: a2\n")
    docs, problems = read_sources([str(z), str(a)])
    assert problems == []
    assert [d.data["name"] for d in docs] == ["z", "a", "a2"]


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("name: from-stdin\n---\nname: two\n"))
    f = _write(tmp_path, "f.yaml", "name: file\n")
    docs, problems = read_sources([str(f), "-"])
    assert problems == []
    assert [(d.file, d.data["name"]) for d in docs] == [
        (str(f), "file"),
        ("<stdin>", "from-stdin"),
        ("<stdin>", "two"),
    ]


def test_missing_and_unreadable_files_are_problems_not_exceptions(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    good = _write(tmp_path, "good.yaml", "name: ok\n")
    missing = str(tmp_path / "missing.yaml")
    docs, problems = read_sources([missing, str(bad), str(good)])
    assert [d.data["name"] for d in docs] == ["ok"]
    assert [(p.file, p.message.split(":")[0]) for p in problems] == [
        (missing, "no such file or directory"),
        (str(bad), "cannot read file"),
    ]
