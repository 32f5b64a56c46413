"""The util/jsonpath template subset used by addKey.jsonPathExpression."""

from __future__ import annotations

import pytest

from catalogctl.providers.kubernetes.jsonpath import JSONPathError, evaluate_template, go_format

DATA = {
    "a": {"b": "x", "list": [{"c": "first"}, {"c": "second"}], "x.y": "dotted", "n": 5432},
    "flag": True,
    "big": 1000000,
    "small": 0.00001,
    "obj": {"z": 1, "a": "q"},
    "items": ["p", "q"],
    "my-key": {"sub_key": "dashed"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.a.b}", "x"),
        ("{.my-key.sub_key}", "dashed"),
        ("{$.a.b}", "x"),
        ("{.a.list[0].c}", "first"),
        ("{.a.list[-1].c}", "second"),
        ("{.a['x.y']}", "dotted"),
        ('{.a["x.y"]}', "dotted"),
        ("{.a.n}", "5432"),
        ("{.flag}", "true"),
        ("{.big}", "1e+06"),  # Go's %v of float64(1000000)
        ("{.small}", "1e-05"),
        ("{.obj}", "map[a:q z:1]"),
        ("{.items}", "[p q]"),
        ("{.items[*]}", "p q"),
        ("{.a.list[*].c}", "first second"),
        ("{.obj.*}", "q 1"),
        ("host={.a.b} port={.a.n}", "host=x port=5432"),
        ("no braces", "no braces"),
        ('{.a.b}{"-"}{.a.n}', "x-5432"),
    ],
)
def test_supported_syntax(template: str, expected: str) -> None:
    assert evaluate_template(template, DATA) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{..b}", "recursive descent"),
        ("{.items[0:1]}", "slices"),
        ("{.a.list[?(@.c=='first')].c}", "filters"),
        ("{.items[0,1]}", "unions"),
        ("{range .items[*]}{end}", "range"),
        ("{.a.b", "unclosed"),
        ("{}", "empty expression"),
        ("{.missing}", "missing is not found"),
        ("{.a.list[9]}", "out of bounds"),
        ("{.a.b.c}", "is not an object"),
        ("{.a[0]}", "is not an array"),
    ],
)
def test_errors_are_clear(template: str, message: str) -> None:
    with pytest.raises(JSONPathError, match=message):
        evaluate_template(template, DATA)


def test_errors_do_not_include_values() -> None:
    with pytest.raises(JSONPathError) as exc:
        evaluate_template("{.secret.x}", {"secret": "p@ssw0rd"})
    assert "p@ssw0rd" not in str(exc.value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (123456, "123456"),
        (1234567, "1.234567e+06"),
        (0.0001, "0.0001"),
        (-1.5, "-1.5"),
        (None, "<nil>"),
        (False, "false"),
        (0, "0"),
    ],
)
def test_go_format_numbers(value: object, text: str) -> None:
    assert go_format(value) == text
