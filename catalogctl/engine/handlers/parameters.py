"""Parameters of an instance or binding: inline values merged with ``parametersFrom`` Secrets.

Resolution (plan time) and apply both merge; apply checks the result against
the checksum the plan saw, so a Secret edited in between is caught.  Secrets
are read on worker threads: the cluster client is synchronous.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import CatalogctlError
from catalogctl.model.instances import ParametersFromSource
from catalogctl.plan.model import JSONPath
from catalogctl.providers.osb.params import (
    MergedParameters,
    ParameterError,
    SecretParameters,
    merge_parameters,
)

#: A problem with a field of the resource: its path and the message.
FieldProblem = tuple[JSONPath, str]


async def merged_parameters(
    namespace: str,
    parameters: Mapping[str, Any] | None,
    sources: Sequence[ParametersFromSource],
    cluster: ClusterPort,
) -> tuple[MergedParameters | None, list[FieldProblem]]:
    """Merge inline parameters with parametersFrom Secrets of ``namespace``.

    Returns the merged parameters, or None and every problem found, each at
    the field that caused it.
    """
    refs = [(i, src.secret_key_ref) for i, src in enumerate(sources) if src.secret_key_ref]
    read = await asyncio.gather(
        *(asyncio.to_thread(cluster.read_secret_key, namespace, r.name, r.key) for _, r in refs),
        return_exceptions=True,
    )
    secrets: list[SecretParameters] = []
    problems: list[FieldProblem] = []
    for (i, ref), value in zip(refs, read, strict=True):
        if isinstance(value, CatalogctlError):
            problems.append((("spec", "parametersFrom", i, "secretKeyRef"), str(value)))
        elif isinstance(value, BaseException):
            raise value
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
    """(sensitive keys, values safe to store, values to show with secrets as None)."""
    sensitive = tuple(sorted(merged.sensitive_keys))
    visible = {k: v for k, v in merged.values.items() if k not in merged.sensitive_keys}
    shown = dict(visible)
    shown.update({k: None for k in sensitive})
    return sensitive, visible, shown
