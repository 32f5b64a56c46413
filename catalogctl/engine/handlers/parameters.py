"""Parameters of an instance or binding: inline values merged with ``parametersFrom`` Secrets.

Resolution (plan time) and apply both merge; apply checks the result against
the checksum the plan saw, so a Secret edited in between is caught.  The
Secrets are read first, each key once and all concurrently on worker threads
(the cluster client is synchronous); merging is then pure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import CatalogctlError
from catalogctl.model.instances import ParametersFromSource
from catalogctl.plan.model import Change, JSONPath
from catalogctl.providers.osb.params import (
    MergedParameters,
    ParameterError,
    SecretParameters,
    merge_parameters,
)

#: A problem with a field of the resource: its path and the message.
FieldProblem = tuple[JSONPath, str]

#: (namespace, Secret name, key)
SecretKey = tuple[str, str, str]

#: What reading each Secret key gave: its value, or why it could not be read.
SecretValues = Mapping[SecretKey, bytes | CatalogctlError]


def secret_keys(namespace: str, sources: Sequence[ParametersFromSource]) -> list[SecretKey]:
    """The Secret keys ``parametersFrom`` reads for a resource in ``namespace``."""
    return [
        (namespace, src.secret_key_ref.name, src.secret_key_ref.key)
        for src in sources
        if src.secret_key_ref is not None
    ]


async def read_secrets(keys: Iterable[SecretKey], cluster: ClusterPort) -> SecretValues:
    """Read each distinct key once, concurrently, on worker threads."""
    wanted = sorted(set(keys))
    read = await asyncio.gather(
        *(asyncio.to_thread(cluster.read_secret_key, *key) for key in wanted),
        return_exceptions=True,
    )
    values: dict[SecretKey, bytes | CatalogctlError] = {}
    for key, value in zip(wanted, read, strict=True):
        if isinstance(value, bytes | CatalogctlError):
            values[key] = value
        else:
            raise value
    return values


def merged_parameters(
    namespace: str,
    parameters: Mapping[str, Any] | None,
    sources: Sequence[ParametersFromSource],
    values: SecretValues,
) -> tuple[MergedParameters | None, list[FieldProblem]]:
    """Merge inline parameters with parametersFrom Secrets of ``namespace`` (read in ``values``).

    Returns the merged parameters, or None and every problem found, each at
    the field that caused it.
    """
    secrets: list[SecretParameters] = []
    problems: list[FieldProblem] = []
    for i, src in enumerate(sources):
        ref = src.secret_key_ref
        if ref is None:
            continue
        value = values[(namespace, ref.name, ref.key)]
        if isinstance(value, CatalogctlError):
            problems.append((("spec", "parametersFrom", i, "secretKeyRef"), str(value)))
        else:
            secrets.append(SecretParameters(ref.name, ref.key, value, i))
    if problems:
        return None, problems
    try:
        return merge_parameters(parameters, secrets), []
    except ParameterError as exc:
        return None, [(parameter_path(p.source, p.parts), p.message) for p in exc.problems]


def parameter_path(source: str, parts: tuple[str | int, ...]) -> JSONPath:
    """The field a parameter came from: ``spec.parameters...`` or its parametersFrom entry."""
    if source.startswith("parametersFrom["):
        return ("spec", "parametersFrom", int(source[len("parametersFrom[") : -1]))
    return ("spec", "parameters", *parts)


def split_sensitive(
    merged: MergedParameters,
) -> tuple[tuple[str, ...], dict[str, Any], dict[str, Any]]:
    """(sensitive keys, values safe to store, values to show with secrets as None).

    Without sensitive keys the last two are one dict: nobody changes them, and
    a plan then holds one copy of each resource's parameters instead of two.
    """
    if not merged.sensitive_keys:
        values = dict(merged.values)
        return (), values, values
    sensitive = tuple(sorted(merged.sensitive_keys))
    visible = {k: v for k, v in merged.values.items() if k not in merged.sensitive_keys}
    shown = dict(visible)
    shown.update({k: None for k in sensitive})
    return sensitive, visible, shown


def sensitive_now(
    change: Change, params: Mapping[str, Any], keys: tuple[str, ...] | None
) -> tuple[str, ...]:
    """The keys of ``params`` whose values come from Secrets now, as the plan resolved them.

    Not the change's sensitive paths: those also mask what state hid before, so
    a key moved from parametersFrom to inline parameters would stay hidden.
    Plans saved before ``keys`` was recorded (None) fall back to the paths.
    """
    if keys is not None:
        return tuple(k for k in params if k in keys)
    return tuple(k for k in params if ("parameters", k) in change.sensitive_paths)
