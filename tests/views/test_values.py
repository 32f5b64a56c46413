"""Masking rules and the Terraform-like masks."""

from __future__ import annotations

import subprocess
import sys

from catalogctl.cli.views.values import (
    Sensitive,
    Unknown,
    format_key,
    format_scalar,
    mask,
    masked_pair,
    redact,
)


def test_sensitive_absent_on_both_sides_exists_on_both() -> None:
    b, a = masked_pair({"parameters": {"x": 1}}, {"parameters": {"x": 2}},
                       [("parameters", "password")], [])
    assert b["parameters"]["password"] == Sensitive()
    assert a["parameters"]["password"] == Sensitive()


def test_sensitive_present_on_one_side_is_an_addition() -> None:
    b, a = masked_pair({"parameters": {}}, {"parameters": {"password": None}},
                       [("parameters", "password")], [])
    assert "password" not in b["parameters"]
    assert a["parameters"]["password"] == Sensitive()


def test_sensitive_change_flag_without_the_value() -> None:
    _, a = masked_pair({"p": "one"}, {"p": "two"}, [("p",)], [])
    assert a == {"p": Sensitive(changed=True)}
    _, a = masked_pair({"p": None}, {"p": None}, [("p",)], [])
    assert a == {"p": Sensitive(changed=False)}


def test_unknown_wins_over_sensitive_and_remembers_it() -> None:
    _, a = masked_pair(None, {"credentials": {"k": "v"}}, [("credentials",)], [("credentials",)])
    assert a == {"credentials": Unknown(sensitive=True)}
    _, a = masked_pair(None, {"data": {"k": None}}, [("data", "k")], [("data",)])
    assert a == {"data": Unknown(sensitive=True)}


def test_unknown_created_when_missing() -> None:
    _, a = masked_pair(None, {"name": "x"}, [], [("instance_id",)])
    assert a == {"name": "x", "instance_id": Unknown()}


def test_whole_value_unknown() -> None:
    _, a = masked_pair(None, {"x": 1}, [], [()])
    assert a == Unknown()


def test_inputs_are_not_mutated() -> None:
    after = {"parameters": {"password": "secret"}}
    masked_pair(None, after, [("parameters", "password")], [])
    assert after == {"parameters": {"password": "secret"}}


def test_masks_are_terraform_shaped() -> None:
    value = {"a": 1, "s": Sensitive(), "m": {"x": 1}, "l": [1, Sensitive()],
             "u": Unknown(sensitive=True)}
    assert mask(value, Sensitive) == {"s": True, "m": {}, "l": [False, True], "u": True}
    assert mask(value, Unknown) == {"m": {}, "l": [False, False], "u": True}
    assert mask(None, Sensitive) is False


def test_redact() -> None:
    value = {"a": 1, "s": Sensitive(), "u": Unknown(), "l": [Sensitive(), Unknown()]}
    assert redact(value) == {"a": 1, "s": None, "l": [None, None]}


def test_format_scalar_and_key() -> None:
    assert [format_scalar(v) for v in ("x", 1, 1.5, True, None)] == [
        '"x"', "1", "1.5", "true", "null"]
    assert format_scalar("é\n") == '"é\\n"'
    assert format_scalar(Sensitive()) == "(sensitive value)"
    assert format_scalar(Unknown()) == "(known after apply)"
    assert format_key("plain-key_1") == "plain-key_1"
    assert format_key("a.b") == '"a.b"'
    assert format_key(3) == '"3"'


def test_importing_the_views_does_not_import_deepdiff() -> None:
    code = "import sys, catalogctl.cli.views; print('deepdiff' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"
