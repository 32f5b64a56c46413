"""What a broker said, as values: the client never raises for an HTTP answer.

Every OSB call ends in exactly one outcome.  The engine matches on the type
(``match outcome: case Accepted(operation=op): ...``) instead of catching a
zoo of exceptions, and persists the outcome next to the resource, which keeps
crash recovery honest: "we got a 500, orphan mitigation pending" is state, not
a stack trace.

Classification is by status code first and by the body's ``error`` field
second, because brokers send non-standard ``error`` strings and bodies such as
``{"Error": "..."}``, plain text or nothing at all.  :func:`classify` is pure
(status, raw bytes, headers in; outcome out) so the whole response table is
testable without a network, and :func:`needs_orphan_mitigation` encodes the
spec's orphan-mitigation table in one place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

MAX_OPERATION_LENGTH: Final = 10_000
"""The spec: ``operation`` "MUST NOT contain more than 10,000 characters"."""

MAX_DESCRIPTION_LENGTH: Final = 512
"""Broker descriptions are shown to people; long HTML error pages are cut."""

MAX_JSON_DEPTH: Final = 128
"""Arrays and objects nested deeper than this make an answer unusable.

Python's parser recurses once per level and would raise ``RecursionError``
near 1,000; real catalogs (schemas included) nest a few dozen levels.
"""


class RequestKind(StrEnum):
    """Which OSB endpoint a request went to; selects the response table."""

    CATALOG = "catalog"
    PROVISION = "provision"
    UPDATE = "update"
    DEPROVISION = "deprovision"
    GET_INSTANCE = "get_instance"
    INSTANCE_LAST_OPERATION = "instance_last_operation"
    BIND = "bind"
    UNBIND = "unbind"
    GET_BINDING = "get_binding"
    BINDING_LAST_OPERATION = "binding_last_operation"


@dataclass(frozen=True, kw_only=True)
class _Outcome:
    """Fields every outcome carries.

    ``request_id`` correlates with broker logs; ``retry_after`` is the raw
    ``Retry-After`` header (the poller honours it on last_operation answers
    and on the 202 that started an operation).
    """

    request_id: str = field(default="", compare=False)
    retry_after: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Done(_Outcome):
    """A synchronous success (200/201; 200 on a last_operation poll) with its JSON body."""

    body: dict[str, Any]
    status: int = 200


@dataclass(frozen=True)
class Accepted(_Outcome):
    """202: the broker works asynchronously; poll with ``operation`` (may be ``None``)."""

    operation: str | None
    dashboard_url: str | None = None
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Conflict(_Outcome):
    """409: the id exists with different attributes.  Never delete it (no OM)."""

    description: str = ""


@dataclass(frozen=True)
class Gone(_Outcome):
    """410: the resource does not exist; a success for DELETE and delete polls."""

    description: str = ""


@dataclass(frozen=True)
class NotFound(_Outcome):
    """404 on a GET or poll: absent *or still being created*; not proof of deletion."""

    description: str = ""


@dataclass(frozen=True)
class ConcurrencyError(_Outcome):
    """422 ConcurrencyError: another operation is in flight.  Back off and retry; no OM."""

    description: str = ""


@dataclass(frozen=True)
class AsyncRequired(_Outcome):
    """422 AsyncRequired: the broker wants ``accepts_incomplete=true``."""

    description: str = ""


@dataclass(frozen=True)
class MaintenanceInfoConflict(_Outcome):
    """422 MaintenanceInfoConflict: our catalog is stale; refetch it and re-plan."""

    description: str = ""


@dataclass(frozen=True)
class RequiresApp(_Outcome):
    """422 RequiresApp: the bind needs ``bind_resource.app_guid``."""

    description: str = ""


@dataclass(frozen=True)
class BadRequest(_Outcome):
    """400: the broker rejected the request as malformed; nothing changed."""

    description: str = ""
    error: str | None = None


@dataclass(frozen=True)
class Failed(_Outcome):
    """Any other failure status, with the broker's error fields (defaults per spec).

    401 (authentication) and 412 (API version rejected) land here with the
    broker's ``description``; :attr:`is_broker_level` tells the engine that
    retrying other resources on the same broker is pointless.
    """

    status: int
    error: str | None = None
    description: str = ""
    instance_usable: bool = True
    update_repeatable: bool = True

    @property
    def is_broker_level(self) -> bool:
        return self.status in (401, 403, 412)


@dataclass(frozen=True)
class Malformed(_Outcome):
    """A 2xx whose body we cannot use (not JSON, not an object, bad field types)."""

    status: int
    reason: str


@dataclass(frozen=True)
class TimedOut(_Outcome):
    """No (complete) response within the timeout; the broker may have acted."""

    detail: str = ""


@dataclass(frozen=True)
class Unreachable(_Outcome):
    """No HTTP answer: refused, reset, TLS failure or dropped connection.

    ``request_sent`` is False when the request provably never reached the
    broker (connect failed), True when the connection died after sending, which
    leaves the same uncertainty as a timeout.  ``lasting`` marks failures that
    trying again cannot fix (a certificate that does not verify, an invalid
    URL): they are not retried.
    """

    reason: str
    request_sent: bool = False
    lasting: bool = False


PollState = Literal["succeeded", "failed", "gone"]


@dataclass(frozen=True)
class PollResult(_Outcome):
    """The end of polling an async operation.

    ``gone`` is a 410 during a delete (a success).  ``failed`` covers
    ``state: failed`` and reaching the polling deadline (``reason="timed out"``),
    which the spec says "MUST be considered failed".
    """

    state: PollState
    description: str = ""
    instance_usable: bool = True
    update_repeatable: bool = True
    reason: str = ""
    polls: int = 0

    @property
    def succeeded(self) -> bool:
        return self.state in ("succeeded", "gone")


Outcome = (
    Done
    | Accepted
    | Conflict
    | Gone
    | NotFound
    | ConcurrencyError
    | AsyncRequired
    | MaintenanceInfoConflict
    | RequiresApp
    | BadRequest
    | Failed
    | Malformed
    | TimedOut
    | Unreachable
    | PollResult
)


# --------------------------------------------------------------------------- parsing


class _Invalid:
    """Sentinel for a body that is not JSON."""


class _TooDeep(_Invalid):
    """Sentinel for JSON nested deeper than :data:`MAX_JSON_DEPTH`."""


_INVALID: Final = _Invalid()
_TOO_DEEP: Final = _TooDeep()
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_STRING_OR_BRACKET = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether ``raw`` nests arrays/objects deeper than ``limit`` (malformed input allowed)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # the common case: too few brackets to be that deep
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(raw):
        token = match.group()
        if token in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif token in (b"]", b"}"):
            depth -= 1
    return False


def _json_int(text: str) -> int | float:
    """A JSON integer as Go's ``interface{}`` decoding keeps it: ``-0`` stays negative zero.

    Service Catalog decoded credentials into float64, so a broker's ``-0`` was
    written to the Secret as ``-0``; Python's ``int("-0")`` would lose the sign.
    """
    return -0.0 if text == "-0" else int(text)


def _parse_json(raw: bytes) -> Any:
    if not raw.strip():
        return _INVALID
    if json_too_deep(raw):
        return _TOO_DEEP
    try:
        return json.loads(raw, parse_int=_json_int)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _INVALID


def clean_description(text: str) -> str:
    """Strip control characters and cut to :data:`MAX_DESCRIPTION_LENGTH`."""
    text = _CONTROL.sub("", text).strip()
    if len(text) > MAX_DESCRIPTION_LENGTH:
        text = text[: MAX_DESCRIPTION_LENGTH - 1] + "…"
    return text


@dataclass(frozen=True)
class ErrorInfo:
    """The optional error fields of a 4xx/5xx body, with the spec's defaults."""

    error: str | None
    description: str
    instance_usable: bool = True
    update_repeatable: bool = True


def parse_error_body(raw: bytes) -> ErrorInfo:
    """Read ``error``/``description`` leniently from whatever the broker sent."""
    data = _parse_json(raw)
    if isinstance(data, dict):
        error = data.get("error")
        desc: Any = data.get("description")
        if not isinstance(desc, str):
            # Non-standard spellings seen in real brokers.
            for key in ("Description", "message", "Message", "Error"):
                if isinstance(data.get(key), str):
                    desc = data[key]
                    break
            else:
                desc = ""
        iu = data.get("instance_usable")
        ur = data.get("update_repeatable")
        return ErrorInfo(
            error=error if isinstance(error, str) and error else None,
            description=clean_description(desc),
            instance_usable=iu if isinstance(iu, bool) else True,
            update_repeatable=ur if isinstance(ur, bool) else True,
        )
    if isinstance(data, str):
        return ErrorInfo(error=None, description=clean_description(data))
    if data is _TOO_DEEP:
        return ErrorInfo(error=None, description=f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if data is _INVALID:
        return ErrorInfo(error=None, description=clean_description(raw.decode("utf-8", "replace")))
    return ErrorInfo(error=None, description="")


# --------------------------------------------------------------------------- classification

_LAST_OPERATION_STATES: Final = frozenset({"in progress", "succeeded", "failed"})
_GONE_KINDS: Final = frozenset(
    {
        RequestKind.DEPROVISION,
        RequestKind.UNBIND,
        RequestKind.INSTANCE_LAST_OPERATION,
        RequestKind.BINDING_LAST_OPERATION,
    }
)
_NOT_FOUND_KINDS: Final = frozenset(
    {
        RequestKind.GET_INSTANCE,
        RequestKind.GET_BINDING,
        RequestKind.INSTANCE_LAST_OPERATION,
        RequestKind.BINDING_LAST_OPERATION,
    }
)
_ACCEPTS_202: Final = frozenset(
    {
        RequestKind.PROVISION,
        RequestKind.UPDATE,
        RequestKind.DEPROVISION,
        RequestKind.BIND,
        RequestKind.UNBIND,
    }
)
_ACCEPTS_201: Final = frozenset({RequestKind.PROVISION, RequestKind.BIND})


def classify(kind: RequestKind, status: int, raw: bytes, headers: Mapping[str, str]) -> Outcome:
    """Turn one HTTP response into an outcome (pure; ``headers`` keys lower-case)."""
    if 200 <= status < 300:
        outcome = _classify_success(kind, status, raw)
    else:
        outcome = _classify_failure(kind, status, raw)
    object.__setattr__(outcome, "retry_after", headers.get("retry-after"))
    return outcome


def _classify_failure(kind: RequestKind, status: int, raw: bytes) -> Outcome:
    info = parse_error_body(raw)
    if status == 400:
        return BadRequest(description=info.description, error=info.error)
    if status == 404 and kind in _NOT_FOUND_KINDS:
        return NotFound(description=info.description)
    if status == 409:
        return Conflict(description=info.description)
    if status == 410 and kind in _GONE_KINDS:
        return Gone(description=info.description)
    if status == 422:
        match info.error:
            case "ConcurrencyError":
                return ConcurrencyError(description=info.description)
            case "AsyncRequired":
                return AsyncRequired(description=info.description)
            case "MaintenanceInfoConflict":
                return MaintenanceInfoConflict(description=info.description)
            case "RequiresApp":
                return RequiresApp(description=info.description)
    return Failed(
        status=status,
        error=info.error,
        description=info.description,
        instance_usable=info.instance_usable,
        update_repeatable=info.update_repeatable,
    )


def _classify_success(kind: RequestKind, status: int, raw: bytes) -> Outcome:
    expected = {200} | ({201} if kind in _ACCEPTS_201 else set())
    if status == 202 and kind in _ACCEPTS_202:
        return _accepted(raw)
    if status not in expected:
        # "Other 2xx" is a failure per spec (and an OM trigger for provision/bind).
        info = parse_error_body(raw)
        return Failed(status=status, error=info.error, description=info.description)
    data = _parse_json(raw)
    if data is _INVALID and kind in (RequestKind.DEPROVISION, RequestKind.UNBIND):
        # DELETE answers carry no information; an empty 200 is not worth a failure.
        data = {} if not raw.strip() else data
    if data is _TOO_DEEP:
        return Malformed(status=status, reason=f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        return Malformed(status=status, reason="response body is not a JSON object")
    polling = kind in (RequestKind.INSTANCE_LAST_OPERATION, RequestKind.BINDING_LAST_OPERATION)
    if polling and data.get("state") not in _LAST_OPERATION_STATES:
        return Malformed(status=status, reason="last_operation state is missing or unknown")
    if kind in (RequestKind.BIND, RequestKind.GET_BINDING):
        creds = data.get("credentials")
        if creds is not None and not isinstance(creds, dict):
            return Malformed(status=status, reason="credentials is not a JSON object")
    return Done(body=data, status=status)


def _accepted(raw: bytes) -> Outcome:
    data = _parse_json(raw)
    if data is _TOO_DEEP:
        return Malformed(status=202, reason=f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if not isinstance(data, dict):
        return Malformed(status=202, reason="response body is not a JSON object")
    op = data.get("operation")
    if op is not None and not isinstance(op, str):
        return Malformed(status=202, reason="operation is not a string")
    if op is not None and len(op) > MAX_OPERATION_LENGTH:
        return Malformed(status=202, reason="operation is longer than 10,000 characters")
    dash = data.get("dashboard_url")
    return Accepted(
        operation=op,
        dashboard_url=dash if isinstance(dash, str) else None,
        body=data,
    )


# --------------------------------------------------------------------------- orphan mitigation

_OM_REQUESTS: Final = frozenset(
    {RequestKind.PROVISION, RequestKind.DEPROVISION, RequestKind.BIND, RequestKind.UNBIND}
)
_CREATES: Final = frozenset({RequestKind.PROVISION, RequestKind.BIND})


def needs_orphan_mitigation(request_kind: RequestKind, outcome: Outcome) -> bool:
    """The spec's orphan-mitigation table, row by row.

    ``request_kind`` is the *original* mutating request; for a
    :class:`PollResult` pass the kind of request that started the operation.
    OM means "DELETE the instance" for provision/deprovision and "unbind" for
    bind/unbind (for the deletes it is simply a re-issued DELETE).

    * success (200/201/202) and malformed 200: no;
    * ``state: failed`` or a polling deadline for provision/deprovision/bind/unbind: yes;
    * malformed 201/202 for provision/bind: yes;
    * other 2xx or 5xx for provision/deprovision/bind/unbind: yes;
    * update: never (other 2xx, 5xx, timeout — the spec says no);
    * 408 and every other 4xx (Conflict, ConcurrencyError, ...): never;
    * timeout for provision/bind: yes; for deprovision/unbind: no.
      A connection dropped after the request was sent is the same uncertainty
      as a timeout and is treated like one.
    3xx is not in the table and gets no OM.
    """
    if request_kind not in _OM_REQUESTS:
        return False
    match outcome:
        case Failed(status=status):
            return 500 <= status < 600 or 200 <= status < 300
        case Malformed(status=status):
            return request_kind in _CREATES and status in (201, 202)
        case TimedOut():
            return request_kind in _CREATES
        case Unreachable(request_sent=sent):
            return sent and request_kind in _CREATES
        case PollResult(state="failed"):
            return True
        case _:
            return False


def describe(outcome: Outcome) -> str:
    """A one-line, secret-free message for people (broker descriptions included)."""
    rid = f" (request id {outcome.request_id})" if outcome.request_id else ""
    match outcome:
        case Done(status=s):
            text = f"succeeded ({s})"
        case Accepted(operation=op):
            text = f"accepted, operation {op!r}" if op is not None else "accepted"
        case Failed(status=s, error=e, description=d):
            hint = {
                401: "authentication failed",
                403: "forbidden",
                412: "broker rejected the X-Broker-API-Version",
            }.get(s, "")
            parts = [f"broker answered {s}", hint, e or "", d]
            text = ": ".join(p for p in parts if p)
        case Malformed(status=s, reason=r):
            text = f"unusable {s} response: {r}"
        case TimedOut(detail=d):
            text = "request timed out" + (f": {d}" if d else "")
        case Unreachable(reason=r):
            text = f"broker unreachable: {r}"
        case PollResult(state=st, description=d, reason=r):
            text = ": ".join(p for p in (f"operation {st}", r, d) if p)
        case _:
            name = type(outcome).__name__
            d = getattr(outcome, "description", "")
            text = f"{name}: {d}" if d else name
    return text + rid
