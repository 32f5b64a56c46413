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

#: In dependency order: a handler may read what the ones before it resolved.
ORDERED: tuple[Handler, ...] = (
    InstanceHandler(),
    BindingHandler(),
    SecretHandler(),
    PodMappingHandler(),
)

#: kind -> its handler
HANDLERS: dict[str, Handler] = {h.kind: h for h in ORDERED}
