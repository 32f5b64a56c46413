"""``metav1.Status`` failure bodies shaped exactly like the real apiserver's.

catalogctl branches on ``ApiException.status`` and on ``json.loads(e.body)["reason"]``, so each
constructor here reproduces the message, reason and ``details`` layout of the matching helper in
``k8s.io/apimachinery/pkg/api/errors`` (``NewNotFound``, ``NewConflict``, ``NewInvalid`` ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPTIMISTIC_LOCK_MSG = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


@dataclass
class FieldError:
    """One ``field.Error``: rendered as ``<path>: <type>: <detail>`` like apimachinery does."""

    path: str
    kind: str  # "Required", "Invalid", "Forbidden", "Unsupported" ...
    detail: str
    value: Any = None
    show_value: bool = False

    _REASONS = {
        "Required": "FieldValueRequired",
        "Invalid": "FieldValueInvalid",
        "Forbidden": "FieldValueForbidden",
        "Duplicate": "FieldValueDuplicate",
        "NotFound": "FieldValueNotFound",
        "Unsupported": "FieldValueNotSupported",
        "TooLong": "FieldValueTooLong",
    }
    _TEXTS = {
        "Required": "Required value",
        "Invalid": "Invalid value",
        "Duplicate": "Duplicate value",
        "NotFound": "Not found",
        "Unsupported": "Unsupported value",
        "TooLong": "Too long",
    }

    def type_text(self) -> str:
        """The ``ErrorType.String()`` text, e.g. ``Required value``."""
        return self._TEXTS.get(self.kind, self.kind)

    def body(self) -> str:
        """The error without its path, as it appears in a StatusCause message."""
        text = self.type_text()
        if self.show_value:
            text += f": {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.path}: {self.body()}"

    def cause(self) -> dict[str, Any]:
        """The ``StatusCause`` entry a real Invalid error lists for this field."""
        return {
            "reason": self._REASONS.get(self.kind, "FieldValueInvalid"),
            "message": self.body(),
            "field": self.path,
        }


class GoRaw(str):
    """A field-error value already rendered Go-style (e.g. ``0x0``), printed unquoted."""


def _go_value(value: Any) -> str:
    """Render a value the way Go's ``%#v``-ish field errors do (strings quoted)."""
    if isinstance(value, str) and not isinstance(value, GoRaw):
        return '"' + value.replace('"', '\\"') + '"'
    return str(value)


@dataclass
class ApiError(Exception):
    """Raised anywhere in the emulator; the HTTP layer turns it into a Status response."""

    code: int
    reason: str
    message: str
    details: dict[str, Any] | None = field(default=None)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def status(self) -> dict[str, Any]:
        """The JSON body: a ``metav1.Status`` with ``status: Failure``."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    """StatusDetails with Go's omitempty behaviour (empty group/name are dropped)."""
    out: dict[str, Any] = {}
    if name:
        out["name"] = name
    if group:
        out["group"] = group
    if kind:
        out["kind"] = kind
    out.update({k: v for k, v in extra.items() if v})
    return out


def qualified(plural: str, group: str) -> str:
    """``GroupResource.String()``: ``secrets`` or ``deployments.apps``."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(plural, group)} "{name}" not found',
        _details(name, group, plural),
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified(plural, group)} "{name}" already exists',
        _details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str = OPTIMISTIC_LOCK_MSG) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, errs: list[FieldError]) -> ApiError:
    """``NewInvalid``: ``Secret "x" is invalid: <err>`` or ``[<err>, <err>]`` for several."""
    agg = str(errs[0]) if len(errs) == 1 else "[" + ", ".join(str(e) for e in errs) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    return ApiError(
        422,
        "Invalid",
        f'{qualified_kind} "{name}" is invalid: {agg}',
        _details(name, group, kind, causes=[e.cause() for e in errs]),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        403,
        "Forbidden",
        f'{qualified(plural, group)} "{name}" is forbidden: {why}',
        _details(name, group, plural),
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def resource_not_found() -> ApiError:
    """What the apiserver answers for a URL naming no served resource."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        {},
    )


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def patch_rejected() -> ApiError:
    """A JSON patch that fails to apply (e.g. a failed ``test``): the generic 422 response."""
    return ApiError(
        422, "Invalid", "the server rejected our request due to an error in our request", {}
    )
