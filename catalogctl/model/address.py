"""Resource addresses: ``Kind/namespace/name`` or ``Kind/name`` when cluster-scoped.

Addresses are the identity of everything catalogctl manages: graph nodes, state
keys, plan entries and ``--target`` arguments all use the same string form, so
one parser serves the CLI and the state file alike.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

CLUSTER_SCOPED_KINDS = frozenset({"ClusterServiceBroker"})

#: Kinds an address may name, in the order resources are created.
KNOWN_KINDS = (
    "ClusterServiceBroker",
    "ServiceBroker",
    "ServiceInstance",
    "ServiceBinding",
    "Secret",
    "PodMapping",
)


@dataclass(frozen=True, order=True)
class Address:
    """A resource address; ``namespace`` is ``""`` for cluster-scoped kinds."""

    kind: str
    namespace: str
    name: str
    #: Addresses key the graph and every per-resource map, and are hashed
    #: twenty-odd times each per plan: the hash is computed once.
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.kind, self.namespace, self.name)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[type[Address], tuple[str, str, str]]:
        # String hashes differ between processes: a copy computes its own.
        return (Address, (self.kind, self.namespace, self.name))

    def __str__(self) -> str:
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"

    @property
    def cluster_scoped(self) -> bool:
        return self.kind in CLUSTER_SCOPED_KINDS

    @classmethod
    def parse(cls, text: str, default_namespace: str | None = "default") -> Address:
        """Parse ``Kind/ns/name`` or ``Kind/name``.

        ``Kind/name`` of a namespaced kind takes ``default_namespace``, as kubectl
        does for ``-n``; with None it is refused (canonical form, as state keys
        are).  Raises ValueError with a message fit for the user.
        """
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(f"invalid address {text!r}: expected Kind/namespace/name or Kind/name")
        kind = parts[0]
        if kind not in KNOWN_KINDS:
            raise ValueError(
                f"invalid address {text!r}: unknown kind {kind!r} (one of {', '.join(KNOWN_KINDS)})"
            )
        if kind in CLUSTER_SCOPED_KINDS:
            if len(parts) != 2:
                raise ValueError(f"invalid address {text!r}: {kind} is cluster-scoped")
            return cls(kind, "", parts[1])
        if len(parts) == 2:
            if default_namespace is None:
                raise ValueError(f"invalid address {text!r}: {kind} is namespaced")
            return cls(kind, default_namespace, parts[1])
        return cls(kind, parts[1], parts[2])


def near_matches(text: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """Known addresses that ``text`` may have meant, closest first.

    The same name in another namespace (or of another kind) first, then names
    of the same kind that differ by a typo.  Similarity of whole addresses is
    not used: their shared ``Kind/namespace/`` prefix makes everything look close.
    """
    candidates = sorted(set(known) - {text})
    kind, name = text.split("/", 1)[0], text.rsplit("/", 1)[-1]
    same_name = [a for a in candidates if a.rsplit("/", 1)[-1] == name]
    names = {a.rsplit("/", 1)[-1] for a in candidates if a.split("/", 1)[0] == kind}
    typos = set(difflib.get_close_matches(name, names, n=limit, cutoff=0.75))
    close = [
        a
        for a in candidates
        if a.split("/", 1)[0] == kind and a.rsplit("/", 1)[-1] in typos and a not in same_name
    ]
    return [*same_name, *close][:limit]
