"""The desired state: every resource loaded from the user's YAML, with its origin."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from catalogctl.errors import Problem
from catalogctl.model.address import Address
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.brokers import Broker
from catalogctl.model.instances import ServiceInstance
from catalogctl.model.podmappings import PodMapping
from catalogctl.model.source import Document, Position

ResourceObject = Broker | ServiceInstance | ServiceBinding | PodMapping

T = TypeVar("T", Broker, ServiceInstance, ServiceBinding, PodMapping)


def field_path(path: Iterable[str | int]) -> str:
    """Render ``('spec', 'env', 0, 'name')`` as ``spec.env[0].name``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class LoadedResource:
    """A validated resource and the document it came from."""

    address: Address
    obj: ResourceObject
    document: Document

    def position(self, path: Iterable[str | int] = ()) -> Position:
        return self.document.position_of(path)

    def problem(self, path: Iterable[str | int], message: str) -> Problem:
        """A :class:`Problem` pointing at ``path`` inside this resource."""
        path = tuple(path)
        pos = self.position(path)
        return Problem(pos.file, pos.line, pos.column, str(self.address), field_path(path), message)

    @property
    def location(self) -> str:
        pos = self.position()
        return f"{pos.file}:{pos.line}"


@dataclass(frozen=True)
class IgnoredObject:
    """An object of a kind catalogctl does not manage (listed, not an error)."""

    file: str
    line: int
    api_version: str
    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        """``apiVersion Kind/namespace/name`` as written (no namespace defaulting)."""
        path = "/".join(p for p in (self.kind, self.namespace, self.name) if p)
        return f"{self.api_version} {path}"


@dataclass
class Desired:
    """Everything the user asked for, keyed by address in input order."""

    default_namespace: str
    resources: dict[Address, LoadedResource] = field(default_factory=dict)
    ignored: list[IgnoredObject] = field(default_factory=list)
    #: Resources present in the input but rejected by schema validation.
    rejected: set[Address] = field(default_factory=set)

    def declares(self, address: Address) -> bool:
        """Whether the input declares ``address`` (valid or not)."""
        return address in self.resources or address in self.rejected

    def of_type(self, cls: type[T]) -> Iterator[tuple[LoadedResource, T]]:
        for res in self.resources.values():
            if isinstance(res.obj, cls):
                yield res, res.obj

    def get(self, address: Address) -> LoadedResource | None:
        return self.resources.get(address)

    def __len__(self) -> int:
        return len(self.resources)
