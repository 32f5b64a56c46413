"""The display tree: what deepdiff's report becomes."""

from __future__ import annotations

from typing import Any

from catalogctl.cli.views.blocks import resource_block
from catalogctl.cli.views.diff import Node, Status, diff_tree
from catalogctl.cli.views.style import Painter


def _kids(node: Node) -> list[tuple[Any, Status]]:
    return [(k.key if k.key is not None else k.after if k.after is not None else k.before,
             k.status) for k in node.children or ()]


def _body(before: Any, after: Any, replace: tuple[tuple[str | int, ...], ...] = ()) -> str:
    lines = resource_block("~", "ServiceInstance", "ns/x", diff_tree(before, after),
                           Painter(False), replace)
    return "\n".join(lines[1:-1])


def test_create_and_delete_roots() -> None:
    assert diff_tree(None, {"a": 1}).status is Status.CREATE
    assert diff_tree({"a": 1}, None).status is Status.DELETE
    assert diff_tree(None, None).status is Status.NOOP
    assert diff_tree({"a": 1}, {"a": 1}).status is Status.NOOP


def test_map_keys_added_removed_changed_sorted() -> None:
    root = diff_tree({"b": 1, "a": 1, "c": 1}, {"a": 2, "b": 1, "d": 1})
    assert _kids(root) == [("a", Status.UPDATE), ("b", Status.NOOP),
                           ("c", Status.DELETE), ("d", Status.CREATE)]


def test_type_strict() -> None:
    assert diff_tree({"a": 1}, {"a": True}).status is Status.UPDATE
    assert diff_tree({"a": 1}, {"a": 1.0}).status is Status.UPDATE
    assert diff_tree({"a": "1"}, {"a": 1}).status is Status.UPDATE


def test_list_insertion_keeps_the_rest_unchanged() -> None:
    root = diff_tree({"l": ["a", "b"]}, {"l": ["a", "x", "b"]})
    lst = (root.children or ())[0]
    assert [k.status for k in lst.children or ()] == [
        Status.NOOP, Status.CREATE, Status.NOOP]


def test_list_removal() -> None:
    root = diff_tree({"l": ["a", "b", "c"]}, {"l": ["b", "c"]})
    lst = (root.children or ())[0]
    assert [(k.status, k.before) for k in lst.children or ()] == [
        (Status.DELETE, "a"), (Status.NOOP, "b"), (Status.NOOP, "c")]


def test_list_of_maps_changed_in_place() -> None:
    body = _body({"rules": [{"port": 80, "proto": "tcp"}]},
                 {"rules": [{"port": 443, "proto": "tcp"}]})
    assert body == "\n".join([
        "      ~ rules = [",
        "          ~ {",
        "              ~ port = 80 -> 443",
        "                # (1 unchanged attribute hidden)",
        "            },",
        "        ]",
    ])


def test_type_change_renders_both_values() -> None:
    body = _body({"p": {"a": 1}}, {"p": "flat"})
    assert body == "\n".join([
        "      ~ p = {",
        "            a = 1",
        '        } -> "flat"',
    ])


def test_forces_replacement_on_nested_path_and_block() -> None:
    body = _body({"parameters": {"region": "eu", "size": 1}},
                 {"parameters": {"region": "us", "size": 1}},
                 replace=(("parameters", "region"),))
    assert '~ region = "eu" -> "us" # forces replacement' in body
    body = _body({"parameters": {"region": "eu"}}, {"parameters": {"region": "us"}},
                 replace=(("parameters",),))
    assert "~ parameters = { # forces replacement" in body


def test_keys_needing_quotes() -> None:
    body = _body({}, {"labels": {"app.kubernetes.io/name": "q", "plain_key": 1}})
    assert '+ "app.kubernetes.io/name" = "q"' in body
    assert "+ plain_key                = 1" in body


def test_empty_containers_and_null() -> None:
    body = _body({"a": None, "m": {}, "l": []}, {"a": "x", "m": {"k": 1}, "l": []})
    assert '~ a = null -> "x"' in body
    assert "~ m = {\n          + k = 1\n        }" in body


def test_hidden_counts_are_singular_or_plural() -> None:
    body = _body({"a": 1, "b": 1, "c": 1}, {"a": 2, "b": 1, "c": 1})
    assert body.endswith("# (2 unchanged attributes hidden)")
    body = _body({"l": [1, 2, 3, 4, 5]}, {"l": [1, 2, 3, 4, 6]})
    assert "# (3 unchanged elements hidden)" in body


def test_list_changes_show_one_neighbour_of_context() -> None:
    body = _body({"l": ["a", "b", "c", "d", "e", "f"]}, {"l": ["a", "b", "c", "x", "d", "e", "f"]})
    assert body == "\n".join([
        "      ~ l = [",
        "            # (2 unchanged elements hidden)",
        '            "c",',
        '          + "x",',
        '            "d",',
        "            # (2 unchanged elements hidden)",
        "        ]",
    ])


def test_unchanged_root_reports_hidden_count() -> None:
    lines = resource_block("~", "K", "n", diff_tree({"a": 1, "b": 2}, {"a": 1, "b": 2}),
                           Painter(False))
    assert lines == ['  ~ K "n" {', "        # (2 unchanged attributes hidden)", "    }"]
