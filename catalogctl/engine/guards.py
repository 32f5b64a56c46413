"""Checks a plan must pass before anything is asked of a broker.

Both run under the state lock, after state is read and before catalogs are
fetched.

An input that yields no managed resource while the state holds some would
plan to unbind and deprovision everything: almost always a mistake (a
``kind: List`` or a folder of files nobody read, a wrong path), never worth
an outage.  It is refused unless ``--allow-empty`` says it is meant;
``destroy`` remains the way to delete everything.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from catalogctl.engine.inputs import Inputs
from catalogctl.engine.ports import ClusterPort
from catalogctl.errors import OwnershipError, UsageError
from catalogctl.model.bindings import ServiceBinding
from catalogctl.plan.inputs import DiffOptions
from catalogctl.plan.model import Action, Mode, Plan
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


#: Service Catalog's API group, as its binding Secrets' ownerReferences name it.
_SERVICE_CATALOG_GROUP = "servicecatalog.k8s.io/"
#: Secrets read at once while checking ownership (each is one GET).
_OWNERSHIP_READS = 16


def check_plan_inputs(
    inputs: Inputs | None, state: State, options: DiffOptions, cluster: ClusterPort
) -> None:
    """Every check below, for a plan that may write (not destroy, not refresh-only)."""
    check_not_emptied(inputs, state, options)
    if not (options.destroy or options.refresh_only):
        check_secret_ownership(inputs, state, cluster)


def check_secret_ownership(inputs: Inputs | None, state: State, cluster: ClusterPort) -> None:
    """Refuse, before any broker call, a plan that would write a Secret catalogctl cannot own.

    A binding whose Secret the state does not record would write it; if a
    Secret of that name exists and is not marked as this binding's, the write
    would fail after the bind (or, for a binding being replaced, after the
    unbind that revoked the credentials the Secret holds).  Secrets the state
    records are catalogctl's already and are not read.
    """
    if inputs is None:
        return
    wanted = []
    for res, binding in inputs.desired.of_type(ServiceBinding):
        ns = res.address.namespace
        name = binding.effective_secret_name
        if state.get(f"Secret/{ns}/{name}") is None:
            wanted.append((str(res.address), ns, name))
    _refuse_foreign_secrets(wanted, cluster)


def check_plan_secrets(plan: Plan, cluster: ClusterPort) -> None:
    """Refuse a saved plan that would write a Secret catalogctl does not own (any more).

    The plan was checked when it was made; a Secret created or taken over
    since then must not be found only after its binding was replaced.
    """
    if plan.mode is not Mode.NORMAL:
        return
    wanted = []
    for change in plan.actionable:
        binding = (change.private or {}).get("binding")
        if change.kind == "Secret" and change.action is not Action.DELETE and binding:
            _, ns, name = change.address.split("/")
            wanted.append((str(binding), ns, name))
    _refuse_foreign_secrets(wanted, cluster)


def _refuse_foreign_secrets(wanted: list[tuple[str, str, str]], cluster: ClusterPort) -> None:
    """Raise OwnershipError naming every (binding, namespace, name) whose Secret exists
    and is not marked as that binding's."""
    if not wanted:
        return
    with ThreadPoolExecutor(max_workers=min(_OWNERSHIP_READS, len(wanted))) as pool:
        seen = list(pool.map(lambda w: cluster.observe_binding_secret(w[1], w[2]), wanted))
    problems = []
    for (binding_address, ns, name), observation in zip(wanted, seen, strict=True):
        if not observation.exists or observation.owner == binding_address:
            continue
        controller = observation.controller or ""
        if controller.startswith("ServiceBinding " + _SERVICE_CATALOG_GROUP):
            problems.append(
                f"Secret {ns}/{name} of {binding_address} is written by Service Catalog "
                f"(ownerReference {controller}); run `catalogctl migrate service-catalog` "
                "to adopt it with its binding, or choose another spec.secretName"
            )
        elif observation.owner is not None:
            problems.append(
                f"Secret {ns}/{name} of {binding_address} is owned by {observation.owner}; "
                "give one of them another spec.secretName"
            )
        else:
            problems.append(
                f"Secret {ns}/{name} of {binding_address} exists but is not managed by "
                "catalogctl; delete or rename it, or choose another spec.secretName"
            )
    if problems:
        raise OwnershipError("; ".join(problems))
