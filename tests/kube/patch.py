"""The three PATCH dialects the apiserver accepts for JSON: RFC 7386, RFC 6902 and strategic merge.

Strategic merge patch (SMP) is what ``kubectl apply`` and catalogctl's Deployment edits use. Its
list semantics come from ``patchMergeKey``/``patchStrategy`` tags on the Go types; the lists below
are the ones on the kinds this emulator serves. Lists without a merge key are replaced, as upstream.
"""

from __future__ import annotations

import copy
from typing import Any

from tests.kube.errors import ApiError, bad_request, patch_rejected

# Field name -> merge key, for object lists merged by key (patchStrategy "merge").
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "ownerReferences": "uid",
    "conditions": "type",
}

# Lists of scalars whose patchStrategy is "merge": patched entries are added to the set.
MERGED_SCALAR_LISTS = {"finalizers"}

_DIRECTIVE_PREFIXES = ("$setElementOrder/", "$deleteFromPrimitiveList/")


# --- RFC 7386 JSON merge patch -------------------------------------------------------------------

def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch: objects merge recursively, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --- RFC 6902 JSON patch -------------------------------------------------------------------------

def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise patch_rejected()
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, tokens: list[str]) -> tuple[Any, str]:
    """Resolve all but the last token; the caller acts on (container, last)."""
    node = doc
    for tok in tokens[:-1]:
        node = _child(node, tok)
    return node, tokens[-1]


def _child(node: Any, tok: str) -> Any:
    if isinstance(node, dict) and tok in node:
        return node[tok]
    if isinstance(node, list) and tok.isdigit() and int(tok) < len(node):
        return node[int(tok)]
    raise patch_rejected()


def _get(doc: Any, path: str) -> Any:
    node = doc
    for tok in _pointer(path):
        node = _child(node, tok)
    return node


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    container, last = _parent(doc, tokens)
    if isinstance(container, dict):
        container[last] = value
    elif isinstance(container, list):
        if last == "-":
            container.append(value)
        elif last.isdigit() and int(last) <= len(container):
            container.insert(int(last), value)
        else:
            raise patch_rejected()
    else:
        raise patch_rejected()
    return doc


def _remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        raise patch_rejected()
    container, last = _parent(doc, tokens)
    if isinstance(container, dict) and last in container:
        del container[last]
    elif isinstance(container, list) and last.isdigit() and int(last) < len(container):
        del container[int(last)]
    else:
        raise patch_rejected()
    return doc


def json_patch(doc: Any, ops: Any) -> Any:
    """Apply RFC 6902 operations in order; any failure (including ``test``) rejects the patch."""
    if not isinstance(ops, list):
        raise bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "path" not in op:
            raise patch_rejected()
        kind, path = op.get("op"), op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)
            doc = _remove(doc, path) if _pointer(path) else doc
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            value = _get(doc, op.get("from", ""))
            doc = _remove(doc, op.get("from", ""))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from", ""))))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise patch_rejected()
        else:
            raise patch_rejected()
    return doc


# --- strategic merge patch -----------------------------------------------------------------------

def strategic_merge_patch(original: Any, patch: Any) -> Any:
    """Apply an SMP to ``original`` (not modified) and return the result."""
    if not isinstance(patch, dict):
        raise bad_request("unable to find api field in struct for the patch: not a JSON object")
    return _smp_map(copy.deepcopy(original) if isinstance(original, dict) else {}, patch)


def _smp_map(orig: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    directive = patch.get("$patch")
    if directive == "replace":
        replaced: dict[str, Any] = _strip_directives(patch)
        return replaced
    if directive == "delete":
        return {}
    if directive is not None:
        raise _bad_directive(directive)
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(orig.get(field), list) and isinstance(value, list):
                orig[field] = [v for v in orig[field] if v not in value]
            continue
        if value is None:
            orig.pop(key, None)
        elif isinstance(value, dict):
            if value.get("$patch") == "delete":
                orig.pop(key, None)
            else:
                current = orig.get(key)
                orig[key] = _smp_map(current if isinstance(current, dict) else {}, value)
        elif isinstance(value, list):
            orig[key] = _smp_list(key, orig.get(key), value)
        else:
            orig[key] = value
    for key, order in patch.items():
        if key.startswith("$setElementOrder/") and isinstance(order, list):
            field = key.split("/", 1)[1]
            if isinstance(orig.get(field), list):
                orig[field] = _set_element_order(orig[field], order, MERGE_KEYS.get(field))
    if isinstance(retain, list):
        for key in [k for k in orig if k not in retain]:
            del orig[key]
    return orig


def _set_element_order(merged: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    """Honour ``$setElementOrder``: listed elements take the patch's order, and each element the
    patch does not list (added by someone else) stays right after its live predecessor."""
    def ident(item: Any) -> Any:
        return item.get(merge_key) if merge_key and isinstance(item, dict) else item

    wanted = [ident(o) for o in order]
    listed = {ident(i): i for i in merged if ident(i) in wanted}
    result = [listed[k] for k in wanted if k in listed]
    for pos, item in enumerate(merged):
        if ident(item) in listed:
            continue
        before = next((merged[j] for j in range(pos - 1, -1, -1)
                       if any(r is merged[j] for r in result)), None)
        at = 0 if before is None else next(n for n, r in enumerate(result) if r is before) + 1
        result.insert(at, item)
    return result


def _smp_list(field: str, orig: Any, patch: list[Any]) -> list[Any]:
    current = orig if isinstance(orig, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch
                if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if field in MERGED_SCALAR_LISTS:
        return current + [v for v in patch if v not in current]
    merge_key = MERGE_KEYS.get(field)
    if merge_key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip_directives(i) for i in patch]
    result = [dict(i) if isinstance(i, dict) else i for i in current]
    for item in patch:
        if merge_key not in item:
            raise bad_request(f"map: {item} does not contain declared merge key: {merge_key}")
        index = next((n for n, cur in enumerate(result)
                      if isinstance(cur, dict) and cur.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del result[index]
            continue
        if index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _smp_map(result[index], item)
    return result


def _strip_directives(value: Any) -> Any:
    """Drop ``$patch`` and friends from a value that is inserted wholesale."""
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items()
                if k not in ("$patch", "$retainKeys") and not k.startswith(_DIRECTIVE_PREFIXES)}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _bad_directive(directive: Any) -> ApiError:
    return bad_request(f"Unknown patch type: {directive}")
