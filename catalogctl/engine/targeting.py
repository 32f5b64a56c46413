"""``--target`` and ``--replace`` must name something: a typo is an error, not an empty plan.

Terraform plans nothing for a target that matches nothing and says so only in
passing; an operator who mistyped a namespace then believes the resource is up
to date.  Here every address must be in the configuration or in state, and the
error lists the addresses that look like it.
"""

from __future__ import annotations

from collections.abc import Iterable

from catalogctl.errors import UsageError
from catalogctl.model.address import Address, near_matches
from catalogctl.model.bindings import ServiceBinding
from catalogctl.model.desired import Desired
from catalogctl.plan.inputs import DiffOptions

__all__ = ["check_addresses", "known_addresses"]


def known_addresses(desired: Desired | None, state_addresses: Iterable[str]) -> set[str]:
    """Everything a plan could touch: configured resources, their Secrets, and state."""
    known = set(state_addresses)
    if desired is not None:
        known.update(str(a) for a in desired.resources)
        for res, binding in desired.of_type(ServiceBinding):
            known.add(str(Address("Secret", res.address.namespace, binding.effective_secret_name)))
    return known


def check_addresses(options: DiffOptions, known: set[str]) -> None:
    """Raise UsageError naming every --target/--replace address that matches nothing."""
    problems = []
    flagged = [("--target", a) for a in sorted(options.targets or ())]
    flagged += [("--replace", a) for a in sorted(options.replace)]
    for flag, address in flagged:
        if address in known:
            continue
        near = near_matches(address, known)
        hint = f" (did you mean {' or '.join(near)}?)" if near else ""
        problems.append(f"{flag} {address} matches nothing in the configuration or the state{hint}")
    if problems:
        raise UsageError("; ".join(problems))
