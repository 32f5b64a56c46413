"""The diff's rotation rules: which mapped workloads roll, and which bindings are old enough
to rotate (ages measured at an injected time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from catalogctl.plan.diff import compute_plan
from catalogctl.plan.inputs import DiffOptions
from catalogctl.plan.model import Action
from catalogctl.state.models import ResourceState, State
from tests.plan.test_diff import (
    ALL,
    BIND,
    MAP,
    SECRET,
    actions,
    applied_state,
    binding,
    desired,
    instance,
    mapping,
    secret,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _with(state: State, address: str, **attributes: object) -> State:
    res = state.resources[address]
    return state.with_resource(
        res.model_copy(update={"attributes": {**res.attributes, **attributes}})
    )


def _bound(state: State, days: float) -> State:
    return _with(state, BIND, bound_at=(NOW - timedelta(days=days)).isoformat())


def test_a_replaced_binding_rolls_its_mapped_workload() -> None:
    plan = compute_plan(desired(*ALL), applied_state(), {}, DiffOptions(replace=frozenset({BIND})))
    change = plan.change(MAP)
    assert change is not None and change.action is Action.UPDATE
    assert change.reason == f"Deployment/web will roll: new credentials go into {SECRET}"
    assert change.private["rollout"] is True


def test_a_mapping_that_opted_out_does_not_roll() -> None:
    d = desired(instance(), binding(), secret(), mapping(attributes={"rollout": False}))
    plan = compute_plan(d, applied_state(), {}, DiffOptions(replace=frozenset({BIND})))
    assert actions(plan)[MAP] is Action.NOOP


def test_a_job_never_rolls() -> None:
    d = desired(instance(), binding(), secret(), mapping(identity={"target": "Job/once"}))
    state = _with(applied_state(), MAP, target="Job/once")
    plan = compute_plan(d, state, {}, DiffOptions(replace=frozenset({BIND})))
    assert actions(plan)[MAP] is Action.NOOP


def test_changed_transforms_roll_but_a_restored_secret_does_not() -> None:
    plan = compute_plan(
        desired(instance(), binding(), secret(checksum="t2"), mapping()), applied_state(), {}
    )
    assert actions(plan)[SECRET] is Action.UPDATE
    assert actions(plan)[MAP] is Action.UPDATE
    assert "its secretTransforms changed" in (plan.change(MAP) or _fail()).reason
    from catalogctl.plan.inputs import ObservedResource

    gone = {SECRET: ObservedResource(SECRET, False, detail="the Secret no longer exists")}
    plan = compute_plan(desired(*ALL), applied_state(), gone)
    assert actions(plan)[SECRET] is Action.CREATE
    assert actions(plan)[MAP] is Action.NOOP


def test_a_workload_behind_its_secret_catches_up() -> None:
    state = _with(_with(applied_state(), SECRET, revision=3), MAP, secret_revision=2)
    plan = compute_plan(desired(*ALL), state, {})
    change = plan.change(MAP)
    assert change is not None and change.action is Action.UPDATE
    assert "is at revision 3, the workload's pod template at 2" in change.reason
    in_step = _with(_with(applied_state(), SECRET, revision=3), MAP, secret_revision=3)
    assert actions(compute_plan(desired(*ALL), in_step, {}))[MAP] is Action.NOOP


def test_bindings_older_than_the_age_are_rotated() -> None:
    options = DiffOptions(rotate_older_than=timedelta(days=30), now=NOW)
    plan = compute_plan(desired(*ALL), _bound(applied_state(), 31.5), {}, options)
    change = plan.change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert change.reason.startswith(
        "its credentials are 31d old, older than --rotate-older-than 30d; create before destroy: "
    )
    assert actions(plan)[SECRET] is Action.UPDATE
    assert actions(plan)[MAP] is Action.UPDATE


def test_younger_bindings_and_plans_without_the_flag_are_left_alone() -> None:
    options = DiffOptions(rotate_older_than=timedelta(days=30), now=NOW)
    assert actions(compute_plan(desired(*ALL), _bound(applied_state(), 29), {}, options))[
        BIND
    ] is Action.NOOP
    old = _bound(applied_state(), 400)
    assert actions(compute_plan(desired(*ALL), old, {}))[BIND] is Action.NOOP


def test_a_binding_without_bound_at_counts_from_its_last_update() -> None:
    state = applied_state()
    res: ResourceState = state.resources[BIND]
    state = state.with_resource(res.model_copy(update={"updated_at": NOW - timedelta(hours=50)}))
    options = DiffOptions(rotate_older_than=timedelta(days=2), now=NOW)
    change = compute_plan(desired(*ALL), state, {}, options).change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert "2d old" in change.reason
    younger = DiffOptions(rotate_older_than=timedelta(hours=51), now=NOW)
    assert actions(compute_plan(desired(*ALL), state, {}, younger))[BIND] is Action.NOOP


def _fail() -> object:
    raise AssertionError("missing change")


def test_a_secret_left_with_an_earlier_bindings_credentials_is_rewritten_and_rolls() -> None:
    # A run stopped after the new bind, before the Secret write: state's Secret was written
    # from binding b-0, the binding is now b-1.
    state = _with(applied_state(), SECRET, binding_id="b-0")
    plan = compute_plan(desired(*ALL), state, {})
    change = plan.change(SECRET)
    assert change is not None and change.action is Action.UPDATE
    assert change.reason == "it holds the credentials of binding b-0, not of b-1"
    assert change.private["refetch"] is True
    assert actions(plan)[MAP] is Action.UPDATE
    current = _with(applied_state(), SECRET, binding_id="b-1")
    assert actions(compute_plan(desired(*ALL), current, {}))[SECRET] is Action.NOOP


def test_the_default_rollout_keeps_the_checksum_of_mappings_applied_before_it() -> None:
    from catalogctl.engine.handlers import spec_checksum
    from catalogctl.engine.handlers.podmapping import mapping_checksum
    from catalogctl.model.podmappings import PodMapping

    doc = {
        "apiVersion": "catalogctl.io/v1alpha1",
        "kind": "PodMapping",
        "metadata": {"name": "web-db", "namespace": "apps"},
        "spec": {
            "bindingRef": {"name": "db-binding"},
            "target": {"kind": "Deployment", "name": "web"},
            "env": [{"name": "DB_URI", "key": "uri"}],
        },
    }
    spec = PodMapping.model_validate(doc).model_dump(by_alias=True, exclude_none=True, mode="json")
    assert spec["spec"]["rollout"] is True
    # What the checksum was before the field existed: the spec without it.
    legacy = {k: v for k, v in spec["spec"].items() if k != "rollout"}
    assert mapping_checksum(spec["spec"], "db-binding") == spec_checksum([legacy, "db-binding"])
    opted_out = {**spec["spec"], "rollout": False}
    assert mapping_checksum(opted_out, "db-binding") != spec_checksum([legacy, "db-binding"])
