"""Binding Secrets built exactly as Service Catalog built them, and marked as ours.

Workloads that consumed Service Catalog bindings read their Secret keys
directly (``secretKeyRef``, ``envFrom``, mounted files), so a migrated binding
must produce byte-identical data: the transforms run first, in order, on the
broker's credentials map (``transformCredentials``), then every value is
serialised (``serializer.go``): strings and bytes raw, anything else as Go's
``json.Marshal`` prints it.  Everything here is pure; the cluster targets call
it and write the result.

Ownership replaces Service Catalog's ownerReference to the ServiceBinding
object, which no longer exists in the cluster: a label says catalogctl manages
the Secret and an annotation names the binding address that owns it.  A Secret
without them, or owned by another binding, is never overwritten or deleted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from catalogctl.errors import ClusterError, OwnershipError, ProviderError
from catalogctl.model.bindings import SecretTransform
from catalogctl.model.names import secret_key_error
from catalogctl.providers.kubernetes.jsonpath import (
    JSONPathError,
    evaluate_template,
    parse_template,
)
from catalogctl.providers.kubernetes.statemark import (
    StateMark,
    controller_of,
    mark_annotations,
    mark_of,
)

__all__ = [
    "MANAGED_BY_LABEL",
    "MANAGED_BY_VALUE",
    "OWNER_ANNOTATION",
    "MissingSecretError",
    "SecretObservation",
    "SecretTransformError",
    "apply_transforms",
    "build_secret_data",
    "check_owner",
    "go_json_marshal",
    "json_path_error",
    "owner_of",
    "ownership_metadata",
    "secret_data_digest",
    "serialize_credentials",
]

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE: Final = "catalogctl"
OWNER_ANNOTATION: Final = "catalogctl.io/owner"

#: ``read_secret(namespace, name)`` → the Secret's data; raises MissingSecretError.
ReadSecret = Callable[[str, str], dict[str, bytes]]


class SecretTransformError(ProviderError):
    """The binding Secret cannot be built from the broker's credentials.

    A bad ``jsonPathExpression``, an ``addKey.value`` that is not base64, or a
    credential JSON cannot represent.  Like Service Catalog, this surfaces at
    bind time, when the credentials are known; messages name the binding, the
    transform and keys, never values.
    """


class MissingSecretError(ClusterError):
    """A Secret (or one of its keys) that an input refers to does not exist.

    Service Catalog retried a bind whose ``addKeysFrom`` Secret was missing; a
    CLI reports it and the next run tries again.
    """


@dataclass(frozen=True)
class SecretObservation:
    """What a plan may know about a binding Secret: never its values.

    ``data_sha256`` is :func:`secret_data_digest` of the data, so the engine can
    compare it with the digest of the data it would write.  ``keys`` are names,
    which are not secret.
    """

    namespace: str
    name: str
    exists: bool
    managed: bool = False
    owner: str | None = None
    data_sha256: str | None = None
    keys: tuple[str, ...] = ()
    #: the state that last wrote it (None: not recorded, e.g. written before marks existed)
    mark: StateMark | None = None
    #: another controller named in its ownerReferences (Service Catalog's ServiceBinding)
    controller: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def data_hash(self) -> str | None:
        """Alias of :attr:`data_sha256` under the name the engine's port uses."""
        return self.data_sha256


# --- serialisation --------------------------------------------------------------------------------


def _go_json_float(value: float) -> str:
    """``encoding/json`` float64: shortest digits, exponent form below 1e-6 or from 1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + exponent
    prefix = "-" if sign else ""
    absval = abs(value)
    if absval < 1e-6 or absval >= 1e21:
        exp10 = point - 1
        mantissa = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        # Go trims "e-07" to "e-7" (and "e+21" stays "e+21").
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10)}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{ds}"
    if point >= len(ds):
        return prefix + ds + "0" * (point - len(ds))
    return f"{prefix}{ds[:point]}.{ds[point:]}"


def _go_json(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif isinstance(value, bool):
        out.append("true" if value else "false")
    elif isinstance(value, int):
        # JSON numbers decode to float64 in Go; ints beyond 2**53 lose digits there too.
        out.append(str(value) if abs(value) < 2**53 else _go_json_float(float(value)))
    elif isinstance(value, float):
        out.append(_go_json_float(value))
    elif isinstance(value, str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, bytes):
        # []byte marshals as a base64 string.
        out.append('"' + base64.b64encode(value).decode("ascii") + '"')
    elif isinstance(value, Mapping):
        out.append("{")
        for n, key in enumerate(sorted(value, key=str)):
            if n:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _go_json(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(",")
            _go_json(item, out)
        out.append("]")
    else:
        raise ValueError(f"json: unsupported type: {type(value).__name__}")


_GO_HTML_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def go_json_marshal(value: Any) -> bytes:
    """Go's ``json.Marshal`` of a JSON-decoded value: compact, sorted keys, HTML-escaped.

    For the common cases this equals ``json.dumps(v, separators=(",", ":"))``;
    it differs where Go differs (object keys sorted, ``<>&`` escaped, non-ASCII
    left as UTF-8, ``1.0`` printed ``1``), which is what byte-identical Secrets
    need.  The escaped characters can only occur inside JSON strings, so a
    textual replacement on the output is exact.
    """
    out: list[str] = []
    _go_json(value, out)
    text = "".join(out)
    for ch, esc in _GO_HTML_ESCAPES.items():
        text = text.replace(ch, esc)
    return text.encode("utf-8")


def serialize_credentials(credentials: Mapping[str, Any]) -> dict[str, bytes]:
    """Service Catalog's ``serialize``: str → UTF-8, bytes → as is, others → Go JSON."""
    data: dict[str, bytes] = {}
    for key, value in credentials.items():
        if isinstance(value, bytes):
            data[key] = value
        elif isinstance(value, str):
            data[key] = value.encode("utf-8")
        else:
            try:
                data[key] = go_json_marshal(value)
            except ValueError as e:
                raise SecretTransformError(
                    f"credential {key!r} cannot be serialised: {e}"
                ) from None
    return data


# --- transforms -----------------------------------------------------------------------------------


def _decode_value(b64: str, where: str) -> bytes:
    try:
        return base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError):
        raise SecretTransformError(f"{where}.addKey.value is not valid base64") from None


def json_path_error(expression: str) -> str | None:
    """Why ``expression`` is not a supported jsonPathExpression, or None (syntax only).

    For load-time validation: Service Catalog only found bad JSONPath at bind
    time, after the broker had created the binding.
    """
    try:
        parse_template(expression)
    except JSONPathError as e:
        return str(e)
    return None


def apply_transforms(
    credentials: Mapping[str, Any],
    transforms: Sequence[SecretTransform],
    read_secret: ReadSecret,
    *,
    namespace: str = "",
    binding: str = "",
) -> dict[str, Any]:
    """Run ``secretTransforms`` in order on a copy of ``credentials`` (Service Catalog semantics).

    When an item sets several members, the first of addKey, renameKey,
    addKeysFrom, removeKey wins, as in ``transformCredentials``.  Errors name
    the binding, the transform index and key names only.
    """
    creds: dict[str, Any] = dict(credentials)
    prefix = f"{binding}: " if binding else ""
    for i, t in enumerate(transforms):
        where = f"{prefix}spec.secretTransforms[{i}]"
        if t.add_key is not None:
            ak = t.add_key
            if ak.json_path_expression is not None:
                try:
                    creds[ak.key] = evaluate_template(ak.json_path_expression, creds)
                except JSONPathError as e:
                    raise SecretTransformError(f"{where}.addKey.jsonPathExpression: {e}") from None
            elif ak.string_value is not None:
                creds[ak.key] = ak.string_value
            elif ak.value is not None:
                creds[ak.key] = _decode_value(ak.value, where)
            else:
                creds[ak.key] = b""  # a nil []byte serialises as an empty value
        elif t.rename_key is not None:
            rk = t.rename_key
            if rk.from_ in creds:
                value = creds.pop(rk.from_)
                creds[rk.to] = value
        elif t.add_keys_from is not None:
            ref = t.add_keys_from.secret_ref
            creds.update(read_secret(ref.namespace or namespace, ref.name))
        elif t.remove_key is not None:
            creds.pop(t.remove_key.key, None)
    return creds


def build_secret_data(
    credentials: dict[str, Any],
    transforms: list[SecretTransform],
    read_secret: ReadSecret,
    *,
    namespace: str = "",
    binding: str = "",
) -> dict[str, bytes]:
    """The ``data`` of a binding Secret: transforms, then serialisation.

    ``read_secret`` serves ``addKeysFrom`` (a Secret in any namespace; a
    reference without one means ``namespace``, the binding's) and must raise
    :class:`MissingSecretError` for a missing Secret.  ``binding`` (an address)
    only prefixes error messages.
    """
    creds = apply_transforms(
        credentials, transforms, read_secret, namespace=namespace, binding=binding
    )
    check_secret_keys(creds, binding)
    return serialize_credentials(creds)


def check_secret_keys(credentials: Mapping[Any, Any], binding: str = "") -> None:
    """Raise SecretTransformError unless every key is a valid Secret key.

    A broker may return any JSON object; the API server would refuse the
    Secret mid-apply, and a directory target would write a file named by it.
    Keys are names, not values, so the message may show them (shortened).
    """
    for key in credentials:
        text = str(key)
        err = secret_key_error(text)
        if err is None:
            continue
        shown = text if len(text) <= 64 else text[:61] + "..."
        who = f"{binding}: " if binding else ""
        raise SecretTransformError(
            f"{who}the broker's credential key {shown!r} is not a valid Secret key ({err}); "
            "rename it with a secretTransforms item such as "
            f"renameKey: {{from: {json.dumps(shown)}, to: <a valid key>}} "
            "(the binding itself is kept)"
        )


def secret_data_digest(data: Mapping[str, bytes]) -> str:
    """sha256 hex over the Secret's data, independent of key order.

    Each key and value is length-prefixed, so no two different maps can hash the
    same input.  The digest, not the data, is what plans and state may hold.
    """
    h = hashlib.sha256()
    for key in sorted(data):
        kb = key.encode("utf-8")
        vb = data[key]
        h.update(len(kb).to_bytes(8, "big"))
        h.update(kb)
        h.update(len(vb).to_bytes(8, "big"))
        h.update(vb)
    return h.hexdigest()


# --- ownership ------------------------------------------------------------------------------------


def ownership_metadata(
    owner: str, mark: StateMark | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Labels and annotations that mark a Secret as written by ``owner`` (a binding address)
    of the state ``mark``."""
    return {MANAGED_BY_LABEL: MANAGED_BY_VALUE}, {OWNER_ANNOTATION: owner, **mark_annotations(mark)}


def owner_of(metadata: Mapping[str, Any]) -> str | None:
    """The binding address owning an object, or None when catalogctl does not manage it."""
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY_VALUE:
        return None
    owner = annotations.get(OWNER_ANNOTATION)
    return owner if isinstance(owner, str) and owner else None


def check_owner(
    kind: str,
    namespace: str,
    name: str,
    metadata: Mapping[str, Any],
    owner: str,
    action: str,
    mark: StateMark | None = None,
) -> None:
    """Raise OwnershipError unless ``owner`` of the state ``mark`` owns the object.

    An object with no recorded lineage is judged by its owner address alone.
    """
    actual = owner_of(metadata)
    if actual == owner:
        theirs = mark_of(metadata.get("annotations"))
        if mark is None or theirs is None or theirs.lineage == mark.lineage:
            return
        raise OwnershipError(
            f"{kind} {namespace}/{name} belongs to another state, {theirs.describe()}; "
            f"refusing to {action} it for {owner} of {mark.describe()}"
        )
    if actual is None:
        raise OwnershipError(
            f"{kind} {namespace}/{name} exists but is not managed by catalogctl "
            f"(no {MANAGED_BY_LABEL}={MANAGED_BY_VALUE} label and {OWNER_ANNOTATION} annotation); "
            f"refusing to {action} it for {owner}. Delete or rename it, or choose another "
            f"spec.secretName"
        )
    raise OwnershipError(
        f"{kind} {namespace}/{name} is owned by {actual}; refusing to {action} it for {owner}"
    )


def observation_of(namespace: str, name: str, obj: Mapping[str, Any] | None) -> SecretObservation:
    """A :class:`SecretObservation` of a Secret object (``data`` base64 as in the API)."""
    if obj is None:
        return SecretObservation(namespace, name, exists=False)
    metadata = obj.get("metadata") or {}
    data = decode_data(obj.get("data") or {})
    owner = owner_of(metadata)
    return SecretObservation(
        namespace,
        name,
        exists=True,
        managed=owner is not None,
        owner=owner,
        data_sha256=secret_data_digest(data),
        keys=tuple(sorted(data)),
        mark=mark_of(metadata.get("annotations")) if owner is not None else None,
        controller=controller_of(metadata),
    )


def decode_data(data: Mapping[str, str]) -> dict[str, bytes]:
    """Decode a Secret's base64 ``data`` map (errors name the key only)."""
    out: dict[str, bytes] = {}
    for key, value in data.items():
        try:
            out[key] = base64.b64decode(value or "", validate=True)
        except (binascii.Error, ValueError):
            raise ClusterError(f"Secret data key {key!r} is not valid base64") from None
    return out


def encode_data(data: Mapping[str, bytes]) -> dict[str, str]:
    """Encode a data map to the base64 strings the API and manifests use."""
    return {key: base64.b64encode(value).decode("ascii") for key, value in sorted(data.items())}


def secret_manifest(
    namespace: str,
    name: str,
    owner: str,
    data: Mapping[str, bytes],
    base: Mapping[str, Any] | None = None,
    mark: StateMark | None = None,
) -> dict[str, Any]:
    """The Secret object to write: Opaque, ownership marks, data replaced wholesale.

    ``base`` is the existing object (when updating); its other labels and
    annotations are kept, because users and tools may annotate the Secret.
    """
    labels, annotations = ownership_metadata(owner, mark)
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if base is not None:
        old = base.get("metadata") or {}
        labels = {**(old.get("labels") or {}), **labels}
        annotations = {**(old.get("annotations") or {}), **annotations}
        if old.get("resourceVersion"):
            meta["resourceVersion"] = old["resourceVersion"]
    meta["labels"] = labels
    meta["annotations"] = annotations
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": (base or {}).get("type") or "Opaque",
        "data": encode_data(data),
    }
