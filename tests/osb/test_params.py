"""Parameters: parametersFrom merging, sensitivity, schema validation, checksum, PATCH payloads."""

from __future__ import annotations

import datetime
import json
import random
from typing import Any

import pytest

from catalogctl.errors import BrokerError, InputError
from catalogctl.providers.osb.catalog import parse_catalog
from catalogctl.providers.osb.params import (
    MergedParameters,
    ParameterError,
    SecretParameters,
    UnusableSchemaError,
    _go_float,
    check_schema,
    go_json_marshal,
    merge_parameters,
    parameters_checksum,
    parameters_patch,
    validate_for_plan,
    validate_parameters,
)

SECRET_VALUE = "hunter2-very-secret"

DRAFT4 = "http://json-schema.org/draft-04/schema#"
SCHEMA: dict[str, Any] = {
    "$schema": DRAFT4,
    "type": "object",
    "properties": {
        "size": {"type": "integer", "minimum": 1},
        "name": {"type": "string", "pattern": "^[a-z]+$"},
        "password": {"type": "string", "minLength": 30},
        "nodes": {
            "type": "array",
            "items": {"type": "object", "properties": {"zone": {"type": "string"}}},
        },
        "weird key": {"type": "boolean"},
    },
    "required": ["size"],
}


# --------------------------------------------------------------------------- merge


def test_merge_inline_and_secrets_tracks_sensitive_keys() -> None:
    merged = merge_parameters(
        {"size": 3, "name": "db"},
        [
            SecretParameters("db-creds", "params", json.dumps({"password": SECRET_VALUE})),
            SecretParameters("more", "extra", b'{"token": "t0k", "nested": {"a": 1}}'),
        ],
    )
    assert dict(merged.values) == {
        "size": 3,
        "name": "db",
        "password": SECRET_VALUE,
        "token": "t0k",
        "nested": {"a": 1},
    }
    assert merged.sensitive_keys == {"password", "token", "nested"}
    assert merged.sources == {
        "size": "parameters",
        "name": "parameters",
        "password": "parametersFrom[0]",
        "token": "parametersFrom[1]",
        "nested": "parametersFrom[1]",
    }
    assert merged.redacted() == {
        "size": 3,
        "name": "db",
        "password": "<redacted>",
        "token": "<redacted>",
        "nested": "<redacted>",
    }
    assert merged.as_dict()["password"] == SECRET_VALUE
    assert merged.checksum == parameters_checksum(merged.values)


def test_merge_empty() -> None:
    merged = merge_parameters(None, [])
    assert dict(merged.values) == {} and merged.sensitive_keys == frozenset()
    assert merged.checksum == ""


def test_duplicate_top_level_key_names_both_sources_and_hides_values() -> None:
    with pytest.raises(ParameterError) as info:
        merge_parameters(
            {"password": "inline"},
            [
                SecretParameters("a", "k1", json.dumps({"password": SECRET_VALUE, "x": 1})),
                SecretParameters("b", "k2", json.dumps({"x": SECRET_VALUE}), index=4),
            ],
        )
    err = info.value
    assert isinstance(err, InputError)
    paths = [(p.path, p.source) for p in err.problems]
    assert paths == [
        ("parameters.password", "parametersFrom[0]"),
        ("parameters.x", "parametersFrom[4]"),
    ]
    assert (
        "set both in parameters and in parametersFrom[0] (secret 'a' key 'k1')"
        in err.problems[0].message
    )
    assert (
        "set both in parametersFrom[0] (secret 'a' key 'k1') and in "
        "parametersFrom[4] (secret 'b' key 'k2')" in err.problems[1].message
    )
    assert SECRET_VALUE not in str(err)
    assert "inline" not in str(err)


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (f'["{SECRET_VALUE}"]', "must be a JSON object, got an array"),
        (f'"{SECRET_VALUE}"', "must be a JSON object, got a string"),
        (f'{{"a": "{SECRET_VALUE}"', "is not valid JSON"),
        (b"\xff\xfe" + SECRET_VALUE.encode(), "is not UTF-8 text"),
    ],
)
def test_secret_values_must_be_json_objects(value: str | bytes, fragment: str) -> None:
    with pytest.raises(ParameterError) as info:
        merge_parameters({}, [SecretParameters("s", "k", value)])
    (problem,) = info.value.problems
    assert fragment in problem.message
    assert problem.source == "parametersFrom[0]" and problem.sensitive
    assert "secret 's' key 'k'" in problem.message
    assert SECRET_VALUE not in str(info.value)


def test_non_json_values_from_yaml_are_reported() -> None:
    with pytest.raises(ParameterError) as info:
        merge_parameters({"start": datetime.date(2024, 1, 1), "ok": [1, {"x": float("nan")}]})
    assert [p.path for p in info.value.problems] == ["parameters.start", "parameters.ok[1].x"]
    assert "quote it in YAML" in info.value.problems[0].message


def test_secret_parameters_repr_hides_value() -> None:
    assert SECRET_VALUE not in repr(SecretParameters("s", "k", SECRET_VALUE))


# --------------------------------------------------------------------------- validation


def test_valid_parameters_have_no_problems() -> None:
    assert validate_parameters({"size": 2, "name": "abc"}, SCHEMA) == []
    assert validate_parameters({"anything": object()}, None) == []


def test_problems_carry_paths_and_sources() -> None:
    problems = validate_parameters(
        {"size": "big", "name": "ABC", "nodes": [{"zone": "a"}, {"zone": 5}], "weird key": 1},
        SCHEMA,
    )
    by_path = {p.path: p for p in problems}
    assert set(by_path) == {
        "parameters.size",
        "parameters.name",
        "parameters.nodes[1].zone",
        'parameters["weird key"]',
    }
    assert by_path["parameters.size"].message == "'big' is not of type 'integer'"
    assert by_path["parameters.nodes[1].zone"].parts == ("nodes", 1, "zone")
    assert all(p.source == "parameters" and not p.sensitive for p in problems)


def test_missing_required_property_points_at_parameters() -> None:
    (problem,) = validate_parameters({}, SCHEMA)
    assert problem.path == "parameters"
    assert problem.message == "'size' is a required property"


def test_sensitive_values_never_appear_in_messages() -> None:
    merged = merge_parameters(
        {"size": 1}, [SecretParameters("s", "k", json.dumps({"password": SECRET_VALUE}))]
    )
    problems = validate_parameters(
        merged.values, SCHEMA, sensitive_keys=merged.sensitive_keys, sources=merged.sources
    )
    (problem,) = problems
    assert problem.path == "parameters.password"
    assert problem.source == "parametersFrom[0]" and problem.sensitive
    assert SECRET_VALUE not in problem.message
    assert "minLength" in problem.message


def test_root_level_errors_do_not_leak_the_whole_object() -> None:
    schema = {
        "$schema": DRAFT4,
        "type": "object",
        "maxProperties": 1,
        "not": {"required": ["password"]},
    }
    problems = validate_parameters(
        {"password": SECRET_VALUE, "b": 1}, schema, sensitive_keys={"password"}
    )
    assert len(problems) == 2
    for problem in problems:
        assert SECRET_VALUE not in problem.message
        assert problem.path == "parameters"


def test_draft_is_chosen_by_dollar_schema() -> None:
    # exclusiveMinimum is a boolean modifier in draft-04 and a number from draft-06 on.
    d4 = {"$schema": DRAFT4, "type": "integer", "minimum": 5, "exclusiveMinimum": True}
    d7 = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"n": {"type": "integer", "exclusiveMinimum": 5}},
    }
    assert check_schema(d4).__name__ == "Draft4Validator"
    assert check_schema(d7).__name__ == "Draft7Validator"
    assert validate_parameters({"n": 5}, d7)[0].path == "parameters.n"
    assert validate_parameters({"n": 6}, d7) == []
    https = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}
    assert check_schema(https).__name__ == "Draft202012Validator"
    assert check_schema({"type": "object"}).__name__ == "Draft4Validator"  # OSB baseline


def test_internal_refs_work() -> None:
    schema = {
        "$schema": DRAFT4,
        "definitions": {"pos": {"type": "integer", "minimum": 0}},
        "type": "object",
        "properties": {"n": {"$ref": "#/definitions/pos"}},
    }
    assert validate_parameters({"n": 1}, schema) == []
    assert validate_parameters({"n": -1}, schema)[0].path == "parameters.n"


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        (
            {"$schema": DRAFT4, "properties": {"a": {"$ref": "http://example.com/s.json"}}},
            "external references (#/properties/a/$ref='http://example.com/s.json')",
        ),
        ({"$schema": DRAFT4, "properties": {"a": {"$ref": "other.json#/x"}}}, "external"),
        ({"$schema": DRAFT4, "description": "x" * (64 * 1024)}, "OSB limits schemas to 64 kB"),
        ({"$schema": DRAFT4, "type": "no-such-type"}, "not a valid Draft4 schema"),
    ],
)
def test_unusable_schemas_are_refused(schema: dict[str, Any], fragment: str) -> None:
    with pytest.raises(UnusableSchemaError) as info:
        validate_parameters({}, schema, context="broker 'b' plan 'p'")
    assert isinstance(info.value, BrokerError)
    assert fragment in str(info.value)
    assert str(info.value).startswith("broker 'b' plan 'p': ")


def test_property_named_dollar_ref_is_not_a_reference() -> None:
    schema = {"$schema": DRAFT4, "properties": {"$ref": {"type": "string"}}}
    assert validate_parameters({"$ref": "x"}, schema) == []


def test_validate_for_plan_uses_the_operation_schema() -> None:
    catalog = parse_catalog(
        {
            "services": [
                {
                    "id": "s",
                    "name": "svc",
                    "description": "d",
                    "bindable": True,
                    "plans": [
                        {
                            "id": "p",
                            "name": "plan",
                            "description": "d",
                            "schemas": {
                                "service_instance": {
                                    "create": {
                                        "parameters": {"$schema": DRAFT4, "required": ["a"]}
                                    },
                                    "update": {
                                        "parameters": {
                                            "$schema": DRAFT4,
                                            "properties": {"b": {"type": "integer"}},
                                        }
                                    },
                                },
                                "service_binding": {
                                    "create": {
                                        "parameters": {"$schema": DRAFT4, "required": ["role"]}
                                    }
                                },
                            },
                        }
                    ],
                }
            ]
        },
        broker="b",
    )
    plan = next(catalog.iter_plans())
    assert validate_for_plan(plan, "instance_create", {})[0].message == (
        "'a' is a required property"
    )
    assert validate_for_plan(plan, "binding_create", {})[0].message == (
        "'role' is a required property"
    )
    # Removed keys are sent as null and are not validated against the update schema.
    assert validate_for_plan(plan, "instance_update", {"b": None}) == []
    assert validate_for_plan(plan, "instance_update", {"b": "x"})[0].path == "parameters.b"
    merged = merge_parameters({}, [SecretParameters("s", "k", '{"a": 1}')])
    assert validate_for_plan(plan, "instance_create", merged) == []


# --------------------------------------------------------------------------- checksum


def test_checksum_matches_service_catalog_vector() -> None:
    assert parameters_checksum({"a": "first", "b": 2}) == (
        "68e3cea7d2ec123d1406dbb9aef42befd1d5d39b47ded096942871b78f3ffb83"
    )
    assert parameters_checksum({"b": 2, "a": "first"}) == parameters_checksum(
        {"a": "first", "b": 2.0}
    )
    assert parameters_checksum({}) == "" and parameters_checksum(None) == ""
    assert parameters_checksum(MergedParameters().values) == ""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            {"b": 1, "a": {"d": [1, 2.5, None, True], "c": False}},
            '{"a":{"c":false,"d":[1,2.5,null,true]},"b":1}',
        ),
        ("<a href='x'>&</a>", "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\""),
        ('tab\there\nnl\r"q"\\', '"tab\\there\\nnl\\r\\"q\\"\\\\"'),
        ("\x00\x08\x0c\x1f\x7f", '"\\u0000\\u0008\\u000c\\u001f\x7f"'),
        ("\u2028\u2029é😀", '"\\u2028\\u2029é😀"'),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789.0, "123456789"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-1.5e-10, "-1.5e-10"),
        (-0.0, "-0"),
        (2**60, "1152921504606847000"),  # float64, as Go's interface{} decoding holds it
        (0.1, "0.1"),
    ],
)
def test_go_json_marshal(value: Any, expected: str) -> None:
    assert go_json_marshal(value) == expected


def test_go_json_marshal_rejects_non_json() -> None:
    with pytest.raises(ValueError):
        go_json_marshal(float("inf"))
    with pytest.raises(TypeError):
        go_json_marshal({1: "x"})
    with pytest.raises(TypeError):
        go_json_marshal(datetime.date(2024, 1, 1))


# --------------------------------------------------------------------------- PATCH


def test_patch_sends_only_changed_keys_and_nulls_removed_ones() -> None:
    old = {"size": 2, "name": "a", "keep": {"x": [1]}, "gone": True, "float": 1}
    new = {"size": 3, "name": "a", "keep": {"x": [1]}, "added": "n", "float": 1.0}
    patch = parameters_patch(old, new)
    assert patch.payload == {"size": 3, "added": "n", "gone": None}
    assert (patch.added, patch.changed, patch.removed) == (("added",), ("size",), ("gone",))
    assert not patch.empty


def test_patch_omit_policy_and_no_change() -> None:
    patch = parameters_patch({"a": 1, "b": 2}, {"a": 1}, removal="omit")
    assert patch.payload is None and patch.removed == ("b",) and not patch.empty
    same = parameters_patch({"a": {"n": 1}}, {"a": {"n": 1.0}})
    assert same.payload is None and same.empty
    assert parameters_patch(None, None).payload is None


def test_patch_nested_change_resends_top_level_value_and_tracks_sensitivity() -> None:
    merged = merge_parameters(
        {"cfg": {"a": 1, "b": 2}}, [SecretParameters("s", "k", json.dumps({"pw": "new"}))]
    )
    patch = parameters_patch({"cfg": {"a": 1, "b": 1}, "pw": "old"}, merged)
    assert patch.payload == {"cfg": {"a": 1, "b": 2}, "pw": "new"}
    assert patch.sensitive_keys == {"pw"}


def test_go_json_marshal_of_random_strings_and_integers_matches_the_general_path() -> None:
    # Plain strings and exact integers take shortcuts; both must agree with the
    # character-by-character escaper and the float64 formatter for every input.
    rng = random.Random(7)
    alphabet = 'ab Z09-_./:"\\<>&\n\r\t\x00\x01\x1f\x7f é€😀\u2028\u2029\ud800'
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert go_json_marshal(text) == _go_string_by_character(text), repr(text)
    for value in [0, 1, -1, 2**53, -(2**53), 2**53 + 1, -(2**53) - 1, 10**21, 10**22, 12345]:
        assert go_json_marshal(value) == _go_float(float(value)), value


def _go_string_by_character(text: str) -> str:
    """Go's escaping written out per character, as encoding/json's encodeState does."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif code < 0x20 or ch in "<>&" or code in (0x2028, 0x2029):
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    return "".join(out) + '"'
