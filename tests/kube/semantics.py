"""Per-kind admission, defaulting and validation: the rules a real apiserver's strategies apply.

Kept apart from the store so that the store only deals with identity, versions and events. Each
function raises :class:`ApiError` exactly as the matching upstream validation would.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from tests.kube.errors import FieldError, bad_request, invalid
from tests.kube.resources import ResourceType

_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_B64_ALPHABET = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
    "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
)
IMMUTABLE_SET_MSG = "field is immutable when `immutable` is set"


def fail(rt: ResourceType, name: str, errs: list[FieldError]) -> None:
    """Raise the type's 422 Invalid if any field errors were collected."""
    if errs:
        raise invalid(rt.kind, rt.group, name, errs)


def validate_name(rt: ResourceType, meta: dict[str, Any]) -> list[FieldError]:
    """ObjectMeta name rules: required, DNS-1123 subdomain (label for Namespaces)."""
    name = meta.get("name") or ""
    if not name:
        return [FieldError("metadata.name", "Required", "name or generateName is required")]
    if rt.plural == "namespaces":
        if len(name) > 63 or not _LABEL.match(name):
            return [FieldError("metadata.name", "Invalid", LABEL_MSG, name, True)]
    elif len(name) > 253 or not _SUBDOMAIN.match(name):
        return [FieldError("metadata.name", "Invalid", SUBDOMAIN_MSG, name, True)]
    return []


_QNAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
QNAME_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
MAX_ANNOTATIONS_BYTES = 256 * 1024
MAX_SECRET_BYTES = 1024 * 1024


def _qualified_name_errors(key: str) -> list[str]:
    """``IsQualifiedName``: an optional DNS-subdomain prefix, '/', and a 63-char name part."""
    parts = key.split("/")
    if len(parts) > 2:
        return ["a qualified name " + QNAME_MSG
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    errs: list[str] = []
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errs.append("prefix part must be non-empty")
        elif len(prefix) > 253 or not _SUBDOMAIN.match(prefix):
            errs.append("prefix part " + SUBDOMAIN_MSG)
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if name and not _QNAME.match(name):
        errs.append("name part " + QNAME_MSG)
    return errs


def validate_object_meta(meta: Any, path: str = "metadata") -> list[FieldError]:
    """Label keys and values, annotation keys and total annotation size."""
    if not isinstance(meta, dict):
        return []
    errs: list[FieldError] = []
    labels = meta.get("labels") or {}
    for key, value in labels.items():
        errs += [FieldError(f"{path}.labels", "Invalid", m, key, True)
                 for m in _qualified_name_errors(key)]
        value = "" if value is None else str(value)
        if len(value) > 63:
            errs.append(FieldError(f"{path}.labels", "Invalid",
                                   "must be no more than 63 characters", value, True))
        if value and not _QNAME.match(value):
            errs.append(FieldError(f"{path}.labels", "Invalid", LABEL_VALUE_MSG, value, True))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        errs += [FieldError(f"{path}.annotations", "Invalid", m, key, True)
                 for m in _qualified_name_errors(key.lower())]
    size = sum(len(k) + len(str(v or "")) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        errs.append(FieldError(f"{path}.annotations", "TooLong",
                               f"must have at most {MAX_ANNOTATIONS_BYTES} bytes"))
    return errs


def _decode_b64(kind: str, value: Any) -> None:
    """Reject what Go's ``encoding/json`` would refuse to decode into a ``[]byte``."""
    if not isinstance(value, str):
        raise bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal '
            f"{type(value).__name__} into Go struct field {kind}.data of type []uint8"
        )
    pos = _b64_error_offset(value.encode())
    if pos is not None:
        raise bad_request(
            f'{kind} in version "v1" cannot be handled as a {kind}: '
            f"illegal base64 data at input byte {pos}"
        )


def _b64_error_offset(raw: bytes) -> int | None:
    """Where Go's padded ``base64.StdEncoding`` gives up (its ``CorruptInputError`` offset), or
    None if the text decodes. Newlines are skipped, as Go does."""
    seen = 0  # significant characters so far
    pad_at: int | None = None
    for i, c in enumerate(raw):
        if c in (0x0A, 0x0D):
            continue
        if pad_at is not None:
            if c == 0x3D and seen % 4 == 3 and pad_at == seen - 1:
                seen += 1
                continue
            return i
        if c == 0x3D:
            if seen % 4 < 2:
                return i
            pad_at = seen
            seen += 1
            continue
        if c not in _B64_ALPHABET:
            return i
        seen += 1
    if seen % 4:
        return len(raw) - seen % 4
    return None


def fold_secret(obj: dict[str, Any]) -> None:
    """Secret write conversion: check ``data`` is base64, fold ``stringData`` in, default type."""
    data = obj.get("data")
    if data is not None and not isinstance(data, dict):
        raise bad_request(
            'Secret in version "v1" cannot be handled as a Secret: data must be a map'
        )
    for value in (data or {}).values():
        _decode_b64("Secret", value)
    string_data = obj.pop("stringData", None)
    if string_data:
        merged = dict(data or {})
        for key, value in string_data.items():
            merged[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = merged
    obj.setdefault("type", "Opaque")


def validate_secret(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    errs = _validate_keys("data", obj.get("data") or {})
    data = obj.get("data") or {}
    size = sum(len(k) + len(base64.b64decode(v)) for k, v in data.items())
    if size > MAX_SECRET_BYTES:
        errs.append(FieldError("data", "TooLong", f"must have at most {MAX_SECRET_BYTES} bytes"))
    if obj.get("type") == "kubernetes.io/tls":
        errs += [FieldError(f"data[{k}]", "Required", "") for k in ("tls.crt", "tls.key")
                 if k not in data]
    if obj.get("type") == "kubernetes.io/dockerconfigjson" and ".dockerconfigjson" not in data:
        errs.append(FieldError("data[.dockerconfigjson]", "Required", ""))
    if old is not None:
        if obj.get("type") != old.get("type"):
            errs.append(FieldError("type", "Invalid", "field is immutable", obj.get("type"), True))
        errs += _immutable_errors(obj, old, ("data",))
    return errs


def validate_configmap(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    for value in binary.values():
        _decode_b64("ConfigMap", value)
    errs = _validate_keys("data", data) + _validate_keys("binaryData", binary)
    errs += [FieldError(f"data[{k}]", "Invalid", "duplicate of key present in binaryData", k, True)
             for k in data if k in binary]
    if old is not None:
        errs += _immutable_errors(obj, old, ("data", "binaryData"))
    return errs


def _validate_keys(path: str, mapping: dict[str, Any]) -> list[FieldError]:
    return [FieldError(f"{path}[{k}]", "Invalid", CONFIG_KEY_MSG, k, True)
            for k in mapping if len(k) > 253 or not _CONFIG_KEY.match(k)]


def _immutable_errors(obj: dict[str, Any], old: dict[str, Any],
                      fields: tuple[str, ...]) -> list[FieldError]:
    """Once ``immutable: true`` is stored, neither it nor the payload may change."""
    if not old.get("immutable"):
        return []
    errs: list[FieldError] = []
    if obj.get("immutable") != old.get("immutable"):
        errs.append(FieldError("immutable", "Forbidden", IMMUTABLE_SET_MSG))
    for name in fields:
        if (obj.get(name) or {}) != (old.get(name) or {}):
            errs.append(FieldError(name, "Forbidden", IMMUTABLE_SET_MSG))
    return errs


def prepare_namespace(obj: dict[str, Any]) -> None:
    """Namespace defaulting: the name label, the ``kubernetes`` finalizer, phase Active."""
    meta = obj["metadata"]
    meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
    obj["spec"] = {"finalizers": ["kubernetes"]}
    obj["status"] = {"phase": "Active"}


def validate_crd(obj: dict[str, Any]) -> list[FieldError]:
    """Only what registration needs: the name/group/plural tie-up and at least one version."""
    spec = obj.get("spec") or {}
    names = spec.get("names") or {}
    errs: list[FieldError] = []
    expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
    if obj["metadata"].get("name") != expected:
        errs.append(FieldError("metadata.name", "Invalid",
                               'must be spec.names.plural+"."+spec.group',
                               obj["metadata"].get("name"), True))
    if not names.get("kind"):
        errs.append(FieldError("spec.names.kind", "Required", ""))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        errs.append(FieldError("spec.scope", "Unsupported",
                               'supported values: "Cluster", "Namespaced"', spec.get("scope"),
                               True))
    if not spec.get("versions"):
        errs.append(FieldError("spec.versions", "Invalid", "must have exactly one version marked "
                               "as storage version", spec.get("versions"), True))
    return errs


def crd_status(obj: dict[str, Any], now: str) -> dict[str, Any]:
    """What the apiextensions controllers would report at once: names accepted, established."""
    spec = obj["spec"]
    storage = next((v["name"] for v in spec["versions"] if v.get("storage")),
                   spec["versions"][0]["name"])
    conditions = [
        {"type": t, "status": "True", "lastTransitionTime": now, "reason": r, "message": m}
        for t, r, m in (
            ("NamesAccepted", "NoConflicts", "no conflicts found"),
            ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        )
    ]
    return {"conditions": conditions, "acceptedNames": spec["names"], "storedVersions": [storage]}
