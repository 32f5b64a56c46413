"""Which catalogctl state wrote an object into a cluster.

Every binding Secret and every workload mapping record catalogctl writes
carries the lineage of the state that wrote it (a UUID fixed when the state is
first committed) and, for people, where that state lives.  Two states that
claim the same object (a mistyped ``--state`` is the usual cause) are then
told apart by lineage rather than by resource address, which both share.

Objects written before these marks existed carry no lineage; they are
recognised by their owner address alone, and the next write adds the marks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "LINEAGE_ANNOTATION",
    "STATE_ANNOTATION",
    "StateMark",
    "controller_of",
    "mark_annotations",
    "mark_of",
]

LINEAGE_ANNOTATION: Final = "catalogctl.io/state-lineage"
STATE_ANNOTATION: Final = "catalogctl.io/state"


@dataclass(frozen=True)
class StateMark:
    """The state a run writes for: its lineage, and where it lives (for messages)."""

    lineage: str
    where: str = ""

    def describe(self) -> str:
        return f"{self.where} (lineage {self.lineage})" if self.where else f"lineage {self.lineage}"


def mark_annotations(mark: StateMark | None) -> dict[str, str]:
    """The annotations that record ``mark`` on an object (none without a mark)."""
    if mark is None:
        return {}
    out = {LINEAGE_ANNOTATION: mark.lineage}
    if mark.where:
        out[STATE_ANNOTATION] = mark.where
    return out


def mark_of(annotations: Mapping[str, Any] | None) -> StateMark | None:
    """The state recorded in ``annotations``, or None when no lineage is recorded."""
    annotations = annotations or {}
    lineage = annotations.get(LINEAGE_ANNOTATION)
    if not isinstance(lineage, str) or not lineage:
        return None
    where = annotations.get(STATE_ANNOTATION)
    return StateMark(lineage, where if isinstance(where, str) else "")


def controller_of(metadata: Mapping[str, Any]) -> str | None:
    """Who else controls an object, from its ownerReferences (``ServiceBinding apps/db``).

    Service Catalog made every binding Secret a child of its ServiceBinding;
    such a Secret is still Service Catalog's until it is migrated.
    """
    namespace = metadata.get("namespace") or ""
    for ref in metadata.get("ownerReferences") or ():
        if not isinstance(ref, Mapping):
            continue
        kind, name = ref.get("kind"), ref.get("name")
        if not kind or not name:
            continue
        group = str(ref.get("apiVersion") or "").split("/")[0]
        where = f"{namespace}/{name}" if namespace else str(name)
        return f"{kind} {where}" + (f" ({group})" if "." in group else "")
    return None
