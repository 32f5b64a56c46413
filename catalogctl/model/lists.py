"""Unpack ``kind: List`` and typed ``*List`` documents into one document per item.

``kubectl get serviceinstances,servicebindings -o yaml`` writes
``apiVersion: v1, kind: List``; ``kubectl get serviceinstances -o json`` and
the API itself answer with a typed ``ServiceInstanceList``.  Both hold the
objects under ``items``.  Reading such a file as one unknown object would make
every resource in it vanish from the desired state, and apply would then
delete them all, so every reader of ``-f`` input unpacks lists first.

An item keeps pointing at its own lines: its document carries the path of the
item inside the file's document (``("items", i)``) and reports positions under
it, looked up only when a problem is reported.  Items of a typed list may omit
``apiVersion`` and ``kind`` (the API leaves them out for built-in kinds); they
take the list's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from catalogctl.model.source import Document, PathKey

#: The untyped list kind kubectl writes for mixed kinds (``apiVersion: v1``).
LIST_KIND = "List"


def is_list(data: Any) -> bool:
    """Whether a document is a List or a typed ``*List`` holding ``items``."""
    if not isinstance(data, dict):
        return False
    kind = data.get("kind")
    return (
        isinstance(kind, str) and kind.endswith(LIST_KIND) and isinstance(data.get("items"), list)
    )


def _item_data(parent: dict[str, Any], item: Any) -> Any:
    """The item, with a typed list's apiVersion and kind filled in where it omits them."""
    kind = str(parent["kind"])
    if kind == LIST_KIND or not isinstance(item, dict):
        return item
    filled = dict(item)
    api_version = parent.get("apiVersion")
    if "apiVersion" not in filled and isinstance(api_version, str):
        filled["apiVersion"] = api_version
    filled.setdefault("kind", kind[: -len(LIST_KIND)])
    return filled


def _items(doc: Document) -> Iterator[Document]:
    data = doc.data
    for i, item in enumerate(data["items"]):
        here: PathKey = ("items", i)
        inside = tuple(
            (p[len(here) :], again, first)
            for p, again, first in doc.duplicate_keys
            if p[: len(here)] == here
        )
        child = replace(
            doc,
            data=_item_data(data, item),
            duplicate_keys=inside,
            prefix=(*doc.prefix, *here),
        )
        if is_list(child.data):
            yield from _items(child)
        else:
            yield child


def unpack_lists(documents: Iterable[Document]) -> Iterator[Document]:
    """Each document that is not a list, and each item of those that are, in order.

    Duplicate keys written in a list's own mapping (outside ``items``) stay
    with the list's first item so they are still reported; an empty list
    yields nothing.
    """
    for doc in documents:
        if not is_list(doc.data):
            yield doc
            continue
        outside = [d for d in doc.duplicate_keys if d[0][:1] != ("items",) or len(d[0]) < 2]
        first = True
        for item in _items(doc):
            if first and outside:
                item = replace(item, duplicate_keys=(*outside, *item.duplicate_keys))
            first = False
            yield item
