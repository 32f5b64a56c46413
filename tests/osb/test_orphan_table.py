"""The spec's orphan-mitigation table, row by row (rules §3; pure, no network)."""

from __future__ import annotations

import pytest

from catalogctl.providers.osb.outcomes import (
    Accepted,
    AsyncRequired,
    BadRequest,
    ConcurrencyError,
    Conflict,
    Done,
    Failed,
    Gone,
    MaintenanceInfoConflict,
    Malformed,
    NotFound,
    Outcome,
    PollResult,
    RequestKind,
    RequiresApp,
    TimedOut,
    Unreachable,
    needs_orphan_mitigation,
)

K = RequestKind

FAILED_STATE = PollResult(state="failed", description="boom")
TIMED_OUT_POLL = PollResult(state="failed", reason="timed out")

# (request kind, outcome, OM?) — one entry per row of the spec's table.
OM_TABLE: list[tuple[RequestKind, Outcome, bool]] = [
    # All: 200 / 201 / 202 success → no
    *[(k, Done(body={}, status=200), False) for k in K],
    *[(k, Done(body={}, status=201), False) for k in K],
    *[(k, Accepted(operation="op"), False) for k in K],
    # All: 200 with malformed body → no
    *[(k, Malformed(status=200, reason="x"), False) for k in K],
    # Instance last_operation failed for provision/deprovision → yes (instance)
    (K.PROVISION, FAILED_STATE, True),
    (K.DEPROVISION, FAILED_STATE, True),
    # Binding last_operation failed for bind/unbind → yes (binding)
    (K.BIND, FAILED_STATE, True),
    (K.UNBIND, FAILED_STATE, True),
    # Polling deadline: "MUST be considered failed" → same as failed
    (K.PROVISION, TIMED_OUT_POLL, True),
    (K.BIND, TIMED_OUT_POLL, True),
    # Update failed state → no
    (K.UPDATE, FAILED_STATE, False),
    (K.UPDATE, TIMED_OUT_POLL, False),
    # Provision / bind malformed 201 or 202 → yes
    (K.PROVISION, Malformed(status=201, reason="x"), True),
    (K.PROVISION, Malformed(status=202, reason="x"), True),
    (K.BIND, Malformed(status=201, reason="x"), True),
    (K.BIND, Malformed(status=202, reason="x"), True),
    (K.DEPROVISION, Malformed(status=202, reason="x"), False),
    # Provision / deprovision / bind / unbind: other 2xx or 5xx → yes
    *[(k, Failed(status=s), True) for k in (K.PROVISION, K.DEPROVISION, K.BIND, K.UNBIND)
      for s in (204, 206, 500, 502, 503, 504)],
    # Update: other 2xx, 5xx, timeout → no
    *[(K.UPDATE, o, False) for o in (Failed(status=204), Failed(status=500), TimedOut())],
    # All: 408 and any other 4xx → no
    *[(k, Failed(status=s), False) for k in K for s in (401, 403, 404, 408, 410, 412, 422, 429)],
    *[(k, o, False) for k in K for o in (
        BadRequest(), Conflict(), Gone(), NotFound(), ConcurrencyError(), AsyncRequired(),
        MaintenanceInfoConflict(), RequiresApp(),
    )],
    # Timeouts: provision / bind → yes; deprovision / unbind → no
    (K.PROVISION, TimedOut(), True),
    (K.BIND, TimedOut(), True),
    (K.DEPROVISION, TimedOut(), False),
    (K.UNBIND, TimedOut(), False),
    # A connection dropped after sending is a timeout; one never made is not.
    (K.PROVISION, Unreachable(reason="reset", request_sent=True), True),
    (K.BIND, Unreachable(reason="reset", request_sent=True), True),
    (K.PROVISION, Unreachable(reason="refused", request_sent=False), False),
    (K.DEPROVISION, Unreachable(reason="reset", request_sent=True), False),
    # Reads never trigger OM.
    *[(k, o, False) for k in (K.CATALOG, K.GET_INSTANCE, K.GET_BINDING,
      K.INSTANCE_LAST_OPERATION, K.BINDING_LAST_OPERATION)
      for o in (Failed(status=500), TimedOut(), Malformed(status=201, reason="x"))],
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "outcome", "expected"),
    OM_TABLE,
    ids=[f"{k.value}-{o!r}-{e}" for k, o, e in OM_TABLE],
)
def test_orphan_mitigation_table_matches_the_spec(
    kind: RequestKind, outcome: Outcome, expected: bool
) -> None:
    assert needs_orphan_mitigation(kind, outcome) is expected
