"""Parsing ``--state`` values: directories, PostgreSQL URLs, Kubernetes locations."""

from __future__ import annotations

import pytest

from catalogctl.errors import UsageError
from catalogctl.state.naming import (
    KubernetesStateName,
    LocalStateName,
    PostgresStateName,
    parse_state_name,
)

SECRET = "s3cr3t-Pw"


@pytest.mark.parametrize("text", ["state", "./state", "/var/lib/catalogctl", "a:b", "dir/x://y"])
def test_anything_without_a_scheme_is_a_directory(text: str) -> None:
    assert parse_state_name(text) == LocalStateName(text)


def test_postgresql_url_with_password_and_name() -> None:
    name = parse_state_name(
        f"postgresql://ci:{SECRET}@db.internal:5433/infra?sslmode=require#team-a"
    )
    assert isinstance(name, PostgresStateName)
    assert name.name == "team-a"
    assert name.conninfo == f"postgresql://ci:{SECRET}@db.internal:5433/infra?sslmode=require"
    assert name.display() == "postgresql://ci@db.internal:5433/infra?sslmode=require#team-a"
    assert SECRET not in repr(name) and SECRET not in name.display()
    assert name.scrub(f"failed for {name.conninfo}: {SECRET}") == (
        f"failed for {name.redacted}: ***"
    )


def test_postgresql_name_defaults_and_password_may_come_from_elsewhere() -> None:
    name = parse_state_name("postgres://ci@127.0.0.1:5432/infra")
    assert isinstance(name, PostgresStateName)
    assert name.name == "default"
    assert name.password is None
    assert name.display() == "postgresql://ci@127.0.0.1:5432/infra#default".replace(
        "postgresql", "postgres"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"postgresql://ci:{SECRET}@/infra#x", "give a host"),
        (f"postgresql://ci:{SECRET}@h:5432/#x", "give a database"),
        (f"postgresql://ci:{SECRET}@h:5432/db#Bad_Name", "state name 'Bad_Name'"),
        (f"postgresql://ci:{SECRET}@h:notaport/db", "malformed postgresql:// URL"),
    ],
)
def test_bad_postgresql_urls_never_echo_the_password(text: str, message: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_state_name(text)
    assert message in str(raised.value)
    assert SECRET not in str(raised.value)


def test_kubernetes_location() -> None:
    assert parse_state_name("kubernetes://platform/prod") == KubernetesStateName("platform", "prod")
    assert parse_state_name("kubernetes://platform/prod").display() == (
        "kubernetes://platform/prod"
    )


@pytest.mark.parametrize(
    "text",
    [
        "kubernetes://platform",
        "kubernetes://platform/",
        "kubernetes://a/b/c",
        "kubernetes://NS/x",
        "kubernetes://ns/" + "x" * 41,
    ],
)
def test_bad_kubernetes_locations(text: str) -> None:
    with pytest.raises(UsageError, match="--state"):
        parse_state_name(text)


def test_unknown_scheme_and_empty_value() -> None:
    with pytest.raises(UsageError, match="unknown backend 's3'"):
        parse_state_name("s3://bucket/key")
    with pytest.raises(UsageError, match="empty"):
        parse_state_name("")
