"""Binding Secret data: Service Catalog's transform and serialisation rules, pinned."""

from __future__ import annotations

import base64

import pytest

from catalogctl.errors import OwnershipError, ProviderError
from catalogctl.providers.kubernetes.secrets import (
    MissingSecretError,
    SecretTransformError,
    build_secret_data,
    check_owner,
    go_json_marshal,
    json_path_error,
    observation_of,
    owner_of,
    secret_data_digest,
    secret_manifest,
    serialize_credentials,
)
from tests.kubernetes.helpers import transforms


def no_secrets(namespace: str, name: str) -> dict[str, bytes]:
    raise MissingSecretError(f"Secret {namespace}/{name} not found")


class TestSerialisation:
    def test_strings_are_raw_and_others_are_compact_json(self) -> None:
        data = serialize_credentials(
            {
                "host": "db.example.com",
                "port": 5432,
                "tls": True,
                "ratio": 0.5,
                "nothing": None,
                "tags": ["a", "b"],
                "nested": {"user": "u", "n": 1},
                "quoted": '"already quoted"',
            }
        )
        assert data == {
            "host": b"db.example.com",
            "port": b"5432",
            "tls": b"true",
            "ratio": b"0.5",
            "nothing": b"null",
            "tags": b'["a","b"]',
            "nested": b'{"n":1,"user":"u"}',
            "quoted": b'"already quoted"',
        }

    def test_bytes_stay_raw(self) -> None:
        assert serialize_credentials({"k": b"\x00\xff"}) == {"k": b"\x00\xff"}

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (5432.0, b"5432"),  # float64 prints without a fraction
            (1e21, b"1e+21"),
            (1e20, b"100000000000000000000"),
            (1e-7, b"1e-7"),
            (0.000001, b"0.000001"),
            (-2.5, b"-2.5"),
            ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),  # Go sorts map keys
            ("<a&b>", b'"\\u003ca\\u0026b\\u003e"'),  # HTML-safe escaping
            ("é", '"é"'.encode()),  # UTF-8, not \\u escapes
            (2**60, b"1152921504606847000"),  # beyond 2**53: float64 shortest digits
        ],
    )
    def test_go_json_marshal_matches_go(self, value: object, expected: bytes) -> None:
        assert go_json_marshal(value) == expected

    def test_nan_cannot_be_serialised_and_error_names_key_only(self) -> None:
        with pytest.raises(SecretTransformError, match="credential 'x'") as exc:
            serialize_credentials({"x": float("nan")})
        assert "nan" not in str(exc.value).split(":", 1)[0]


class TestTransforms:
    CREDS = {
        "user": "alice",
        "password": "s3cr3t-pw",
        "port": 5432,
        "uri": {"host": "db", "port": 5432},
        "hosts": [{"name": "a"}, {"name": "b"}],
    }

    def build(
        self, text: str, creds: dict[str, object] | None = None, read: object = no_secrets
    ) -> dict[str, bytes]:
        return build_secret_data(
            dict(creds if creds is not None else self.CREDS),
            transforms(text),
            read,
            namespace="apps",
        )  # type: ignore[arg-type]

    def test_no_transforms_serialises_every_key(self) -> None:
        data = self.build("[]")
        assert data["user"] == b"alice"
        assert data["uri"] == b'{"host":"db","port":5432}'

    def test_rename_key_moves_value_and_overwrites_target(self) -> None:
        data = self.build("[{renameKey: {from: user, to: password}}]")
        assert "user" not in data
        assert data["password"] == b"alice"

    def test_rename_missing_key_is_noop(self) -> None:
        assert self.build("[{renameKey: {from: nope, to: x}}]") == self.build("[]")

    def test_add_key_precedence_jsonpath_over_string_over_value(self) -> None:
        b64 = base64.b64encode(b"from-bytes").decode()
        data = self.build(f"""
        - addKey: {{key: a, value: {b64}, stringValue: from-string,
                   jsonPathExpression: "{{.user}}"}}
        - addKey: {{key: b, value: {b64}, stringValue: from-string}}
        - addKey: {{key: c, value: {b64}}}
        """)
        assert data["a"] == b"alice"
        assert data["b"] == b"from-string"
        assert data["c"] == b"from-bytes"

    def test_add_key_overwrites_existing_key(self) -> None:
        assert self.build("[{addKey: {key: user, stringValue: bob}}]")["user"] == b"bob"

    def test_add_key_jsonpath_template_with_literal_text(self) -> None:
        data = self.build(
            '[{addKey: {key: url, jsonPathExpression: "pg://{.uri.host}:{.uri.port}/x"}}]'
        )
        assert data["url"] == b"pg://db:5432/x"

    def test_add_key_jsonpath_sees_earlier_transforms(self) -> None:
        data = self.build("""
        - renameKey: {from: user, to: login}
        - addKey: {key: who, jsonPathExpression: "{.login}"}
        """)
        assert data["who"] == b"alice"

    def test_add_key_bad_base64_is_input_error(self) -> None:
        with pytest.raises(SecretTransformError, match=r"spec.secretTransforms\[0\].addKey.value"):
            self.build("[{addKey: {key: x, value: '***'}}]")

    def test_jsonpath_error_names_transform_but_not_values(self) -> None:
        with pytest.raises(SecretTransformError) as exc:
            build_secret_data(
                dict(self.CREDS),
                transforms("[{addKey: {key: x, jsonPathExpression: '{.password.x}'}}]"),
                no_secrets,
                binding="ServiceBinding/apps/b",
            )
        msg = str(exc.value)
        assert msg.startswith(
            "ServiceBinding/apps/b: spec.secretTransforms[0].addKey.jsonPathExpression"
        )
        assert "s3cr3t-pw" not in msg

    def test_add_keys_from_merges_and_overwrites_from_any_namespace(self) -> None:
        calls: list[tuple[str, str]] = []

        def read(namespace: str, name: str) -> dict[str, bytes]:
            calls.append((namespace, name))
            return {"user": b"root", "ca.crt": b"PEM"}

        data = self.build(
            """
        - addKeysFrom: {secretRef: {namespace: shared, name: ca}}
        - addKeysFrom: {secretRef: {name: local}}
        """,
            read=read,
        )
        assert calls == [("shared", "ca"), ("apps", "local")]
        assert data["user"] == b"root"
        assert data["ca.crt"] == b"PEM"
        assert data["password"] == b"s3cr3t-pw"

    def test_add_keys_from_missing_secret_is_an_error(self) -> None:
        with pytest.raises(MissingSecretError, match="Secret shared/ca not found"):
            self.build("[{addKeysFrom: {secretRef: {namespace: shared, name: ca}}}]")

    def test_remove_key_and_missing_remove_is_fine(self) -> None:
        data = self.build("[{removeKey: {key: password}}, {removeKey: {key: nope}}]")
        assert "password" not in data
        assert data["user"] == b"alice"

    def test_transforms_run_in_order(self) -> None:
        data = self.build("""
        - addKey: {key: tmp, stringValue: one}
        - renameKey: {from: tmp, to: final}
        - removeKey: {key: tmp}
        - addKey: {key: tmp, stringValue: two}
        """)
        assert data["final"] == b"one"
        assert data["tmp"] == b"two"

    def test_first_member_wins_addkey_before_rename(self) -> None:
        data = self.build(
            "[{addKey: {key: k, stringValue: v}, renameKey: {from: user, to: login}}]"
        )
        assert data["k"] == b"v"
        assert data["user"] == b"alice"
        assert "login" not in data

    def test_credentials_are_not_mutated(self) -> None:
        creds = dict(self.CREDS)
        build_secret_data(creds, transforms("[{removeKey: {key: user}}]"), no_secrets)
        assert creds["user"] == "alice"


class TestOwnershipAndDigest:
    OWNER = "ServiceBinding/apps/db"

    def test_manifest_is_opaque_marked_and_base64(self) -> None:
        m = secret_manifest("apps", "db-creds", self.OWNER, {"k": b"v"})
        assert m["type"] == "Opaque"
        assert m["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "catalogctl"}
        assert m["metadata"]["annotations"] == {"catalogctl.io/owner": self.OWNER}
        assert m["data"] == {"k": "dg=="}
        assert owner_of(m["metadata"]) == self.OWNER

    def test_update_keeps_foreign_labels_and_resource_version(self) -> None:
        base = {
            "metadata": {
                "labels": {"team": "x"},
                "annotations": {"a": "b"},
                "resourceVersion": "7",
            },
            "type": "Opaque",
        }
        m = secret_manifest("apps", "s", self.OWNER, {}, base=base)
        assert m["metadata"]["labels"]["team"] == "x"
        assert m["metadata"]["annotations"]["a"] == "b"
        assert m["metadata"]["resourceVersion"] == "7"

    def test_unmanaged_secret_is_refused_with_clear_message(self) -> None:
        with pytest.raises(
            OwnershipError, match=r"Secret apps/s exists but is not managed by catalogctl"
        ):
            check_owner("Secret", "apps", "s", {"labels": {}}, self.OWNER, "overwrite")

    def test_secret_of_other_binding_is_refused(self) -> None:
        meta = secret_manifest("apps", "s", "ServiceBinding/apps/other", {})["metadata"]
        with pytest.raises(OwnershipError, match="owned by ServiceBinding/apps/other"):
            check_owner("Secret", "apps", "s", meta, self.OWNER, "delete")

    def test_annotation_without_label_is_not_ownership(self) -> None:
        assert owner_of({"annotations": {"catalogctl.io/owner": self.OWNER}}) is None

    def test_digest_is_order_independent_and_unambiguous(self) -> None:
        assert secret_data_digest({"a": b"1", "b": b"2"}) == secret_data_digest(
            {"b": b"2", "a": b"1"}
        )
        assert secret_data_digest({"a": b"bc"}) != secret_data_digest({"ab": b"c"})
        assert secret_data_digest({}) != secret_data_digest({"": b""})

    def test_observation_has_digest_and_keys_but_no_values(self) -> None:
        obj = secret_manifest("apps", "s", self.OWNER, {"password": b"hunter2"})
        obs = observation_of("apps", "s", obj)
        assert obs.exists and obs.managed and obs.owner == self.OWNER
        assert obs.keys == ("password",)
        assert obs.data_sha256 == secret_data_digest({"password": b"hunter2"})
        assert "hunter2" not in repr(obs)
        assert not observation_of("apps", "s", None).exists


def test_transform_errors_are_provider_errors_not_input_errors() -> None:
    # They surface at bind time, after broker calls; InputError promises "before any call".
    from catalogctl.errors import InputError

    assert issubclass(SecretTransformError, ProviderError)
    assert not issubclass(SecretTransformError, InputError)


def test_json_path_syntax_check_for_validation() -> None:
    assert json_path_error("pg://{.host}:{.port}") is None
    assert "recursive descent" in (json_path_error("{..host}") or "")
    assert "unclosed" in (json_path_error("{.host") or "")
