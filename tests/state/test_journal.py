"""Journal format and replay rules, without any storage."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from catalogctl.errors import StateError
from catalogctl.state import State
from catalogctl.state.journal import (
    Forget,
    JournalHeader,
    Record,
    encode_forget,
    encode_header,
    encode_record,
    parse_journal,
    replay,
)
from tests.state.conformance import instance


def header(state: State) -> bytes:
    return encode_header(
        JournalHeader(
            lineage=state.lineage,
            base_serial=state.serial,
            started_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )


def test_lines_round_trip() -> None:
    base = State.new()
    data = header(base) + encode_record(instance("a")) + encode_forget("ServiceInstance/ns/a")
    parsed = parse_journal(data, source="j")
    assert parsed.header is not None and parsed.header.lineage == base.lineage
    assert parsed.entries == [Record(instance("a")), Forget("ServiceInstance/ns/a")]
    assert not parsed.torn_tail


@pytest.mark.parametrize("cut", [1, 10, 40, -2])
def test_torn_final_line_is_dropped(cut: int) -> None:
    base = State.new()
    good = header(base) + encode_record(instance("a"))
    data = good + encode_record(instance("b"))[:cut]
    parsed = parse_journal(data, source="j")
    assert parsed.torn_tail
    assert parsed.entries == [Record(instance("a"))]


def test_complete_final_line_without_newline_is_kept() -> None:
    data = header(State.new()) + encode_record(instance("a"))[:-1]
    assert parse_journal(data, source="j").entries == [Record(instance("a"))]


def test_torn_header_means_no_steps() -> None:
    base = State.new().with_resource(instance("a"))
    result = replay(base, header(base)[:20], source="j")
    assert result.state == base
    assert not result.changed


def test_bad_line_before_the_end_is_corruption() -> None:
    base = State.new()
    data = header(base) + b'{"op":"teleport"}\n' + encode_record(instance("a"))
    with pytest.raises(StateError, match="j:2: corrupt journal line: unknown op 'teleport'"):
        parse_journal(data, source="j")
    with pytest.raises(StateError, match="j:2: empty line"):
        parse_journal(header(base) + b"\n" + encode_record(instance("a")), source="j")


def test_replay_bumps_serial_only_on_change() -> None:
    base = State.new().with_resource(instance("a")).with_serial(4)
    same = replay(base, header(base) + encode_record(instance("a")), source="j")
    assert same.state == base and not same.changed and same.applied
    changed = replay(base, header(base) + encode_record(instance("b")), source="j")
    assert changed.changed
    assert changed.state.serial == 5
    assert set(changed.state.resources) == {"ServiceInstance/ns/a", "ServiceInstance/ns/b"}


def test_last_record_for_an_address_wins() -> None:
    base = State.new()
    data = (
        header(base)
        + encode_record(instance("a", plan_id="one"))
        + encode_forget("ServiceInstance/ns/a")
        + encode_record(instance("a", plan_id="two"))
    )
    result = replay(base, data, source="j").state
    assert result.resources["ServiceInstance/ns/a"].plan_id == "two"


def test_compacted_journal_is_ignored() -> None:
    old = State.new().with_serial(2)
    data = header(old) + encode_record(instance("b"))
    newer = old.with_resource(instance("b")).with_serial(3)
    result = replay(newer, data, source="j")
    assert result.state == newer and not result.applied


def test_journal_of_another_state_is_refused() -> None:
    data = header(State.new()) + encode_record(instance("b"))
    with pytest.raises(StateError, match="belongs to another state"):
        replay(State.new(), data, source="j")
    ahead = State.new().with_serial(7)
    with pytest.raises(StateError, match="belongs to another state"):
        replay(ahead.with_serial(3), header(ahead), source="j")
