"""The state value model: validation, the no-credentials guard, canonical JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from catalogctl.errors import StateError
from catalogctl.state import (
    InFlightOperation,
    OperationKind,
    ResourceState,
    ResourceStatus,
    State,
    checksum,
    validate_address,
)
from tests.state.conformance import SECRET_VALUE, binding_with_secret, instance


@pytest.mark.parametrize(
    "address",
    [
        "ServiceInstance/ns/name",
        "ServiceBinding/ns/name",
        "Secret/ns/name",
        "PodMapping/ns/name",
        "ServiceBroker/ns/name",
        "ClusterServiceBroker/name",
    ],
)
def test_valid_addresses(address: str) -> None:
    assert validate_address(address) == address


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("ServiceInstance/name", "ServiceInstance is namespaced"),
        ("ClusterServiceBroker/ns/name", "ClusterServiceBroker is cluster-scoped"),
        ("Deployment/ns/name", "unknown kind 'Deployment'"),
        ("ServiceInstance//name", "expected Kind/namespace/name"),
        ("ServiceInstance/a/b/c", "expected Kind/namespace/name"),
    ],
)
def test_invalid_addresses(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_address(address)


def test_kind_must_match_address() -> None:
    with pytest.raises(ValidationError, match="does not match address"):
        ResourceState(address="ServiceInstance/ns/a", kind="ServiceBinding")


def test_resource_state_has_no_field_for_credentials() -> None:
    fields = set(ResourceState.model_fields)
    assert not fields & {"credentials", "data", "string_data", "secret", "password"}
    with pytest.raises(ValidationError, match="credentials"):
        ResourceState(  # type: ignore[call-arg]
            address="ServiceBinding/ns/b",
            kind="ServiceBinding",
            credentials={"password": SECRET_VALUE},
        )


@pytest.mark.parametrize(
    "attributes",
    [
        {"credentials": {"password": SECRET_VALUE}},
        {"secret": {"data": {"password": "cGFzcw=="}}},
        {"objects": [{"name": "x", "stringData": {"password": SECRET_VALUE}}]},
        {"binaryData": {}},
    ],
)
def test_attributes_refuse_credential_carrying_keys(attributes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="must not hold credential or Secret data") as e:
        ResourceState(address="Secret/ns/s", kind="Secret", attributes=attributes)
    assert SECRET_VALUE not in str(e.value)


def test_sensitive_parameters_must_not_be_stored() -> None:
    with pytest.raises(ValidationError, match="password came from Secrets"):
        ResourceState(
            address="ServiceInstance/ns/a",
            kind="ServiceInstance",
            parameters={"password": SECRET_VALUE, "size": 1},
            sensitive_parameter_keys=("password",),
        )


@pytest.mark.parametrize("field", ["credentials_hash", "parameters_checksum"])
def test_digests_must_be_sha256_hex(field: str) -> None:
    with pytest.raises(ValidationError, match="sha256 hex digest") as e:
        ResourceState(address="ServiceBinding/ns/b", kind="ServiceBinding", **{field: SECRET_VALUE})
    assert SECRET_VALUE not in str(e.value)
    ResourceState(
        address="ServiceBinding/ns/b", kind="ServiceBinding", **{field: checksum(SECRET_VALUE)}
    )


def test_checksum_ignores_key_order_and_sees_values() -> None:
    assert checksum({"a": 1, "b": [1, 2]}) == checksum({"b": [1, 2], "a": 1})
    assert checksum({"a": 1}) != checksum({"a": 2})
    assert len(checksum({})) == 64


def test_invalid_state_error_does_not_echo_values() -> None:
    state = json.loads(State.new().with_resource(instance("a")).to_json())
    state["resources"]["ServiceInstance/ns/a"]["credentials_hash"] = SECRET_VALUE
    with pytest.raises(StateError) as e:
        State.from_json(json.dumps(state), source="s.json")
    assert "s.json: invalid state" in str(e.value)
    assert "credentials_hash" in str(e.value)
    assert SECRET_VALUE not in str(e.value)


def test_resources_keyed_by_their_address() -> None:
    with pytest.raises(ValidationError, match="holds"):
        State(lineage=State.new().lineage, resources={"ServiceInstance/ns/x": instance("a")})


def test_lineage_must_be_a_uuid() -> None:
    with pytest.raises(ValidationError, match="not a UUID"):
        State(lineage="prod")


def test_models_are_frozen() -> None:
    resource = instance("a")
    with pytest.raises(ValidationError):
        resource.status = ResourceStatus.TAINTED  # type: ignore[misc]
    state = State.new()
    with pytest.raises(ValidationError):
        state.serial = 3  # type: ignore[misc]


def test_times_are_utc_and_must_be_aware() -> None:
    plus_two = timezone(timedelta(hours=2))
    resource = instance("a", updated_at=datetime(2026, 1, 1, 12, 0, tzinfo=plus_two))
    assert resource.updated_at == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert resource.updated_at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        instance("a", updated_at=datetime(2026, 1, 1, 12, 0))
    op = InFlightOperation(kind=OperationKind.UPDATE, started_at=resource.updated_at)
    assert op.request_sent is False and op.operation is None


def test_updates_are_copies() -> None:
    empty = State.new()
    one = empty.with_resource(instance("a"))
    two = one.with_resource(instance("b"))
    assert empty.resources == {}
    assert set(one.resources) == {"ServiceInstance/ns/a"}
    assert set(two.without_resource("ServiceInstance/ns/a").resources) == {"ServiceInstance/ns/b"}
    assert set(two.resources) == {"ServiceInstance/ns/a", "ServiceInstance/ns/b"}
    assert two.without_resource("ServiceInstance/ns/zz") == two
    assert two.get("ServiceInstance/ns/b") == instance("b")
    assert two.addresses() == ["ServiceInstance/ns/a", "ServiceInstance/ns/b"]


def test_json_is_canonical_and_round_trips() -> None:
    lineage = State.new().lineage
    forward = State(lineage=lineage)
    backward = State(lineage=lineage)
    for name in "abc":
        forward = forward.with_resource(instance(name, parameters={"x": 1, "a": 2}))
    for name in "cba":
        backward = backward.with_resource(instance(name, parameters={"a": 2, "x": 1}))
    assert forward.to_json() == backward.to_json()
    assert list(json.loads(forward.to_json())["resources"]) == [
        f"ServiceInstance/ns/{n}" for n in "abc"
    ]
    assert forward.to_json().endswith("}\n")
    assert State.from_json(forward.to_json()) == forward
    resources = binding_with_secret({"password": SECRET_VALUE})
    with_binding = forward.with_resources(set_=resources)
    assert State.from_json(with_binding.to_json()) == with_binding
    assert SECRET_VALUE not in with_binding.to_json()


def test_unknown_fields_in_a_state_file_are_refused() -> None:
    data = json.loads(State.new().with_resource(instance("a")).to_json())
    data["resources"]["ServiceInstance/ns/a"]["credentials"] = {"password": SECRET_VALUE}
    with pytest.raises(StateError, match="credentials: Extra inputs are not permitted") as e:
        State.from_json(json.dumps(data))
    assert SECRET_VALUE not in str(e.value)


def test_top_level_must_be_an_object() -> None:
    with pytest.raises(StateError, match="expected a JSON object"):
        State.from_json("[]")
