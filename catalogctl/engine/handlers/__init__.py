"""One handler per resource kind catalogctl manages, and the order resolution runs them in.

See :mod:`catalogctl.engine.handlers.base` for the interface.
"""

from __future__ import annotations

from catalogctl.engine.handlers.base import (
    ApplyContext,
    ApplySteps,
    Handler,
    ObserveContext,
    PlanSteps,
    Resolution,
    ResolveContext,
    spec_checksum,
)
from catalogctl.engine.handlers.binding import BindingHandler
from catalogctl.engine.handlers.instance import InstanceHandler
from catalogctl.engine.handlers.podmapping import PodMappingHandler
from catalogctl.engine.handlers.secret import SecretHandler

__all__ = [
    "APPLY_STEPS",
    "HANDLERS",
    "ORDERED",
    "ApplyContext",
    "ApplySteps",
    "Handler",
    "ObserveContext",
    "PlanSteps",
    "Resolution",
    "ResolveContext",
    "spec_checksum",
]

_SECRET = SecretHandler()
_MAPPING = PodMappingHandler()

#: In dependency order: a handler may read what the ones before it resolved.
ORDERED: tuple[PlanSteps, ...] = (InstanceHandler(), BindingHandler(), _SECRET, _MAPPING)

#: kind -> its handler's plan-time steps
HANDLERS: dict[str, PlanSteps] = {h.kind: h for h in ORDERED}

#: kind -> its handler's apply-time steps (instances and bindings: the executor's own)
APPLY_STEPS: dict[str, ApplySteps] = {h.kind: h for h in (_SECRET, _MAPPING)}
