"""What ``apply --refresh-only`` writes into state: the drift a refresh found, accepted.

Terraform's ``apply -refresh-only`` makes state match the live world without
changing it.  Here that means, for each drift entry:

* an object deleted outside catalogctl is forgotten (the next plan creates it
  again, or, once it leaves the configuration, nothing);
* a plan or parameters changed at the broker are recorded as they are now;
  the parameters' checksum is cleared, so the next plan compares the
  configuration with the accepted values and proposes what it would change;
* an edited binding Secret or a workload that lost its mapping entries is not
  accepted: their content is derived from the broker's credentials and the
  PodMapping, so the next apply repairs them.

Pure: state and drift in, journal steps out.
"""

from __future__ import annotations

from collections.abc import Sequence

from catalogctl.plan.model import Drift
from catalogctl.state.models import ResourceState, State

__all__ = ["accepted_steps", "not_accepted"]


def accepted_steps(state: State, drift: Sequence[Drift]) -> list[ResourceState | str]:
    """Journal steps (a resource to record, or an address to forget) accepting ``drift``."""
    steps: list[ResourceState | str] = []
    updated: dict[str, ResourceState] = {}
    for entry in drift:
        current = updated.get(entry.address) or state.get(entry.address)
        if current is None:
            continue
        if entry.what == "deleted":
            steps.append(entry.address)
            updated.pop(entry.address, None)
            continue
        if current.kind != "ServiceInstance" or entry.what != "changed" or not entry.after:
            continue
        if "plan_id" in entry.after:
            current = current.model_copy(update={"plan_id": entry.after["plan_id"]})
        else:
            params = {**current.parameters, **entry.after}
            current = current.model_copy(
                update={"parameters": params, "parameters_checksum": None}
            )
        updated[entry.address] = current
    steps.extend(updated.values())
    return steps


def not_accepted(drift: Sequence[Drift]) -> list[Drift]:
    """Drift that refresh-only apply leaves for the next apply to repair."""
    accepted = {id(e) for e in drift if e.what == "deleted"}
    accepted |= {id(e) for e in drift if e.kind == "ServiceInstance" and e.what == "changed"}
    return [e for e in drift if id(e) not in accepted]
