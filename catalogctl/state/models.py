"""The state value: what catalogctl last did to each resource, and nothing secret.

State is what lets a later run know which broker ids it generated and what is
still in flight, so a crash never leaves an orphan or a duplicate.  It is also
the file users most often commit, paste into tickets and back up, which is why
the model is shaped so that a credential has nowhere to go:

* :class:`ResourceState` has no field that can hold a binding's credentials or
  a Secret's data; ``extra="forbid"`` rejects one added by mistake, and
  ``attributes`` (the only free-form field besides ``parameters``) refuses the
  keys under which credentials travel (OSB ``credentials``, Secret ``data``,
  ``stringData``, ``binaryData``).
* Parameters whose values came from Secrets (``parametersFrom``) are stored as
  key names only; the checksum over all parameters detects a change without
  storing the value.

Values are frozen pydantic models, so a :class:`State` read from a backend can
be handed to the pure diff without anyone mutating it behind the engine's back.
Every change goes through :meth:`State.with_resource` / :meth:`State.without_resource`
or through a backend journal.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_validator,
)

import catalogctl
from catalogctl.errors import StateError
from catalogctl.model.address import Address

#: The on-disk format version this code reads and writes.
STATE_FORMAT_VERSION: Final = 1

#: Keys that carry credential values in OSB responses and Kubernetes Secrets.
#: None of them may appear anywhere inside ``ResourceState.attributes``.
FORBIDDEN_ATTRIBUTE_KEYS = frozenset({"credentials", "data", "stringData", "binaryData"})

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC (state never holds naive times)."""
    return datetime.now(UTC)


def checksum(value: object) -> str:
    """SHA-256 hex digest of ``value`` in canonical JSON (sorted keys, no spaces).

    Used for ``parameters_checksum`` and ``credentials_hash`` so that a later
    run can tell whether something changed without the state holding it.
    Canonical form makes the digest independent of key order in the user's
    YAML or the broker's response.  A digest of a short, guessable secret can
    be brute-forced, so this hides values from casual readers of a state file,
    not from an attacker who also guesses well.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@functools.lru_cache(maxsize=1 << 16)
def validate_address(address: str) -> str:
    """Check ``Kind/namespace/name`` (``Kind/name`` for cluster-scoped kinds).

    State keys must be in full canonical form: a default namespace is a loader
    convenience, and two spellings of one resource would make two entries.
    Raises ``ValueError`` with a message naming the address.  Cached: every
    state write checks the address and each dependency (16 checks per
    instance-binding-Secret chain in an apply), always the same few strings.
    """
    Address.parse(address, default_namespace=None)
    return address


def _find_forbidden_key(value: Any, path: str) -> str | None:
    """The path of the first forbidden key inside ``value``, if any.

    Runs for every state write, so the search builds no path strings until it
    finds something.
    """
    trail = _forbidden_trail(value)
    if trail is None:
        return None
    for part in reversed(trail):
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
    return path


#: Types that cannot hold a key: the searches below skip them without an ABC check.
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


def _forbidden_trail(value: Any) -> list[str | int] | None:
    """Keys/indexes leading to a forbidden key, innermost first.

    Every state write runs this over the resource's attributes, so scalars
    are skipped by exact type and a mapping's own keys are checked with one
    set operation before its values are searched.
    """
    pairs: Iterable[tuple[str | int, Any]]
    if type(value) is dict or (type(value) not in _SCALAR_TYPES and isinstance(value, Mapping)):
        if not FORBIDDEN_ATTRIBUTE_KEYS.isdisjoint(value):
            for key in value:
                if key in FORBIDDEN_ATTRIBUTE_KEYS:
                    return [key]
        pairs = value.items()
    elif isinstance(value, list | tuple):
        pairs = enumerate(value)
    else:
        return None
    for key, item in pairs:
        if type(item) in _SCALAR_TYPES:
            continue
        trail = _forbidden_trail(item)
        if trail is not None:
            trail.append(key)
            return trail
    return None


def _stored_sorted(info: ValidationInfo) -> bool:
    """True when validating a state file this module wrote: its objects are already sorted.

    Such a file is sorted already, since every write path sorts, so a read
    does not sort it again.
    """
    return isinstance(info.context, dict) and bool(info.context.get("stored"))


def _sort_keys(value: dict[str, JsonValue]) -> dict[str, JsonValue]:
    """The same object with keys sorted at every level.

    Free-form objects are kept in canonical order from validation on, so the
    fast serialiser (field order for models, stored order for dicts) yields the
    same bytes for the same content whatever order the YAML or broker used.
    Runs on every state write: scalars are passed through without a call.
    """
    out: dict[str, JsonValue] = {}
    for key in sorted(value):
        item = value[key]
        if type(item) is dict or type(item) is list:
            item = _sorted_container(item)
        out[key] = item
    return out


def _sorted_container(item: dict[str, JsonValue] | list[JsonValue]) -> JsonValue:
    if type(item) is dict:
        return _sort_keys(item)
    return [_sorted_container(x) if type(x) is dict or type(x) is list else x for x in item]


class ResourceStatus(StrEnum):
    """Where a resource stands, as far as catalogctl knows.

    ``creating`` is written *before* the broker request (write-ahead), so that a
    crash after the PUT still leaves the generated id behind for the next run to
    poll, re-send or clean up.  ``tainted`` means a create failed and something
    may exist at the broker; the next plan replaces it.
    """

    CREATING = "creating"
    READY = "ready"
    TAINTED = "tainted"
    UPDATING = "updating"
    DELETING = "deleting"


class OperationKind(StrEnum):
    """The broker operation an :class:`InFlightOperation` stands for."""

    PROVISION = "provision"
    UPDATE = "update"
    DEPROVISION = "deprovision"
    BIND = "bind"
    UNBIND = "unbind"
    ORPHAN_MITIGATION = "orphan_mitigation"


class _Frozen(BaseModel):
    # hide_input_in_errors: a rejected value may be exactly the secret we refuse
    # to store, and validation errors end up in logs and terminal output.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class InFlightOperation(_Frozen):
    """A broker operation that was started and has not been seen to finish.

    ``request_sent`` is False while only the intent is recorded; the next run
    then knows the broker may never have heard of the id, and that re-sending
    the idempotent request is safe.  ``operation`` is the broker's opaque
    operation string for ``last_operation`` polling, if it returned one.
    """

    kind: OperationKind
    operation: str | None = None
    started_at: AwareDatetime = Field(default_factory=utcnow)
    request_sent: bool = False
    #: For updates: the plan before the update, to tell a plan change apart
    #: from a parameters-only update when resuming.
    plan_id_before: str | None = None

    @field_validator("started_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class RetiringBinding(_Frozen):
    """A binding replaced by a rotation, still bound at the broker until it is unbound.

    A create-before-destroy rotation records it (with the new binding's id)
    before the new bind is sent, and drops it only once the broker confirmed
    the unbind: a run stopped anywhere in between leaves it here, and the next
    apply unbinds it.  ``operation`` is the unbind in flight, if one was sent.
    """

    binding_id: str
    instance_id: str
    service_id: str | None = None
    plan_id: str | None = None
    operation: InFlightOperation | None = None
    #: when the rotation replaced it (None in state written before this was recorded)
    since: AwareDatetime | None = None


def retiring_text(retiring: Iterable[RetiringBinding]) -> str:
    """``binding ID`` or ``bindings ID1, ID2``: the retiring bindings, for messages."""
    ids = [r.binding_id for r in retiring]
    return ("binding " if len(ids) == 1 else "bindings ") + ", ".join(ids)


class ResourceState(_Frozen):
    """The last known state of one managed resource.

    Holds ids, checksums and key *names*, never credential or Secret values
    (see the module docstring for how that is enforced).
    """

    address: str
    kind: str
    status: ResourceStatus = ResourceStatus.READY
    #: Address of the broker this instance/binding belongs to, if any.
    broker: str | None = None
    service_id: str | None = None
    plan_id: str | None = None
    instance_id: str | None = None
    binding_id: str | None = None
    #: Non-sensitive parameters last applied; values from Secrets are left out.
    parameters: dict[str, JsonValue] = Field(default_factory=dict)
    #: Top-level parameter keys whose values came from Secrets.
    sensitive_parameter_keys: tuple[str, ...] = ()
    #: ``checksum()`` over *all* parameters, sensitive ones included.
    parameters_checksum: str | None = None
    dashboard_url: str | None = None
    maintenance_info_version: str | None = None
    operation: InFlightOperation | None = None
    #: The broker asked for (or a failure requires) orphan mitigation that has
    #: not been done yet; the next run must finish it before anything else.
    orphan_mitigation_pending: bool = False
    #: ``checksum()`` of a binding's credentials, to detect rotation.
    credentials_hash: str | None = None
    #: OSB ``instance_usable`` from a failed update: False means the instance
    #: is broken, not merely unchanged.
    instance_usable: bool = True
    #: Kind-specific, non-secret data (Secret name and key names, env names a
    #: PodMapping owns, ...).
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    #: A binding's predecessors in a create-before-destroy rotation, still to be unbound.
    retiring: tuple[RetiringBinding, ...] = ()
    updated_at: AwareDatetime = Field(default_factory=utcnow)

    @field_validator("address")
    @classmethod
    def _check_address(cls, value: str) -> str:
        return validate_address(value)

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str | None) -> str | None:
        return None if value is None else validate_address(value)

    @field_validator("depends_on")
    @classmethod
    def _check_depends_on(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            validate_address(address)
        return value

    @field_validator("parameters_checksum", "credentials_hash")
    @classmethod
    def _check_digest(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_HEX.match(value):
            raise ValueError("must be a lowercase sha256 hex digest, never the value itself")
        return value

    @field_validator("attributes")
    @classmethod
    def _check_attributes(
        cls, value: dict[str, JsonValue], info: ValidationInfo
    ) -> dict[str, JsonValue]:
        found = _find_forbidden_key(value, "attributes")
        if found is not None:
            raise ValueError(
                f"{found}: state must not hold credential or Secret data; "
                "store key names or a checksum instead"
            )
        return value if _stored_sorted(info) else _sort_keys(value)

    @field_validator("parameters")
    @classmethod
    def _canonical_parameters(
        cls, value: dict[str, JsonValue], info: ValidationInfo
    ) -> dict[str, JsonValue]:
        return value if _stored_sorted(info) else _sort_keys(value)

    @field_validator("updated_at")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _check_consistency(self) -> ResourceState:
        if self.address.split("/", 1)[0] != self.kind:
            raise ValueError(f"kind {self.kind!r} does not match address {self.address!r}")
        leaked = sorted(set(self.sensitive_parameter_keys) & set(self.parameters))
        if leaked:
            raise ValueError(
                f"parameters {', '.join(leaked)} came from Secrets and must not be stored; "
                "keep them in sensitive_parameter_keys only"
            )
        return self


class State(_Frozen):
    """A snapshot of everything catalogctl manages, as one backend stores it.

    ``lineage`` identifies one history of state (fixed at creation, like
    Terraform's) and ``serial`` counts committed runs that changed something;
    a saved plan records both and is refused if either moved.  A state that was
    never written has serial 0; its lineage becomes fixed when first committed.
    """

    version: Literal[1] = STATE_FORMAT_VERSION
    lineage: str
    serial: int = Field(default=0, ge=0)
    catalogctl_version: str = catalogctl.__version__
    resources: dict[str, ResourceState] = Field(default_factory=dict)

    @field_validator("lineage")
    @classmethod
    def _check_lineage(cls, value: str) -> str:
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ValueError(f"lineage {value!r} is not a UUID") from None

    @model_validator(mode="after")
    def _check_keys(self) -> State:
        for key, resource in self.resources.items():
            if key != resource.address:
                raise ValueError(f"resources[{key!r}] holds {resource.address!r}")
        return self

    @field_serializer("resources")
    def _sorted(self, resources: dict[str, ResourceState]) -> dict[str, ResourceState]:
        # Sorted by address so that two runs with the same content produce the
        # same bytes and diffs of the state file stay readable.
        return dict(sorted(resources.items()))

    @classmethod
    def new(cls, *, lineage: str | None = None) -> State:
        """An empty state with a fresh lineage and serial 0."""
        return cls(lineage=lineage or str(uuid.uuid4()))

    def get(self, address: str) -> ResourceState | None:
        """The resource at ``address``, or None if state does not track it."""
        return self.resources.get(address)

    def addresses(self) -> list[str]:
        """Tracked addresses in sorted order."""
        return sorted(self.resources)

    def with_resource(self, resource: ResourceState) -> State:
        """A copy with ``resource`` added or replaced (serial unchanged).

        Copies the resource map, so it costs O(n): fine for building states in
        tests and the diff; apply persists steps through a journal instead.
        """
        return self.with_resources(set_=(resource,))

    def without_resource(self, address: str) -> State:
        """A copy without ``address`` (a no-op if it is not tracked)."""
        return self.with_resources(remove=(address,))

    def with_resources(
        self, *, set_: Iterable[ResourceState] = (), remove: Iterable[str] = ()
    ) -> State:
        """A copy with many resources set and removed at once, in O(n + k)."""
        resources = dict(self.resources)
        for resource in set_:
            resources[resource.address] = resource
        for address in remove:
            resources.pop(address, None)
        return self.model_copy(update={"resources": resources})

    def with_serial(self, serial: int) -> State:
        """A copy with another serial; only backends should need this."""
        return self.model_copy(update={"serial": serial})

    def same_content(self, other: State) -> bool:
        """True if both track the same resources with the same values."""
        return self.resources == other.resources

    def to_json(self) -> str:
        """Canonical JSON: two-space indent, trailing newline.

        Deterministic, so the same content always yields the same bytes:
        model fields come in declaration order (address and kind first, which
        reads better than alphabetical), resources sorted by address, and
        free-form objects sorted at validation.  Serialised by pydantic-core,
        whose encoder is native, rather than ``json.dumps(indent=...)``, whose
        indenting encoder is pure Python.
        """
        return self.model_dump_json(indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "state") -> State:
        """Parse and validate a state document; raise StateError naming ``source``."""
        try:
            # The fast path: pydantic-core parses and validates in one pass.
            return cls.model_validate_json(text, context={"stored": True})
        except ValidationError:
            pass  # explain it below, with the version check first
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise StateError(f"{source}: not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise StateError(f"{source}: expected a JSON object at the top level")
        version = raw.get("version")
        if isinstance(version, int) and version > STATE_FORMAT_VERSION:
            raise StateError(_newer_format(source, version, raw.get("catalogctl_version")))
        try:
            return cls.model_validate(raw, context={"stored": True})
        except ValidationError as exc:
            raise StateError(f"{source}: invalid state: {_summarise(exc)}") from None


def _release(text: str) -> tuple[int, ...] | None:
    """``0.10.2`` as (0, 10, 2) for comparing releases; None when not of that form."""
    parts = text.split(".")
    return tuple(int(p) for p in parts) if all(p.isdigit() for p in parts) else None


def _newer_format(source: str, version: int, writer: Any) -> str:
    """Why a state in a format this release cannot read is refused, with both versions.

    The format version decides; the release that wrote it is only reported,
    and called newer only when it is.
    """
    ours = catalogctl.__version__
    message = (
        f"{source}: state format version {version} is newer than this catalogctl ({ours}) "
        f"reads (format version {STATE_FORMAT_VERSION})"
    )
    if not isinstance(writer, str) or not writer:
        return message + "; the file does not say which catalogctl wrote it"
    theirs, mine = _release(writer), _release(ours)
    if theirs is not None and mine is not None and theirs > mine:
        return message + f"; it was written by catalogctl {writer}: upgrade to at least that"
    return message + (
        f"; the file says catalogctl {writer} wrote it, which writes format version "
        f"{STATE_FORMAT_VERSION} or older: it was changed by something else"
        if writer == ours
        else f"; it says it was written by catalogctl {writer}"
    )


def _summarise(exc: ValidationError) -> str:
    """Field paths and messages only: ``input`` could be a value we refuse to echo."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = ".".join(str(p) for p in error["loc"])
        parts.append(f"{loc}: {error['msg']}" if loc else error["msg"])
    return "; ".join(parts)
