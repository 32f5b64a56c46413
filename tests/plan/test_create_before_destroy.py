"""Create before destroy: which binding replacements bind the new binding first, the order the
plan states, and how an interrupted rotation is finished (pure diff, plain values)."""

from __future__ import annotations

from catalogctl.plan.diff import compute_plan
from catalogctl.plan.inputs import DiffOptions
from catalogctl.plan.model import Action
from catalogctl.plan.payloads import RotationHints
from catalogctl.state.models import ResourceStatus, RetiringBinding, State
from tests.plan.test_diff import (
    ALL,
    BIND,
    INST,
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

REPLACE = DiffOptions(replace=frozenset({BIND}))
OLD = RetiringBinding(binding_id="b-0", instance_id="i-1", service_id="svc", plan_id="small-id")


def _binding_state(state: State, **update: object) -> State:
    return state.with_resource(state.resources[BIND].model_copy(update=update))


def test_a_replaced_binding_is_bound_anew_before_the_old_one_is_unbound() -> None:
    plan = compute_plan(desired(*ALL), applied_state(), {}, REPLACE)
    change = plan.change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert change.action.symbol == "+/-"
    assert change.reason == (
        "will be replaced, as requested (--replace); create before destroy: bind a new binding, "
        f"then write {SECRET}, then roll Deployment/apps/web, then unbind binding b-1"
    )
    hints = RotationHints.from_private(change.private)
    assert hints.retire and hints.workloads == ("Deployment/apps/web",)
    assert change.after is not None and change.after["binding_id"] is None
    assert actions(plan)[SECRET] is Action.UPDATE
    assert actions(plan)[MAP] is Action.UPDATE


def test_a_mapping_that_opted_out_is_neither_rolled_nor_waited_for() -> None:
    d = desired(instance(), binding(), secret(), mapping(attributes={"rollout": False}))
    change = compute_plan(d, applied_state(), {}, REPLACE).change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert RotationHints.from_private(change.private).workloads == ()
    assert "roll " not in change.reason


def test_destroy_first_keeps_the_old_order() -> None:
    d = desired(instance(), binding(rotation="destroy-first"), secret(), mapping())
    change = compute_plan(d, applied_state(), {}, REPLACE).change(BIND)
    assert change is not None and change.action is Action.REPLACE
    assert change.reason == "will be replaced, as requested (--replace)"
    assert not RotationHints.from_private(change.private).retire


def test_a_binding_whose_instance_is_replaced_goes_first() -> None:
    d = desired(instance(identity={"broker": "ClusterServiceBroker/cloud", "service_id": "x"}),
                binding(), secret(), mapping())
    plan = compute_plan(d, applied_state(), {})
    assert actions(plan)[INST] is Action.REPLACE
    assert actions(plan)[BIND] is Action.REPLACE


def test_an_external_id_fixed_to_the_bound_id_cannot_be_bound_twice() -> None:
    d = desired(instance(), binding(external_id="b-1"), secret(), mapping())
    assert actions(compute_plan(d, applied_state(), {}, REPLACE))[BIND] is Action.REPLACE
    # A new externalID is a new id: the old binding can stay until the new one serves.
    d = desired(instance(), binding(external_id="b-2", checksum="b2"), secret(), mapping())
    assert actions(compute_plan(d, applied_state(), {}))[BIND] is Action.CREATE_THEN_DELETE


def test_a_tainted_binding_without_a_rotation_is_replaced_destroy_first() -> None:
    state = _binding_state(applied_state(), status=ResourceStatus.TAINTED)
    assert actions(compute_plan(desired(*ALL), state, {}))[BIND] is Action.REPLACE


def test_an_interrupted_bind_of_a_rotation_is_resumed_then_the_old_binding_retired() -> None:
    state = _binding_state(
        applied_state(), status=ResourceStatus.CREATING, binding_id="b-2", retiring=(OLD,)
    )
    plan = compute_plan(desired(*ALL), state, {})
    change = plan.change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert change.reason == (
        "resuming an interrupted rotation: the bind of binding b-2, then binding b-0 is unbound"
    )
    assert change.private["resume"] is True
    assert change.after is not None and change.after["binding_id"] == "b-2"
    assert RotationHints.from_private(change.private).retire
    assert actions(plan)[SECRET] is Action.UPDATE


def test_an_uncertain_new_binding_is_mitigated_and_bound_again_before_the_old_is_retired() -> None:
    state = _binding_state(
        applied_state(),
        status=ResourceStatus.TAINTED,
        orphan_mitigation_pending=True,
        binding_id="b-2",
        retiring=(OLD,),
    )
    change = compute_plan(desired(*ALL), state, {}).change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert "orphan-mitigated and bound again, then binding b-0 is unbound" in change.reason


def test_a_bound_binding_with_one_left_to_unbind_finishes_the_rotation() -> None:
    state = _binding_state(applied_state(), binding_id="b-2", retiring=(OLD,))
    plan = compute_plan(desired(*ALL), state, {})
    change = plan.change(BIND)
    assert change is not None and change.action is Action.UPDATE
    assert change.reason.startswith("finishing an interrupted rotation: binding b-0 is unbound")
    assert RotationHints.from_private(change.private).retire
    assert actions(plan)[MAP] is Action.NOOP  # already rolled: nothing rolls twice


def test_a_second_rotation_before_the_first_finished_retires_both() -> None:
    state = _binding_state(applied_state(), binding_id="b-2", retiring=(OLD,))
    change = compute_plan(desired(*ALL), state, {}, REPLACE).change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert change.reason.endswith("then unbind bindings b-0, b-2")


def test_destroy_first_set_during_an_interrupted_rotation_unbinds_everything_first() -> None:
    state = _binding_state(
        applied_state(), status=ResourceStatus.CREATING, binding_id="b-2", retiring=(OLD,)
    )
    d = desired(instance(), binding(rotation="destroy-first"), secret(), mapping())
    change = compute_plan(d, state, {}).change(BIND)
    assert change is not None and change.action is Action.REPLACE
    assert "binding b-0 and binding b-2 are unbound" in change.reason


def test_a_targeted_rotation_without_its_secret_keeps_the_old_binding_bound() -> None:
    options = DiffOptions(replace=frozenset({BIND}), targets=frozenset({INST, BIND}))
    change = compute_plan(desired(*ALL), applied_state(), {}, options).change(BIND)
    assert change is not None and change.action is Action.CREATE_THEN_DELETE
    assert change.reason.endswith(
        f"the old binding stays bound: {MAP}, {SECRET} not targeted"
    )
    assert not RotationHints.from_private(change.private).retire
    whole = DiffOptions(replace=frozenset({BIND}), targets=frozenset({INST, BIND, SECRET, MAP}))
    change = compute_plan(desired(*ALL), applied_state(), {}, whole).change(BIND)
    assert change is not None and RotationHints.from_private(change.private).retire
