"""The pure diff's rules, pinned with plain values (no brokers, no cluster)."""

from __future__ import annotations

from typing import Any

from catalogctl.plan.diff import compute_plan
from catalogctl.plan.inputs import DesiredResource, DiffOptions, ObservedResource
from catalogctl.plan.model import Action, Mode
from catalogctl.state.models import ResourceState, ResourceStatus, State

INST = "ServiceInstance/apps/db"
BIND = "ServiceBinding/apps/db-binding"
C1, C2, C9 = "1" * 64, "2" * 64, "9" * 64
SECRET = "Secret/apps/db-binding"
MAP = "PodMapping/apps/web-db"
BROKER = "ClusterServiceBroker/cloud"


def instance(**over: Any) -> DesiredResource:
    fields: dict[str, Any] = dict(
        address=INST,
        kind="ServiceInstance",
        attributes={"broker": BROKER, "class": "db", "plan": "small", "parameters": {"size": 1}},
        identity={"broker": BROKER, "service_id": "svc"},
        plan_id="small-id",
        plan_updateable=True,
        parameters={"size": 1},
        parameters_checksum=C1,
        depends_on=(BROKER,),
    )
    fields.update(over)
    return DesiredResource(**fields)


def binding(**over: Any) -> DesiredResource:
    fields: dict[str, Any] = dict(
        address=BIND,
        kind="ServiceBinding",
        attributes={"instance": INST},
        identity={"instance": INST},
        checksum="b1",
        depends_on=(INST,),
        retrievable=True,
    )
    fields.update(over)
    return DesiredResource(**fields)


def secret(**over: Any) -> DesiredResource:
    fields: dict[str, Any] = dict(
        address=SECRET,
        kind="Secret",
        attributes={"name": "db-binding"},
        checksum="t1",
        depends_on=(BIND,),
        producer=BIND,
    )
    fields.update(over)
    return DesiredResource(**fields)


def mapping(**over: Any) -> DesiredResource:
    fields: dict[str, Any] = dict(
        address=MAP,
        kind="PodMapping",
        attributes={"target": "Deployment/web"},
        identity={"target": "Deployment/web"},
        checksum="m1",
        depends_on=(SECRET,),
    )
    fields.update(over)
    return DesiredResource(**fields)


def desired(*resources: DesiredResource) -> dict[str, DesiredResource]:
    return {r.address: r for r in resources}


def applied_state(**over: dict[str, Any]) -> State:
    resources = [
        ResourceState(
            address=INST,
            kind="ServiceInstance",
            broker=BROKER,
            service_id="svc",
            plan_id="small-id",
            instance_id="i-1",
            parameters={"size": 1},
            parameters_checksum=C1,
            **over.get("instance", {}),
        ),
        ResourceState(
            address=BIND,
            kind="ServiceBinding",
            broker=BROKER,
            instance_id="i-1",
            binding_id="b-1",
            attributes={"checksum": "b1", "bindings_retrievable": True},
            depends_on=(INST,),
            **over.get("binding", {}),
        ),
        ResourceState(
            address=SECRET,
            kind="Secret",
            attributes={"checksum": "t1", "data_hash": "h" * 64},
            depends_on=(BIND,),
        ),
        ResourceState(
            address=MAP,
            kind="PodMapping",
            attributes={"checksum": "m1", "target": "Deployment/web"},
            depends_on=(SECRET,),
        ),
    ]
    state = State.new()
    for r in resources:
        state = state.with_resource(r)
    return state


def actions(plan: Any) -> dict[str, Action]:
    return {c.address: c.action for c in plan.changes}


ALL = (instance(), binding(), secret(), mapping())


def test_everything_new_is_created_with_a_reason() -> None:
    plan = compute_plan(desired(*ALL), State.new(), {})
    assert actions(plan) == {
        INST: Action.CREATE,
        BIND: Action.CREATE,
        SECRET: Action.CREATE,
        MAP: Action.CREATE,
    }
    assert all(c.reason == "is not in the state" for c in plan.changes)
    inst = plan.change(INST)
    assert inst is not None and ("instance_id",) in inst.after_unknown


def test_no_changes_when_state_matches() -> None:
    plan = compute_plan(desired(*ALL), applied_state(), {})
    assert set(actions(plan).values()) == {Action.NOOP}
    assert not plan.has_changes
    assert all(c.reason for c in plan.changes)


def test_parameter_change_is_an_update_of_only_the_changed_keys() -> None:
    d = instance(parameters={"size": 2}, parameters_checksum=C2)
    plan = compute_plan(desired(d, binding(), secret(), mapping()), applied_state(), {})
    change = plan.change(INST)
    assert change is not None and change.action is Action.UPDATE
    assert change.private["changed_keys"] == ["size"]
    assert "parameters changed" in change.reason
    assert actions(plan)[BIND] is Action.NOOP


def test_plan_change_updates_in_place_only_when_plan_updateable() -> None:
    updateable = compute_plan(
        desired(instance(plan_id="big-id"), binding(), secret(), mapping()), applied_state(), {}
    )
    assert actions(updateable)[INST] is Action.UPDATE
    fixed = compute_plan(
        desired(instance(plan_id="big-id", plan_updateable=False), binding(), secret(), mapping()),
        applied_state(),
        {},
    )
    assert actions(fixed)[INST] is Action.REPLACE
    # Replacing the instance replaces its binding, and the Secret gets new credentials.
    assert actions(fixed)[BIND] is Action.REPLACE
    assert actions(fixed)[SECRET] is Action.UPDATE
    change = fixed.change(INST)
    assert change is not None and ("plan",) in change.requires_replace


def test_binding_spec_change_replaces_the_binding() -> None:
    plan = compute_plan(
        desired(instance(), binding(checksum="b2"), secret(), mapping()), applied_state(), {}
    )
    assert actions(plan)[BIND] is Action.CREATE_THEN_DELETE
    assert "immutable" in (plan.change(BIND) or _fail()).reason


def test_removed_resources_are_deleted() -> None:
    plan = compute_plan(desired(instance()), applied_state(), {})
    assert actions(plan)[BIND] is Action.DELETE
    assert actions(plan)[SECRET] is Action.DELETE
    assert actions(plan)[MAP] is Action.DELETE
    assert (plan.change(BIND) or _fail()).reason == "is not in the configuration"


def test_update_requests_bump_forces_an_update() -> None:
    state = applied_state(instance={"attributes": {"update_requests": 1}})
    plan = compute_plan(
        desired(instance(update_requests=2), binding(), secret(), mapping()), state, {}
    )
    assert actions(plan)[INST] is Action.UPDATE
    assert "updateRequests increased (1 -> 2)" in (plan.change(INST) or _fail()).reason


def test_maintenance_upgrade_only_with_upgrade_flag() -> None:
    state = applied_state(instance={"maintenance_info_version": "1.0.0"})
    d = desired(instance(maintenance_info_version="1.1.0"), binding(), secret(), mapping())
    assert actions(compute_plan(d, state, {}))[INST] is Action.NOOP
    plan = compute_plan(d, state, {}, DiffOptions(upgrade=True))
    assert actions(plan)[INST] is Action.UPDATE
    assert (plan.change(INST) or _fail()).private["upgrade"] is True


def test_deleted_secret_is_restored_by_refetching_credentials() -> None:
    observed = {SECRET: ObservedResource(SECRET, False, detail="the Secret no longer exists")}
    plan = compute_plan(desired(*ALL), applied_state(), observed)
    assert actions(plan)[SECRET] is Action.CREATE
    assert (plan.change(SECRET) or _fail()).private.get("refetch") is True
    assert actions(plan)[BIND] is Action.NOOP
    assert [d.what for d in plan.drift] == ["deleted"]


def test_edited_secret_replaces_binding_when_credentials_cannot_be_read_again() -> None:
    observed = {SECRET: ObservedResource(SECRET, True, content_hash="0" * 64)}
    plan = compute_plan(
        desired(instance(), binding(retrievable=False), secret(), mapping()),
        applied_state(),
        observed,
    )
    assert actions(plan)[BIND] is Action.CREATE_THEN_DELETE
    assert "bindings_retrievable is false" in (plan.change(BIND) or _fail()).reason
    assert actions(plan)[SECRET] is Action.UPDATE


def test_instance_gone_at_broker_is_created_again() -> None:
    observed = {INST: ObservedResource(INST, False, detail="the broker answered 404")}
    plan = compute_plan(desired(*ALL), applied_state(), observed)
    assert actions(plan)[INST] is Action.CREATE
    assert "deleted outside catalogctl" in (plan.change(INST) or _fail()).reason


def test_mapping_entries_removed_outside_are_restored() -> None:
    observed = {MAP: ObservedResource(MAP, True, missing=("env TOPIC",))}
    plan = compute_plan(desired(*ALL), applied_state(), observed)
    assert actions(plan)[MAP] is Action.UPDATE
    assert "env TOPIC" in (plan.change(MAP) or _fail()).reason


def test_interrupted_provision_is_resumed_with_the_same_id() -> None:
    state = applied_state(instance={"status": ResourceStatus.CREATING})
    plan = compute_plan(desired(*ALL), state, {})
    change = plan.change(INST) or _fail()
    assert change.action is Action.CREATE and change.private["resume"] is True
    assert "i-1" in change.reason


def test_tainted_instance_is_replaced() -> None:
    state = applied_state(
        instance={"status": ResourceStatus.TAINTED, "orphan_mitigation_pending": True}
    )
    assert actions(compute_plan(desired(*ALL), state, {}))[INST] is Action.REPLACE


def test_destroy_deletes_everything_in_state() -> None:
    plan = compute_plan(desired(*ALL), applied_state(), {}, DiffOptions(destroy=True))
    assert plan.mode is Mode.DESTROY
    assert set(actions(plan).values()) == {Action.DELETE}


def test_refresh_only_plans_no_changes_but_reports_drift() -> None:
    observed = {SECRET: ObservedResource(SECRET, False)}
    plan = compute_plan(
        desired(instance(parameters_checksum=C9), binding(), secret(), mapping()),
        applied_state(),
        observed,
        DiffOptions(refresh_only=True),
    )
    assert set(actions(plan).values()) == {Action.NOOP}
    assert plan.has_changes  # drift counts under refresh-only
    assert plan.drift[0].address == SECRET


def test_replace_flag_forces_replacement() -> None:
    plan = compute_plan(desired(*ALL), applied_state(), {}, DiffOptions(replace=frozenset({BIND})))
    assert actions(plan)[BIND] is Action.CREATE_THEN_DELETE
    assert "--replace" in (plan.change(BIND) or _fail()).reason


def test_targets_limit_the_plan() -> None:
    plan = compute_plan(desired(*ALL), State.new(), {}, DiffOptions(targets=frozenset({INST})))
    assert actions(plan) == {INST: Action.CREATE}


def test_sensitive_parameters_are_never_in_the_plan() -> None:
    d = instance(
        parameters={"size": 1},
        sensitive_parameter_keys=("password",),
        sensitive_paths=(("parameters", "password"),),
        attributes={"parameters": {"size": 1, "password": None}},
    )
    plan = compute_plan(desired(d), State.new(), {})
    assert "hunter2" not in plan.to_json()
    change = plan.change(INST) or _fail()
    assert ("parameters", "password") in change.sensitive_paths


def test_plan_round_trips_through_json() -> None:
    from catalogctl.plan.model import Plan

    plan = compute_plan(desired(*ALL), applied_state(), {SECRET: ObservedResource(SECRET, False)})
    assert Plan.from_dict(__import__("json").loads(plan.to_json())) == plan


def test_diff_is_pure_and_deterministic() -> None:
    state = applied_state()
    first = compute_plan(desired(*ALL), state, {})
    second = compute_plan(desired(*reversed(ALL)), state, {})
    assert first == second


def _fail() -> Any:
    raise AssertionError("change missing")


def test_plan_and_parameters_changed_at_the_broker_are_both_reported_and_restored() -> None:
    observed = {
        INST: ObservedResource(INST, True, {"plan_id": "big-id", "parameters": {"size": 9}})
    }
    plan = compute_plan(desired(*ALL), applied_state(), observed)
    assert sorted(d.detail for d in plan.drift) == [
        "parameters changed at the broker: size",
        "plan changed at the broker",
    ]
    change = plan.change(INST) or _fail()
    assert change.action is Action.UPDATE
    assert change.private["plan_changed"] is True
    assert change.private["changed_keys"] == ["size"]
