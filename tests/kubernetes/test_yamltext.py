"""dump_yaml: block YAML that reads back as the object it was given."""

from __future__ import annotations

import datetime
import random
import string
from typing import Any

import pytest
import yaml

from catalogctl.providers.kubernetes.secrets import secret_manifest
from catalogctl.providers.kubernetes.yamltext import dump_yaml

#: Strings a careless emitter writes plain and a YAML 1.1 or 1.2 loader then
#: reads as something else (bool, null, number, timestamp, merge key, ...),
#: or that break the document (indicators, comments, quotes, line breaks).
TRICKY = [
    "",
    " ",
    "y",
    "Y",
    "n",
    "N",
    "yes",
    "No",
    "ON",
    "off",
    "True",
    "FALSE",
    "null",
    "Null",
    "~",
    "0",
    "007",
    "0x1F",
    "0o17",
    "0b101",
    "1_000",
    "1:20",
    "190:20:30",
    "-1",
    "+1",
    "1.5",
    ".5",
    "1e3",
    "1E+3",
    ".inf",
    "-.Inf",
    ".NaN",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "<<",
    "=",
    "-",
    "?",
    ":",
    "- a",
    "? a",
    "a: b",
    "a:b",
    "a #b",
    "#a",
    "a#b",
    "&a",
    "*a",
    "!a",
    "!!str",
    "%a",
    "@a",
    "`a",
    "|",
    ">",
    "'a'",
    '"a"',
    "[a]",
    "{a: 1}",
    "a,b",
    "a\nb",
    "a\tb",
    "trailing ",
    " leading",
    "back\\slash",
    "ctrl\x01\x1f\x7f",
    "postgres://user:pass@host:5432/db?sslmode=require",
    "czNjcjN0cGFzc3dvcmQ=",
    "MTIz",
    "+/8=",
    "/a",
    "9aGx",
    "dXNlcg==",
    "app.kubernetes.io/managed-by",
    "ServiceBinding/default/db-binding",
]


def roundtrip(obj: dict[str, Any]) -> Any:
    return yaml.safe_load(dump_yaml(obj))


@pytest.mark.parametrize("text", TRICKY)
def test_every_tricky_string_reads_back_as_itself(text: str) -> None:
    obj = {text or "empty": text, "list": [text], "nested": {text or "k": [{text or "k": text}]}}
    assert roundtrip(obj) == obj


def test_a_secret_manifest_is_written_as_kubectl_shows_it() -> None:
    body = secret_manifest(
        "default", "db", "ServiceBinding/default/db", {"uri": b"postgres://u:p@h/db", "n": b"1"}
    )
    assert dump_yaml(body) == (
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        "  name: db\n"
        "  namespace: default\n"
        "  labels:\n"
        "    app.kubernetes.io/managed-by: catalogctl\n"
        "  annotations:\n"
        "    catalogctl.io/owner: ServiceBinding/default/db\n"
        "type: Opaque\n"
        "data:\n"
        '  "n": MQ==\n'  # a plain n would read back as false in YAML 1.1
        "  uri: cG9zdGdyZXM6Ly91OnBAaC9kYg==\n"
    )
    assert yaml.safe_load(dump_yaml(body)) == body


def test_sequences_and_empty_collections() -> None:
    obj = {
        "spec": {
            "containers": [
                {"name": "app", "env": [{"name": "A", "value": "1"}], "args": []},
                {"name": "side", "ports": [{"containerPort": 80}], "resources": {}},
            ],
            "matrix": [[1, 2], [], [{"a": None}], {}],
            "flags": [True, False, None, 0, -5, 10**30],
        }
    }
    text = dump_yaml(obj)
    assert yaml.safe_load(text) == obj
    assert "containers:\n  - name: app\n    env:\n    - name: A\n" in text


def test_values_it_does_not_write_go_through_pyyaml() -> None:
    """Floats, timestamps read from a file, non-ASCII text and non-string keys."""
    for obj in (
        {"ratio": 0.5},
        {"created": datetime.datetime(2024, 1, 2, 3, 4, 5)},
        {"note": "café ☕ 😀"},
        {"ports": {80: "http"}},
        {"k" * 1500: "long key"},
    ):
        assert roundtrip(obj) == obj


def _random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(7 if depth < 4 else 4)
    if kind == 0:
        return rng.choice(TRICKY)
    if kind == 1:
        alphabet = string.printable + "éß"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 2:
        return rng.choice([None, True, False, 0, 1, -7, 2**40])
    if kind == 3:
        return "".join(
            rng.choice(string.ascii_letters + "=+/") for _ in range(rng.randrange(1, 30))
        )
    if kind in (4, 5):
        return {_random_key(rng): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _random_key(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(TRICKY)
    return "".join(
        rng.choice(string.ascii_letters + string.digits + ".-_/: #")
        for _ in range(rng.randrange(1, 15))
    )


def test_random_documents_read_back_equal() -> None:
    rng = random.Random(20261126)
    for _ in range(3000):
        obj = {_random_key(rng): _random_value(rng, 0) for _ in range(rng.randrange(1, 5))}
        assert roundtrip(obj) == obj, dump_yaml(obj)
