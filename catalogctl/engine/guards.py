"""Checks a plan must pass before anything is asked of a broker.

An input that yields no managed resource while the state holds some would
plan to unbind and deprovision everything: almost always a mistake (a
``kind: List`` or a folder of files nobody read, a wrong path), never worth
an outage.  It is refused unless ``--allow-empty`` says it is meant;
``destroy`` remains the way to delete everything.
"""

from __future__ import annotations

from catalogctl.engine.inputs import Inputs
from catalogctl.errors import UsageError
from catalogctl.plan.inputs import DiffOptions
from catalogctl.state.models import State

#: Kinds whose absence from the input makes a plan delete them (brokers are only read).
_STATEFUL_KINDS = frozenset({"ServiceInstance", "ServiceBinding", "PodMapping"})


def check_not_emptied(inputs: Inputs | None, state: State, options: DiffOptions) -> None:
    """Refuse a normal plan whose input holds nothing catalogctl manages while state does."""
    if inputs is None or options.destroy or options.refresh_only or options.allow_empty:
        return
    if any(address.kind in _STATEFUL_KINDS for address in inputs.desired.resources):
        return
    if not state.resources:
        return
    named = ", ".join(inputs.sources) or "(no input)"
    raise UsageError(
        f"the input ({named}) holds no ServiceInstance, ServiceBinding or PodMapping, but the "
        f"state holds {len(state.resources)} resources: this plan would delete all of them. "
        "Check the -f paths; pass --allow-empty if deleting everything is meant "
        "(or use `catalogctl destroy`)"
    )
