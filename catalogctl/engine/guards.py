"""Checks a plan must pass before anything is asked of a broker.

They run under the state lock, after state is read and before catalogs are
fetched.

An input that yields no managed resource while the state holds some would
plan to unbind and deprovision everything: almost always a mistake (a
``kind: List`` or a folder of files nobody read, a wrong path), never worth
an outage.  It is refused unless ``--allow-empty`` says it is meant;
``destroy`` remains the way to delete everything.

A saved plan was checked for ownership when it was made
(:mod:`catalogctl.engine.ownership`); a Secret created or taken over since
must not be found only after its binding was replaced, which revokes the
credentials the Secret holds, so the Secrets it writes are checked again.
"""

from __future__ import annotations

from catalogctl.engine.inputs import Inputs
from catalogctl.engine.ownership import Claim, OwnershipReader, check_ownership
from catalogctl.errors import UsageError
from catalogctl.plan.inputs import DiffOptions
from catalogctl.plan.model import Action, Mode, Plan
from catalogctl.plan.payloads import SecretPayload
from catalogctl.providers.kubernetes.statemark import StateMark
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


async def check_plan_secrets(plan: Plan, cluster: OwnershipReader, ours: StateMark) -> None:
    """Refuse a saved plan that would write a Secret someone else holds now."""
    if plan.mode is not Mode.NORMAL:
        return
    claims = []
    for change in plan.actionable:
        if change.kind == "Secret" and change.action is not Action.DELETE and change.private:
            binding = SecretPayload.from_private(change.private).binding
            _, ns, name = change.address.split("/")
            claims.append(Claim("Secret", ns, name, binding))
    await check_ownership(claims, cluster, ours)
