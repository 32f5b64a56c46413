"""The pure diff: (desired, state, observed) -> Plan.

No I/O happens here, so every rule of what catalogctl decides is testable with
plain values: create what is new, update in place what the broker allows,
replace what is immutable, delete what left the configuration (bindings
before their instance), and say why for every resource, including no-ops.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from catalogctl.plan.inputs import DesiredResource, DiffOptions, ObservedResource
from catalogctl.plan.model import Action, Change, Drift, JSONPath, Mode, Plan
from catalogctl.plan.payloads import Payload, RotationHints, UpdateHints
from catalogctl.state.models import ResourceState, ResourceStatus, State, retiring_text

_KIND_ORDER = {
    "ClusterServiceBroker": 0,
    "ServiceBroker": 1,
    "ServiceInstance": 2,
    "ServiceBinding": 3,
    "Secret": 4,
    "PodMapping": 5,
}


@dataclass(frozen=True)
class _Decision:
    action: Action
    reason: str
    requires_replace: tuple[JSONPath, ...] = ()
    private: Mapping[str, Any] | None = None


def _sort_key(address: str) -> tuple[int, str]:
    return (_KIND_ORDER.get(address.split("/")[0], 9), address)


def state_attributes(res: ResourceState) -> dict[str, Any]:
    """The before-value of a resource in state, shaped like DesiredResource.attributes."""
    display = res.attributes.get("display")
    attrs: dict[str, Any] = dict(display) if isinstance(display, dict) else {}
    if res.kind == "ServiceInstance":
        attrs.update(
            broker=res.broker,
            service_id=res.service_id,
            plan_id=res.plan_id,
            instance_id=res.instance_id,
            dashboard_url=res.dashboard_url,
        )
        attrs["parameters"] = _shown_parameters(res)
    elif res.kind == "ServiceBinding":
        attrs.update(binding_id=res.binding_id, credentials=None)
        attrs["parameters"] = _shown_parameters(res)
    return attrs


def _shown_parameters(res: ResourceState) -> dict[str, Any]:
    """Stored parameters with each sensitive key as None; state's own dict when there are none."""
    if not res.sensitive_parameter_keys:
        return res.parameters  # state is frozen: sharing saves a copy per resource
    return {**res.parameters, **dict.fromkeys(res.sensitive_parameter_keys)}


def _state_sensitive(res: ResourceState) -> tuple[JSONPath, ...]:
    paths: list[JSONPath] = [("parameters", k) for k in res.sensitive_parameter_keys]
    if res.kind == "ServiceBinding":
        paths.append(("credentials",))
    if res.kind == "Secret":
        keys = res.attributes.get("keys") or []
        assert isinstance(keys, list)
        paths.extend(("data", str(k)) for k in keys)
    return tuple(paths)


def _unfinished_create(
    s: ResourceState, verb: str, noun: str, osb_id: str | None, *tainted: ResourceStatus
) -> _Decision | None:
    """A provision or bind that did not finish: resumed with its recorded id, or replaced."""
    if s.status is ResourceStatus.CREATING:
        return _Decision(
            Action.CREATE,
            f"resuming the interrupted {verb} of {noun} {osb_id}"
            if s.operation is not None
            else f"{verb}ing again with the id of the failed attempt, {osb_id}",
            private={"resume": True},
        )
    if s.status in (ResourceStatus.TAINTED, *tainted) or s.orphan_mitigation_pending:
        why = f"is tainted (its {verb} failed or was interrupted), so must be replaced"
        return _Decision(Action.REPLACE, why)
    return None


def _decide_instance(
    d: DesiredResource,
    s: ResourceState,
    o: ObservedResource | None,
    upstream: Action | None,
    upstream_state: ResourceState | None,
    opts: DiffOptions,
) -> _Decision:
    unfinished = _unfinished_create(s, "provision", "instance", s.instance_id)
    if unfinished is not None:
        return unfinished
    if s.status is ResourceStatus.DELETING:
        return _Decision(
            Action.REPLACE, "an interrupted deprovision must finish before it is provisioned again"
        )
    if o is not None and o.exists is False:
        return _Decision(
            Action.CREATE,
            f"was deleted outside catalogctl ({o.detail or 'the broker no longer has it'})",
        )
    if d.identity.get("broker") != s.broker or d.identity.get("service_id") != s.service_id:
        return _Decision(
            Action.REPLACE,
            "its service class changed, and a class cannot be changed in place",
            requires_replace=(("class",), ("service_id",)),
        )
    plan_changed, upgrade, update_keys = False, False, set()
    reasons: list[str] = []
    if d.plan_id != s.plan_id:
        if not d.plan_updateable:
            return _Decision(
                Action.REPLACE,
                "its plan changed and the plan is not plan_updateable",
                requires_replace=(("plan",), ("plan_id",)),
            )
        reasons.append("plan changed")
        plan_changed = True
    live_plan = o.attributes.get("plan_id") if o is not None else None
    if live_plan and live_plan != d.plan_id and d.plan_id == s.plan_id and d.plan_updateable:
        reasons.append("plan changed outside catalogctl")
        plan_changed = True
    changed = _changed_parameter_keys(d, s)
    forcing = [k for k in changed if k in d.create_only_keys]
    if forcing and d.parameters_checksum != (s.parameters_checksum or ""):
        return _Decision(
            Action.REPLACE,
            f"{', '.join(forcing)} can only be set when an instance is created "
            "(the plan's update schema does not accept "
            f"{'it' if len(forcing) == 1 else 'them'})",
            requires_replace=tuple(("parameters", k) for k in forcing),
        )
    if d.parameters_checksum != (s.parameters_checksum or ""):
        reasons.append("parameters changed")
        update_keys.update(changed)
    if o is not None and o.attributes.get("parameters") is not None:
        live = o.attributes["parameters"]
        # Drift is a live value that differs from what catalogctl last set (state), not
        # from the configuration: a key the user just edited is not "changed outside".
        # Only keys state knows the value of can have drifted, as `drift` reports them.
        drifted = sorted(
            k
            for k, v in d.parameters.items()
            if k in live and k in s.parameters and live[k] != v and live[k] != s.parameters[k]
        )
        if drifted:
            reasons.append("parameters changed outside catalogctl")
            update_keys.update(drifted)
    raw_requests = s.attributes.get("update_requests", 0)
    previous_requests = raw_requests if isinstance(raw_requests, int) else 0
    if d.update_requests > previous_requests:
        reasons.append(f"updateRequests increased ({previous_requests} -> {d.update_requests})")
    if (
        opts.upgrade
        and d.maintenance_info_version
        and s.maintenance_info_version
        and d.maintenance_info_version != s.maintenance_info_version
    ):
        reasons.append(
            f"maintenance upgrade {s.maintenance_info_version} -> {d.maintenance_info_version}"
        )
        upgrade = True
    if reasons:
        hints = UpdateHints(tuple(sorted(update_keys)), plan_changed, upgrade)
        return _Decision(Action.UPDATE, "; ".join(reasons), private=hints.to_private())
    moved = _sensitivity_moved(d, s)
    if moved:
        return _Decision(
            Action.UPDATE,
            f"{moved}; only state changes, nothing is sent to the broker",
            private=UpdateHints(state_only=True).to_private(),
        )
    return _Decision(Action.NOOP, "matches the configuration")


def _sensitivity_moved(d: DesiredResource, s: ResourceState) -> str:
    """Why the same values now come from other places (empty when they do not)."""
    now, before = set(d.sensitive_parameter_keys), set(s.sensitive_parameter_keys)
    parts = []
    if before - now:
        parts.append(", ".join(sorted(before - now)) + " no longer from a Secret")
    if now - before:
        parts.append(", ".join(sorted(now - before)) + " now from a Secret")
    return "; ".join(parts)


def _changed_parameter_keys(d: DesiredResource, s: ResourceState) -> list[str]:
    """Top-level keys whose value differs.

    Sensitive keys count as changed whenever the checksum moved: their values are not known.
    """
    keys = (
        set(d.parameters)
        | set(s.parameters)
        | set(d.sensitive_parameter_keys)
        | set(s.sensitive_parameter_keys)
    )
    checksum_moved = d.parameters_checksum != (s.parameters_checksum or "")
    out = []
    for key in keys:
        if key in d.sensitive_parameter_keys or key in s.sensitive_parameter_keys:
            if checksum_moved:
                out.append(key)
        elif d.parameters.get(key, _MISSING) != s.parameters.get(key, _MISSING):
            out.append(key)
    return sorted(out)


_MISSING = object()


def _decide_binding(
    d: DesiredResource,
    s: ResourceState,
    o: ObservedResource | None,
    instance: Action | None,
    instance_state: ResourceState | None,
    opts: DiffOptions,
) -> _Decision:
    if s.retiring and s.status is not ResourceStatus.READY:
        resumed = _resume_rotation(d, s)
        if resumed is not None:
            return resumed
    # An interrupted unbind is a binding to replace: bindings are never updated.
    unfinished = _unfinished_create(s, "bind", "binding", s.binding_id, ResourceStatus.DELETING)
    if unfinished is not None:
        return unfinished
    if instance is Action.REPLACE or (instance is Action.CREATE and s is not None):
        return _Decision(
            Action.REPLACE, "its instance is replaced", requires_replace=(("instance",),)
        )
    if d.checksum != str(s.attributes.get("checksum", "")):
        return _Decision(
            Action.REPLACE,
            "its spec changed, and bindings are immutable",
            requires_replace=(("parameters",),),
        )
    if o is not None and o.exists is False:
        return _Decision(
            Action.CREATE,
            f"was deleted outside catalogctl ({o.detail or 'the broker no longer has it'})",
        )
    return _Decision(Action.NOOP, "matches the configuration")


def _decide_secret(
    d: DesiredResource,
    s: ResourceState,
    o: ObservedResource | None,
    binding: Action | None,
    bound: ResourceState | None,
    opts: DiffOptions,
) -> _Decision:
    if binding is not None and binding.creates:
        return _Decision(Action.UPDATE, "its binding's credentials will change")
    if s.status is not ResourceStatus.READY:
        return _Decision(
            Action.UPDATE, "a previous write did not finish", private={"refetch": True}
        )
    written_from = s.attributes.get("binding_id")
    if (
        bound is not None
        and bound.binding_id
        and isinstance(written_from, str)
        and written_from != bound.binding_id
    ):
        # A run stopped between the bind and the Secret write: the Secret still
        # holds the credentials of the binding before (revoked, if it was unbound).
        return _Decision(
            Action.UPDATE,
            f"it holds the credentials of binding {written_from}, not of {bound.binding_id}",
            private={"refetch": True, "new_data": True},
        )
    if d.checksum != str(s.attributes.get("checksum", "")):
        return _Decision(
            Action.UPDATE,
            "its secretTransforms changed",
            private={"refetch": True, "new_data": True},
        )
    if o is not None and o.exists is False:
        return _Decision(Action.CREATE, "was deleted outside catalogctl", private={"refetch": True})
    if (
        o is not None
        and o.content_hash is not None
        and o.content_hash != s.attributes.get("data_hash")
    ):
        return _Decision(Action.UPDATE, "was edited outside catalogctl", private={"refetch": True})
    return _Decision(Action.NOOP, "matches the configuration")


def _decide_mapping(
    d: DesiredResource,
    s: ResourceState,
    o: ObservedResource | None,
    upstream: Action | None,
    upstream_state: ResourceState | None,
    opts: DiffOptions,
) -> _Decision:
    if d.identity.get("target") != s.attributes.get("target"):
        return _Decision(
            Action.REPLACE, "its target workload changed", requires_replace=(("target",),)
        )
    if d.checksum != str(s.attributes.get("checksum", "")):
        return _Decision(Action.UPDATE, "its mapping changed")
    if o is not None and o.exists is False:
        return _Decision(
            Action.CREATE, f"was removed from the workload outside catalogctl ({o.detail})"
        )
    if o is not None and o.missing:
        return _Decision(
            Action.UPDATE,
            "entries were removed from the workload outside catalogctl: " + ", ".join(o.missing),
        )
    return _Decision(Action.NOOP, "matches the configuration")


def credentials_age(s: ResourceState, now: datetime) -> timedelta:
    """How long ago a binding's credentials were issued (its bind, as recorded in state).

    ``bound_at`` is recorded when a bind succeeds; a binding from before that
    was recorded counts from its last state update, which is never earlier.
    """
    raw = s.attributes.get("bound_at")
    bound_at = s.updated_at
    if isinstance(raw, str):
        with contextlib.suppress(ValueError):  # unreadable: the update time stands in
            bound_at = datetime.fromisoformat(raw)
    return now - bound_at


def span_text(value: timedelta) -> str:
    """``30d``, ``36h``, ``90m`` or ``45s``: the largest unit that keeps it a whole number."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _rotate_when_old(s: ResourceState, opts: DiffOptions) -> _Decision | None:
    """A replacement of a binding whose credentials are older than ``--rotate-older-than``."""
    if opts.rotate_older_than is None or opts.now is None or s.status is not ResourceStatus.READY:
        return None
    age = credentials_age(s, opts.now)
    if age <= opts.rotate_older_than:
        return None
    if age.days:
        whole = timedelta(days=age.days)
    elif age >= timedelta(hours=1):
        whole = timedelta(hours=age // timedelta(hours=1))
    else:
        whole = timedelta(minutes=age // timedelta(minutes=1))
    return _Decision(
        Action.REPLACE,
        f"its credentials are {span_text(whole)} old, older than --rotate-older-than "
        f"{span_text(opts.rotate_older_than)}",
        private={"rotation": "age"},
    )


def _resume_rotation(d: DesiredResource, s: ResourceState) -> _Decision | None:
    """An interrupted create-before-destroy rotation whose new binding is not bound yet.

    The retiring bindings still hold the Secret's credentials, so the new one
    is finished first (its bind resumed, or orphan-mitigated and sent again
    with the same id) and they are unbound after.  With ``destroy-first`` set
    since, everything is unbound first instead.
    """
    old = retiring_text(s.retiring)
    if d.rotation == "destroy-first":
        return _Decision(
            Action.REPLACE,
            f"an interrupted rotation is finished destroy-first (spec.rotation): {old} and "
            f"binding {s.binding_id} are unbound, then it is bound again",
        )
    if s.status is ResourceStatus.CREATING:
        return _Decision(
            Action.CREATE_THEN_DELETE,
            f"resuming an interrupted rotation: the bind of binding {s.binding_id}, "
            f"then {old} is unbound",
            private={"resume": True},
        )
    if s.status is ResourceStatus.TAINTED or s.orphan_mitigation_pending:
        return _Decision(
            Action.CREATE_THEN_DELETE,
            f"resuming an interrupted rotation: binding {s.binding_id} may exist at the broker, "
            f"so it is orphan-mitigated and bound again, then {old} is unbound",
            private={"resume": True},
        )
    return None


def _rotation(
    d: DesiredResource,
    s: ResourceState,
    decision: _Decision,
    decisions: Mapping[str, _Decision],
    wanted: Mapping[str, DesiredResource],
) -> _Decision:
    """Create before destroy: a replaced binding is bound anew before the old one is unbound.

    The old binding keeps the Secret's credentials valid until the new ones
    are written and the workloads rolled; it is unbound last.  Replacements
    stay destroy-first when that cannot work: ``spec.rotation: destroy-first``,
    a binding not bound now (nothing to keep), its instance replaced (the old
    binding goes with the old instance), or a ``spec.externalID`` that fixes
    the binding id to the one bound now (an id is bound once).  A binding an
    interrupted rotation left with bindings to unbind finishes that.
    """
    if decision.action is Action.REPLACE:
        source = decisions.get(d.depends_on[0]) if d.depends_on else None
        if (
            d.rotation != "destroy-first"
            and s.status is ResourceStatus.READY
            and s.binding_id
            and not s.orphan_mitigation_pending
            and (source is None or source.action in (Action.NOOP, Action.UPDATE))
            and not (d.external_id and d.external_id == s.binding_id)
        ):
            workloads = _rolling_workloads(d.address, wanted)
            secrets = _secrets_of(d.address, wanted)
            steps = ["bind a new binding", *(f"write {a}" for a in secrets)]
            steps += [f"roll {w}" for w in workloads]
            old = [*(r.binding_id for r in s.retiring), s.binding_id]
            noun = "binding" if len(old) == 1 else "bindings"
            steps.append(f"unbind {noun} {', '.join(old)}")
            return _Decision(
                Action.CREATE_THEN_DELETE,
                f"{decision.reason}; create before destroy: " + ", then ".join(steps),
                decision.requires_replace,
                {**(decision.private or {}), **RotationHints(True, workloads).to_private()},
            )
        return decision
    if not s.retiring:
        return decision
    if decision.action is Action.NOOP:
        decision = _Decision(
            Action.UPDATE,
            f"finishing an interrupted rotation: {retiring_text(s.retiring)} is unbound "
            "(the Secret already holds the new binding's credentials)",
        )
    if decision.action in (Action.CREATE, Action.UPDATE, Action.CREATE_THEN_DELETE):
        hints = RotationHints(True, _rolling_workloads(d.address, wanted))
        return replace(decision, private={**(decision.private or {}), **hints.to_private()})
    return decision


def _secrets_of(binding: str, wanted: Mapping[str, DesiredResource]) -> list[str]:
    """Addresses of the binding Secrets ``binding`` produces, in configuration order."""
    return [a for a, w in wanted.items() if w.producer == binding]


def _rolling_workloads(binding: str, wanted: Mapping[str, DesiredResource]) -> tuple[str, ...]:
    """``Kind/namespace/name`` of the workloads mapped to ``binding``'s Secrets that roll."""
    secrets = _secrets_of(binding, wanted)
    ns = binding.split("/")[1]
    found = set()
    for w in wanted.values():
        target = str(w.identity.get("target", ""))
        if (
            w.kind == "PodMapping"
            and w.depends_on
            and w.depends_on[0] in secrets
            and w.attributes.get("rollout", True)
            and target
            and not target.startswith("Job/")
        ):
            kind, _, name = target.partition("/")
            found.add(f"{kind}/{ns}/{name}")
    return tuple(sorted(found))


def _rollout(
    d: DesiredResource,
    state: State,
    decision: _Decision,
    decisions: Mapping[str, _Decision],
    wanted: Mapping[str, DesiredResource],
) -> _Decision:
    """A mapped workload rolls when its Secret gets new data: the mapping is re-applied.

    New data means new credentials (the binding is created or replaced) or
    changed secretTransforms.  Apply then writes the Secret's new revision into
    the pod template, which is what rolls the workload.  A Secret restored to
    the data in state (deleted or edited outside catalogctl) keeps its
    revision and rolls nothing.  Also catches up a workload whose recorded
    revision is behind the Secret's (a run stopped between the two writes).
    """
    s = state.get(d.address)
    target = str(d.identity.get("target", ""))
    if (
        s is None
        or decision.action not in (Action.NOOP, Action.UPDATE)
        or not d.attributes.get("rollout", True)
        or target.startswith("Job/")  # a Job's pod template cannot change
        or not d.depends_on
    ):
        return decision
    secret = d.depends_on[0]
    rewrite = decisions.get(secret)
    producer = wanted[secret].producer if secret in wanted else None
    rebind = decisions.get(producer) if producer else None
    why = None
    if rebind is not None and rebind.action.creates:
        why = f"{target} will roll: new credentials go into {secret}"
    elif rewrite is not None and (rewrite.private or {}).get("new_data"):
        why = f"{target} will roll: {secret} gets new data ({rewrite.reason})"
    else:
        recorded = s.attributes.get("secret_revision")
        secret_state = state.get(secret)
        current = secret_state.attributes.get("revision") if secret_state is not None else None
        if isinstance(recorded, int) and isinstance(current, int) and recorded != current:
            why = (
                f"{target} will roll: {secret} is at revision {current}, "
                f"the workload's pod template at {recorded}"
            )
    if why is None:
        return decision
    reason = why if decision.action is Action.NOOP else f"{decision.reason}; {why}"
    private = {**(decision.private or {}), "rollout": True}
    return _Decision(Action.UPDATE, reason, decision.requires_replace, private)


def _instance_drift(address: str, s: ResourceState, o: ObservedResource) -> list[Drift]:
    """Plan and parameter changes made at the broker (both are reported when both happen)."""
    found = []
    live_plan = o.attributes.get("plan_id")
    if live_plan and live_plan != s.plan_id:
        found.append(
            Drift(
                address,
                s.kind,
                "changed",
                "plan changed at the broker",
                before={"plan_id": s.plan_id},
                after={"plan_id": live_plan},
            )
        )
    live = o.attributes.get("parameters")
    if isinstance(live, dict):
        changed = sorted(k for k, v in s.parameters.items() if k in live and live[k] != v)
        if changed:
            found.append(
                Drift(
                    address,
                    s.kind,
                    "changed",
                    "parameters changed at the broker: " + ", ".join(changed),
                    before={k: s.parameters[k] for k in changed},
                    after={k: live[k] for k in changed},
                )
            )
    return found


def _drift(state: State, observed: Mapping[str, ObservedResource]) -> list[Drift]:
    out = []
    for address in sorted(observed, key=_sort_key):
        o = observed[address]
        s = state.get(address)
        if s is None:
            continue
        if o.exists is False:
            out.append(Drift(address, s.kind, "deleted", o.detail or "no longer exists"))
        elif o.missing:
            out.append(
                Drift(address, s.kind, "changed", "missing entries: " + ", ".join(o.missing))
            )
        elif (
            o.content_hash is not None
            and s.kind == "Secret"
            and o.content_hash != s.attributes.get("data_hash")
        ):
            out.append(Drift(address, s.kind, "changed", "its data was edited"))
        elif s.kind == "ServiceInstance":
            out.extend(_instance_drift(address, s, o))
    return out


_Decide = Callable[
    [
        DesiredResource,
        ResourceState,
        ObservedResource | None,
        Action | None,
        ResourceState | None,
        DiffOptions,
    ],
    _Decision,
]

#: How each managed kind is decided, given what happens to the resource it is made
#: from (its first dependency) and that resource's state.
_DECIDE: dict[str, _Decide] = {
    "ServiceInstance": _decide_instance,
    "ServiceBinding": _decide_binding,
    "Secret": _decide_secret,
    "PodMapping": _decide_mapping,
}

#: Kinds ``--replace`` can name (a Secret is replaced with its binding).
_REPLACEABLE = frozenset({"ServiceInstance", "ServiceBinding", "PodMapping"})


def compute_plan(
    desired: Mapping[str, DesiredResource],
    state: State,
    observed: Mapping[str, ObservedResource],
    options: DiffOptions | None = None,
    *,
    created_at: str = "",
    version: str = "",
    upgrades_available: tuple[str, ...] = (),
    private: Mapping[str, Callable[[], Payload]] | None = None,
) -> Plan:
    """Compute the plan.  Pure: same inputs, same plan.

    ``private`` builds, per address, what apply needs and the plan does not
    show (specs, broker records).  A change apply acts on carries it, under
    what the decision itself adds, and so does every broker (apply reaches
    brokers as they are configured now); a no-op change has no use for it,
    so it is not built.
    """
    carried = private or {}
    options = options or DiffOptions()
    drift = tuple(_drift(state, observed))
    mode = (
        Mode.DESTROY
        if options.destroy
        else Mode.REFRESH_ONLY
        if options.refresh_only
        else Mode.NORMAL
    )
    changes: dict[str, Change] = {}
    wanted = {} if options.destroy else dict(desired)

    decisions: dict[str, _Decision] = {}
    for address in sorted(wanted, key=_sort_key):  # instances before bindings before Secrets
        d = wanted[address]
        s = state.get(address)
        o = observed.get(address)
        decide = _DECIDE.get(d.kind)
        if decide is None:
            decision = _Decision(Action.NOOP, "brokers are read, not changed")
        elif s is None:
            decision = _Decision(Action.CREATE, "is not in the state")
        else:
            # What happens to the resource this one is made from (its first dependency).
            source = d.depends_on[0] if d.depends_on else None
            upstream = decisions.get(source) if source else None
            decision = decide(
                d,
                s,
                o,
                upstream.action if upstream else None,
                state.get(source) if source else None,
                options,
            )
        if (
            address in options.replace
            and d.kind in _REPLACEABLE
            and s is not None
            and decision.action in (Action.NOOP, Action.UPDATE)
        ):
            decision = _Decision(Action.REPLACE, "will be replaced, as requested (--replace)")
        if d.kind == "ServiceBinding" and s is not None and decision.action is Action.NOOP:
            decision = _rotate_when_old(s, options) or decision
        decisions[address] = decision

    # A Secret that must be rewritten needs the binding's credentials: if the
    # broker cannot return them again, the binding itself is replaced.
    for address, decision in list(decisions.items()):
        d = wanted[address]
        if d.kind != "Secret" or decision.action is Action.NOOP or not d.producer:
            continue
        produced_by = decisions.get(d.producer)
        if produced_by is None or produced_by.action.creates:
            continue
        if not wanted[d.producer].retrievable:
            decisions[d.producer] = _Decision(
                Action.REPLACE,
                f"{address} must be rewritten ({decision.reason}) and the broker cannot return the "
                "credentials again (bindings_retrievable is false), so the binding is replaced",
            )
            decisions[address] = _Decision(Action.UPDATE, "its binding's credentials will change")
        else:
            decisions[address] = replace(
                decision, private={**(decision.private or {}), "refetch": True}
            )

    for address, decision in list(decisions.items()):
        d = wanted[address]
        s = state.get(address)
        if d.kind == "ServiceBinding" and s is not None:
            decisions[address] = _rotation(d, s, decision, decisions, wanted)

    for address, decision in list(decisions.items()):
        d = wanted[address]
        if d.kind == "PodMapping":
            decisions[address] = _rollout(d, state, decision, decisions, wanted)

    for address, decision in decisions.items():
        d = wanted[address]
        s = state.get(address)
        needed = decision.action is not Action.NOOP or d.kind not in _DECIDE
        changes[address] = _change(d, s, decision, _built(carried, address) if needed else None)

    for address in state.addresses():
        if address in wanted:
            continue
        s = state.resources[address]
        reason = "destroy requested" if options.destroy else "is not in the configuration"
        if s.status is ResourceStatus.DELETING:
            reason = "resuming an interrupted delete"
        changes[address] = Change(
            address=address,
            kind=s.kind,
            action=Action.DELETE,
            reason=reason,
            before=state_attributes(s),
            after=None,
            sensitive_paths=_state_sensitive(s),
            depends_on=tuple(s.depends_on),
            private=_built(carried, address),
        )

    if options.refresh_only:
        changes = {
            a: replace(c, action=Action.NOOP, reason="refresh-only: no changes are planned")
            for a, c in changes.items()
        }
    if options.targets is not None:
        targets = set(options.targets)
        if options.destroy:
            # Destroying a target destroys what depends on it (never what it depends on).
            targets |= _state_dependents(state, targets)
        left_out = {
            a for a, c in changes.items() if a not in targets and c.action is not Action.NOOP
        }
        changes = {a: _held(c, left_out, wanted) for a, c in changes.items() if a in targets}
    ordered = tuple(changes[a] for a in sorted(changes, key=_sort_key))
    return Plan(
        mode=mode,
        lineage=state.lineage,
        serial=state.serial,
        changes=ordered,
        drift=drift,
        upgrades_available=upgrades_available,
        created_at=created_at,
        catalogctl_version=version,
    )


def _built(private: Mapping[str, Callable[[], Payload]], address: str) -> dict[str, Any]:
    build = private.get(address)
    return build().to_private() if build is not None else {}


#: Stands, in a plan's after-value, for a sensitive parameter whose value changed, so
#: the views show its key (``~ retentionHours = (sensitive value)``). It is never a value.
SENSITIVE_CHANGED = "(changed)"


def _mark_changed_secrets(
    after: dict[str, Any], d: DesiredResource, s: ResourceState, decision: _Decision
) -> dict[str, Any]:
    changed = UpdateHints.from_private(decision.private or {}).changed_keys
    hidden = set(d.sensitive_parameter_keys) | set(s.sensitive_parameter_keys)
    keys = [k for k in changed if k in hidden and k in d.sensitive_parameter_keys]
    params = after.get("parameters")
    if not keys or not isinstance(params, dict):
        return after
    return {**after, "parameters": {**params, **dict.fromkeys(keys, SENSITIVE_CHANGED)}}


def _held(change: Change, left_out: set[str], wanted: Mapping[str, DesiredResource]) -> Change:
    """A rotation whose Secret or mappings are not targeted keeps its old binding bound.

    Unbinding it would revoke the credentials the Secret still holds; the
    next apply that writes the Secret finishes the rotation.
    """
    hints = RotationHints.from_private(change.private)
    if change.kind != "ServiceBinding" or not hints.retire:
        return change
    secrets = set(_secrets_of(change.address, wanted))
    made = secrets | {a for a, w in wanted.items() if w.depends_on and w.depends_on[0] in secrets}
    skipped = sorted(made & left_out)
    if not skipped:
        return change
    held = RotationHints(False, hints.workloads).to_private()
    return replace(
        change,
        reason=f"{change.reason}; the old binding stays bound: {', '.join(skipped)} "
        "not targeted",
        private={**change.private, **held},
    )


def _state_dependents(state: State, roots: set[str]) -> set[str]:
    """Every resource in state that (transitively) depends on one of ``roots``."""
    dependents: dict[str, list[str]] = {}
    for address, res in state.resources.items():
        for dep in res.depends_on:
            dependents.setdefault(dep, []).append(address)
    found: set[str] = set()
    todo = list(roots)
    while todo:
        for child in dependents.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


#: What the broker assigns when a kind is created: unknown until a fresh create is applied.
_ASSIGNED = {"ServiceInstance": ("instance_id", "dashboard_url"), "ServiceBinding": ("binding_id",)}


def _change(
    d: DesiredResource,
    s: ResourceState | None,
    decision: _Decision,
    carried: Mapping[str, Any] | None,
) -> Change:
    before = state_attributes(s) if s is not None else None
    after = dict(d.attributes)
    unknown: list[JSONPath] = []
    if d.kind == "ServiceBinding":
        after["credentials"] = None  # never known to the plan
    fresh = decision.action.creates
    fresh = fresh and not (decision.private or {}).get("resume")
    for key in _ASSIGNED.get(d.kind, ()):
        if fresh:
            after[key] = None
            unknown.append((key,))
        elif s is not None:
            after[key] = getattr(s, key)
    if d.kind == "ServiceBinding" and fresh:
        unknown.append(("credentials",))
    elif d.kind == "Secret" and decision.action is not Action.NOOP:
        after["data"] = None
        unknown.append(("data",))
    sensitive = tuple(
        dict.fromkeys(list(d.sensitive_paths) + (list(_state_sensitive(s)) if s else []))
    )
    if s is not None and decision.action is not Action.NOOP:
        after = _mark_changed_secrets(after, d, s, decision)
    return Change(
        address=d.address,
        kind=d.kind,
        action=decision.action,
        reason=decision.reason,
        before=before,
        after=after,
        after_unknown=tuple(unknown),
        sensitive_paths=sensitive,
        requires_replace=decision.requires_replace,
        depends_on=d.depends_on,
        private={**(carried or {}), **(decision.private or {})},
    )
