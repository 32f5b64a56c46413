"""Typed private payloads: what apply needs about a change beyond what the plan shows.

A payload travels in ``Change.private`` as a plain mapping, so a saved plan
stays JSON; handlers build it with ``to_private`` at resolution and read it
back with ``from_private`` at apply, and never index the mapping by string
keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SecretPayload:
    """A binding Secret: the binding whose credentials fill it, and how they are transformed."""

    binding: str
    #: the binding's secretTransforms, as written (JSON)
    transforms: tuple[Mapping[str, Any], ...]
    checksum: str

    def to_private(self) -> dict[str, Any]:
        return {
            "binding": self.binding,
            "transforms": list(self.transforms),
            "checksum": self.checksum,
        }

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> SecretPayload:
        return cls(str(private["binding"]), tuple(private["transforms"]), str(private["checksum"]))


@dataclass(frozen=True)
class MappingPayload:
    """A PodMapping: its spec, the Secret it maps, and the workload it patches."""

    #: the PodMapping object, as written (JSON)
    spec: Mapping[str, Any]
    secret_name: str
    checksum: str
    #: ``Kind/name`` of the workload
    target: str

    def to_private(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_private(cls, private: Mapping[str, Any]) -> MappingPayload:
        return cls(
            private["spec"],
            str(private["secret_name"]),
            str(private["checksum"]),
            str(private["target"]),
        )
