"""The apply journal: one appended line per step, replayed after a crash.

Apply persists every OSB step (id generated, request sent, operation string
received, succeeded, failed, orphan mitigation pending) as it happens.
Rewriting a 10,000-resource state file for each of those steps would make a
large apply quadratic, so a run instead appends one self-contained JSON line
per step and compacts once at the end (Terraform's lesson from
hashicorp/terraform#35113 and #20718: per-step persistence must not cost O(n)).

Format, one JSON object per line::

    {"op":"begin","lineage":"…","base_serial":7,"started_at":"…","lock_id":"…"}
    {"op":"record","resource":{…ResourceState…}}
    {"op":"forget","address":"ServiceBinding/ns/name"}

The header ties the journal to the state it extends: after a commit that
crashed before removing its journal, the state's serial has already moved past
``base_serial`` and the journal is recognised as compacted.  Records carry the
whole resource, so replay is idempotent and only the last record per address
counts.  A process killed mid-write leaves at most one torn final line, which
replay drops: its step was never acknowledged to the caller.

:class:`BaseJournal` holds everything but storage, so each backend only
supplies "append these bytes durably", "write this full state" and "drop the
journal".
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Literal

from pydantic import AwareDatetime, ValidationError

from catalogctl.errors import StateError
from catalogctl.state.models import (
    ResourceState,
    State,
    _Frozen,
    _summarise,
    utcnow,
    validate_address,
)


class JournalHeader(_Frozen):
    """First line of a journal: which state (lineage, serial) it extends."""

    op: Literal["begin"] = "begin"
    lineage: str
    base_serial: int
    started_at: AwareDatetime
    lock_id: str | None = None


@dataclass(frozen=True)
class Record:
    """A journal step that sets one resource to a new value."""

    resource: ResourceState


@dataclass(frozen=True)
class Forget:
    """A journal step that stops tracking one address."""

    address: str


Entry = Record | Forget


def encode_header(header: JournalHeader) -> bytes:
    """The header as one newline-terminated line."""
    return header.model_dump_json().encode("utf-8") + b"\n"


_RECORD_PREFIX = b'{"op":"record","resource":'


def encode_record(resource: ResourceState) -> bytes:
    """A record step as one newline-terminated line (serialising one resource only)."""
    return _RECORD_PREFIX + resource.model_dump_json().encode("utf-8") + b"}\n"


def encode_forget(address: str) -> bytes:
    """A forget step as one newline-terminated line."""
    return json.dumps({"op": "forget", "address": address}).encode("utf-8") + b"\n"


@dataclass(frozen=True)
class EncodedStep:
    """A step checked and turned into its journal line, ready to append."""

    line: bytes
    entry: Entry


def encode_step(step: ResourceState | str) -> EncodedStep:
    """Check one step and encode it; raises :class:`StateError` for an invalid one.

    A ResourceState is validated from exactly the bytes that will be replayed:
    ``model_copy`` and ``model_construct`` skip validation, so without this a
    resource built with them could slip a credential past the model's guard
    into the journal, or write a line that replay would then reject.  A str
    is an address to forget.
    """
    if isinstance(step, str):
        try:
            validate_address(step)
        except ValueError as exc:
            raise StateError(str(exc)) from None
        return EncodedStep(encode_forget(step), Forget(step))
    if not isinstance(step, ResourceState):
        raise TypeError(
            f"a journal step is a ResourceState or an address, not {type(step).__name__}"
        )
    line = encode_record(step)
    try:
        resource = ResourceState.model_validate_json(line[len(_RECORD_PREFIX) : -2])
    except ValidationError as exc:
        raise StateError(f"refusing to record an invalid resource: {_summarise(exc)}") from None
    return EncodedStep(line, Record(resource))


@dataclass
class ParsedJournal:
    """A decoded journal: header (None if even that was torn) and its steps."""

    header: JournalHeader | None
    entries: list[Entry] = field(default_factory=list)
    #: True if a torn final line was dropped.
    torn_tail: bool = False


def _decode_entry(raw: object) -> Entry:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    op = raw.get("op")
    if op == "record":
        if set(raw) != {"op", "resource"}:
            raise ValueError("record lines have exactly 'op' and 'resource'")
        return Record(ResourceState.model_validate(raw["resource"]))
    if op == "forget":
        address = raw.get("address")
        if set(raw) != {"op", "address"} or not isinstance(address, str):
            raise ValueError("forget lines have exactly 'op' and 'address' (a string)")
        return Forget(validate_address(address))
    raise ValueError(f"unknown op {op!r}")


def parse_journal(data: bytes, *, source: str) -> ParsedJournal:
    """Decode journal bytes, dropping a torn final line.

    Only the final line can be torn: every earlier line was written, fsync'd
    and acknowledged before the next began.  A bad line anywhere else means
    the file was damaged by something other than a crash, so it is an error
    (naming the line) rather than something to skip silently.
    """
    lines = data.split(b"\n")
    # A complete journal ends with "\n", leaving one empty string at the end.
    last_index = len(lines) - 1
    parsed = ParsedJournal(header=None)
    for index, line in enumerate(lines):
        if not line:
            if index == last_index:
                break
            raise StateError(f"{source}:{index + 1}: empty line in journal")
        try:
            raw = json.loads(line)
            if index == 0:
                parsed.header = JournalHeader.model_validate(raw)
            else:
                parsed.entries.append(_decode_entry(raw))
        except (ValueError, ValidationError) as exc:
            if index == last_index:
                parsed.torn_tail = True
                break
            detail = _summarise(exc) if isinstance(exc, ValidationError) else str(exc)
            raise StateError(f"{source}:{index + 1}: corrupt journal line: {detail}") from None
    return parsed


@dataclass(frozen=True)
class Replayed:
    """The result of applying a journal to the state it extends."""

    state: State
    #: True if the journal changed anything (and so ``state.serial`` was bumped).
    changed: bool
    #: True if a journal existed and belonged to this state (False: stale or empty).
    applied: bool


def replay(base: State | None, data: bytes | None, *, source: str) -> Replayed:
    """Apply a leftover journal to ``base`` (None: no state file exists yet).

    The result's serial is bumped if the journal changed anything: the steps
    it holds really happened, so a plan saved against ``base`` is stale.
    """
    empty = base if base is not None else State.new()
    if not data:
        return Replayed(empty, changed=False, applied=False)
    parsed = parse_journal(data, source=source)
    header = parsed.header
    if header is None:
        # Torn before the header was complete: the run never recorded a step.
        return Replayed(empty, changed=False, applied=False)
    if base is None:
        if header.base_serial != 0:
            raise StateError(
                f"{source}: journal extends state serial {header.base_serial} "
                "but the state file is missing; restore it (or its .backup) first"
            )
        base = State.new(lineage=header.lineage)
    elif header.lineage != base.lineage or header.base_serial > base.serial:
        raise StateError(
            f"{source}: journal extends lineage {header.lineage} serial {header.base_serial}, "
            f"but the state is lineage {base.lineage} serial {base.serial}; "
            "it belongs to another state — move it aside to continue"
        )
    elif header.base_serial < base.serial:
        # A commit wrote the compacted state and crashed before removing this.
        return Replayed(base, changed=False, applied=False)
    work = JournalWork(base)
    for entry in parsed.entries:
        work.apply(entry)
    if not work.changed():
        return Replayed(base, changed=False, applied=True)
    return Replayed(work.build(serial=base.serial + 1), changed=True, applied=True)


class JournalWork:
    """A base state plus steps on top, kept as a dict so each step is O(1)."""

    def __init__(self, base: State) -> None:
        self.base = base
        self.resources: dict[str, ResourceState] = dict(base.resources)
        self._touched: set[str] = set()

    def apply(self, entry: Entry) -> None:
        if isinstance(entry, Record):
            self.resources[entry.resource.address] = entry.resource
            self._touched.add(entry.resource.address)
        else:
            self.resources.pop(entry.address, None)
            self._touched.add(entry.address)

    def changed(self) -> bool:
        """Whether any touched address ends up different from the base (O(touched))."""
        before = self.base.resources
        return any(before.get(a) != self.resources.get(a) for a in self._touched)

    def build(self, *, serial: int) -> State:
        """The resulting State, written by the running catalogctl version."""
        return State(
            lineage=self.base.lineage,
            serial=serial,
            resources=self.resources,
        )


class BaseJournal(ABC):
    """An open apply transaction: O(1) durable steps, one compaction at the end.

    Thread-safe: apply's Kubernetes calls run in threads and may record from
    them.  Leaving without :meth:`commit` (an exception, ``close()``, a crash)
    keeps every recorded step; the next ``read()`` replays them, because each
    step describes something that already happened at a broker or cluster.
    """

    def __init__(self, base: State, *, lock_id: str | None) -> None:
        self._work = JournalWork(base)
        #: Serialises writers (append, then apply, in one order) and is held
        #: across the fsync.  Always taken before ``_mutex``.
        self._write_lock = threading.Lock()
        #: Guards the in-memory view only, never held across I/O: the event
        #: loop reads the view (``get``) while a worker thread waits for an
        #: fsync, and must not stall behind the disk.
        self._mutex = threading.Lock()
        self._open = True
        self._broken: str | None = None
        self.header = JournalHeader(
            lineage=base.lineage,
            base_serial=base.serial,
            started_at=utcnow(),
            lock_id=lock_id,
        )

    # -- storage hooks -------------------------------------------------------

    @abstractmethod
    def _append(self, line: bytes) -> None:
        """Durably append one line; return only once it survives a crash."""

    @abstractmethod
    def _write_state(self, state: State) -> None:
        """Atomically store ``state`` as the new full state (keeping a backup),
        then remove the journal."""

    @abstractmethod
    def _drop(self) -> None:
        """Remove the journal without writing state (nothing changed)."""

    @abstractmethod
    def _release(self) -> None:
        """Release handles; leave the journal in place for replay."""

    # -- public API ----------------------------------------------------------

    @property
    def base(self) -> State:
        """The state this journal extends."""
        return self._work.base

    def record(self, resource: ResourceState) -> None:
        """Persist ``resource`` as the current value of its address (O(1)).

        Returns only after the step is durable.  Recording a value identical
        to the current one writes nothing.
        """
        if not isinstance(resource, ResourceState):
            raise TypeError(f"record() takes a ResourceState, not {type(resource).__name__}")
        step = encode_step(resource)
        assert isinstance(step.entry, Record)
        with self._write_lock:
            with self._mutex:
                self._check_writable()
                if self._work.resources.get(resource.address) == step.entry.resource:
                    return
            self._write_and_apply(step.line, [step])

    def forget(self, address: str) -> None:
        """Persist that ``address`` is no longer tracked (O(1))."""
        step = encode_step(address)
        with self._write_lock:
            with self._mutex:
                self._check_writable()
                if address not in self._work.resources:
                    return
            self._write_and_apply(step.line, [step])

    def record_batch(self, steps: Sequence[ResourceState | str]) -> None:
        """Persist several steps with one append and one fsync (group commit).

        A step is a ResourceState to record or an address (str) to forget,
        applied in order.  Returns only once all of them are durable, so
        callers that each wait for their own step keep write-ahead order while
        a thousand concurrent steps cost a handful of fsyncs, not a thousand.
        """
        self.record_encoded([encode_step(step) for step in steps])

    def record_encoded(self, steps: Sequence[EncodedStep]) -> None:
        """Append steps already checked by :func:`encode_step`: one write, one fsync.

        The split lets an asyncio caller encode on its own thread and hand
        only the write to a worker: encoding is CPU under the GIL, and done
        on a worker it would stall the event loop in millisecond slices.
        """
        if not steps:
            return
        with self._write_lock:
            with self._mutex:
                self._check_writable()
            self._write_and_apply(b"".join(step.line for step in steps), steps)

    def get(self, address: str) -> ResourceState | None:
        """The value of ``address`` including this run's steps so far."""
        with self._mutex:
            return self._work.resources.get(address)

    def snapshot(self) -> State:
        """Base plus steps so far, as a State (O(n); serial not bumped yet)."""
        with self._mutex:
            return self._work.base.model_copy(update={"resources": dict(self._work.resources)})

    @property
    def changed(self) -> bool:
        """Whether committing now would change the state."""
        with self._mutex:
            return self._work.changed()

    def commit(self, *, serial_bump: bool = True) -> State:
        """Compact: write the full state once, keep a backup, remove the journal.

        The serial goes up by one if the run changed anything and
        ``serial_bump`` is true; a run that changed nothing leaves the state
        file untouched and the serial where it was, so saved plans stay valid.
        Pass ``serial_bump=False`` only for bookkeeping that must not
        invalidate saved plans; the change is still written.
        """
        with self._write_lock, self._mutex:
            if not self._open:
                raise StateError("journal is already closed or committed")
            base = self._work.base
            if self._work.changed():
                serial = base.serial + 1 if serial_bump else base.serial
                result = self._work.build(serial=serial)
                self._write_state(result)
            else:
                result = base
                self._drop()
            self._open = False
            self._release()
            return result

    def close(self) -> None:
        """Stop writing without compacting; the next read replays the steps."""
        with self._write_lock, self._mutex:
            if self._open:
                self._open = False
                self._release()

    @property
    def closed(self) -> bool:
        return not self._open

    def __enter__(self) -> BaseJournal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- internals -----------------------------------------------------------

    def _check_writable(self) -> None:
        if not self._open:
            raise StateError("journal is already closed or committed")
        if self._broken is not None:
            raise StateError(
                f"journal stopped accepting steps after a write failed ({self._broken}); "
                "commit or close it"
            )

    def _write_and_apply(self, line: bytes, steps: Sequence[EncodedStep]) -> None:
        """Append ``line`` durably, then make ``steps`` visible to readers.

        The caller holds ``_write_lock`` (so steps are applied in the order
        they were written) but not ``_mutex``: readers see a step only once it
        is durable, and are not held up by the write.
        """
        self._append_checked(line)
        with self._mutex:
            for step in steps:
                self._work.apply(step.entry)

    def _append_checked(self, line: bytes) -> None:
        try:
            self._append(line)
        except OSError as exc:
            # The file may now end in a partial line; appending after it would
            # turn a torn tail into mid-file corruption.
            self._broken = str(exc)
            raise StateError(f"could not persist a journal step: {exc}") from exc
