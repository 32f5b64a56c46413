"""The plan: a frozen, serialisable value that apply executes exactly.

A plan never holds a secret.  Values that came from Secrets (parametersFrom,
credentials, Secret data) are absent from ``before``/``after`` and their paths
are listed in ``sensitive_paths``; checksums in ``private`` let apply detect
that a secret input changed since planning and refuse.

``reason`` is for people; apply decides only from ``action`` and ``private``
(the Terraform rule: the explanation must never steer the execution).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

PLAN_FORMAT_VERSION = 1

JSONPath = tuple[str | int, ...]


class Action(StrEnum):
    """What apply does to one resource; values are the JSON plan's action names."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # delete, then create (bindings: unbind then bind)
    #: create the replacement, then delete the old one (a binding's rotation:
    #: bind anew, rewrite the Secret, roll the workloads, then unbind the old binding)
    CREATE_THEN_DELETE = "create-then-delete"
    DELETE = "delete"
    NOOP = "no-op"

    @property
    def symbol(self) -> str:
        return _SYMBOLS[self]

    @property
    def replaces(self) -> bool:
        """True for both orders of replacement (counted together in summaries)."""
        return self in (Action.REPLACE, Action.CREATE_THEN_DELETE)

    @property
    def creates(self) -> bool:
        """True when apply makes a new resource (with a new broker id for OSB kinds)."""
        return self in (Action.CREATE, Action.REPLACE, Action.CREATE_THEN_DELETE)

    @property
    def json_actions(self) -> list[str]:
        """Terraform's ``actions`` list for this action."""
        return {
            Action.CREATE: ["create"],
            Action.UPDATE: ["update"],
            Action.REPLACE: ["delete", "create"],
            Action.CREATE_THEN_DELETE: ["create", "delete"],
            Action.DELETE: ["delete"],
            Action.NOOP: ["no-op"],
        }[self]


_SYMBOLS = {
    Action.CREATE: "+",
    Action.UPDATE: "~",
    Action.REPLACE: "-/+",
    Action.CREATE_THEN_DELETE: "+/-",
    Action.DELETE: "-",
    Action.NOOP: " ",
}


class Mode(StrEnum):
    NORMAL = "normal"
    DESTROY = "destroy"
    REFRESH_ONLY = "refresh-only"


@dataclass(frozen=True)
class Change:
    """One resource's planned change.

    ``before``/``after`` hold only non-sensitive attribute values.
    ``after_unknown`` lists paths known only after apply (ids, credentials
    hash).  ``requires_replace`` lists the paths that force a replacement.
    ``private`` is engine data for apply (ids, changed parameter keys,
    checksums); it is saved with the plan but never rendered.
    """

    address: str
    kind: str
    action: Action
    reason: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    after_unknown: tuple[JSONPath, ...] = ()
    sensitive_paths: tuple[JSONPath, ...] = ()
    requires_replace: tuple[JSONPath, ...] = ()
    depends_on: tuple[str, ...] = ()
    private: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Drift:
    """A difference between state and the live world found by refresh."""

    address: str
    kind: str
    what: str  # "changed" | "deleted" | "appeared"
    detail: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class Plan:
    """Everything apply needs, bound to the state it was computed against."""

    mode: Mode
    lineage: str
    serial: int
    changes: tuple[Change, ...]
    drift: tuple[Drift, ...] = ()
    upgrades_available: tuple[str, ...] = ()
    created_at: str = ""
    catalogctl_version: str = ""
    format_version: int = PLAN_FORMAT_VERSION

    def __repr__(self) -> str:
        # A summary: a plan holds thousands of changes (and their values),
        # and a repr is for logs and tracebacks, which want the size only.
        return (
            f"Plan(mode={self.mode.value!r}, lineage={self.lineage!r}, serial={self.serial}, "
            f"changes={len(self.changes)}, drift={len(self.drift)})"
        )

    @property
    def actionable(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is not Action.NOOP)

    @property
    def has_changes(self) -> bool:
        """True when apply would do something (refresh-only: when drift was found)."""
        if self.mode is Mode.REFRESH_ONLY:
            return bool(self.drift)
        return bool(self.actionable)

    def change(self, address: str) -> Change | None:
        for c in self.changes:
            if c.address == address:
                return c
        return None

    def counts(self) -> dict[Action, int]:
        out = {a: 0 for a in Action}
        for c in self.changes:
            out[c.action] += 1
        return out

    # -- serialisation -------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mode"] = self.mode.value
        for c in data["changes"]:
            c["action"] = c["action"].value if isinstance(c["action"], Action) else c["action"]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        def paths(raw: Any) -> tuple[JSONPath, ...]:
            return tuple(tuple(p) for p in raw or ())

        changes = tuple(
            Change(
                address=c["address"],
                kind=c["kind"],
                action=Action(c["action"]),
                reason=c["reason"],
                before=c.get("before"),
                after=c.get("after"),
                after_unknown=paths(c.get("after_unknown")),
                sensitive_paths=paths(c.get("sensitive_paths")),
                requires_replace=paths(c.get("requires_replace")),
                depends_on=tuple(c.get("depends_on") or ()),
                private=dict(c.get("private") or {}),
            )
            for c in data["changes"]
        )
        drift = tuple(Drift(**d) for d in data.get("drift") or ())
        return cls(
            mode=Mode(data["mode"]),
            lineage=data["lineage"],
            serial=int(data["serial"]),
            changes=changes,
            drift=drift,
            upgrades_available=tuple(data.get("upgrades_available") or ()),
            created_at=data.get("created_at", ""),
            catalogctl_version=data.get("catalogctl_version", ""),
            format_version=int(data.get("format_version", PLAN_FORMAT_VERSION)),
        )
