"""Invariant 4: no secret value appears in any rendering.

The leaky plan holds secrets where a correct engine never puts them: in
``private``, at sensitive paths of ``before``/``after``, in binding
credentials and Secret data without sensitive paths, and in drift entries.
Every view must still print none of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from catalogctl.cli.views import (
    render_drift_human,
    render_drift_json,
    render_drift_markdown,
    render_plan,
    render_plan_json,
    render_plan_markdown,
)
from catalogctl.plan.model import Action, Change, Plan
from tests.views import plans

RENDERERS: dict[str, Callable[[Plan], str]] = {
    "human": lambda p: render_plan(p, color=False),
    "human-colour": lambda p: render_plan(p, color=True, saved_to="x.plan"),
    "json": lambda p: json.dumps(render_plan_json(p)),
    "markdown": render_plan_markdown,
    "drift-human": lambda p: render_drift_human(p, color=False),
    "drift-json": lambda p: json.dumps(render_drift_json(p)),
    "drift-markdown": render_drift_markdown,
}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_no_secret_in_any_rendering(name: str) -> None:
    text = RENDERERS[name](plans.leaky_plan())
    for secret in plans.SECRET_VALUES:
        assert secret not in text, f"{secret!r} leaked through the {name} view"


def test_masked_values_still_show_as_sensitive() -> None:
    text = render_plan(plans.leaky_plan(), color=False)
    assert "+ password    = (sensitive value)" in text
    assert "~ password    = (sensitive value)" in text  # both sides hidden, change shown
    assert "- credentials = (sensitive value) -> null" in text
    assert "- uri = (sensitive value)" in text


def test_sensitive_path_through_a_scalar_hides_the_scalar() -> None:
    change = Change(address="ServiceInstance/ns/x", kind="ServiceInstance",
                    action=Action.CREATE, reason="r",
                    after={"parameters": "AKIA-LEAKED-KEY"},
                    sensitive_paths=(("parameters", "password"),))
    plan = plans.full_plan(changes=(change,), drift=())
    for name, render in RENDERERS.items():
        assert "AKIA-LEAKED-KEY" not in render(plan), name
    assert "+ parameters = (sensitive value)" in render_plan(plan, color=False)


def test_sensitive_list_element() -> None:
    change = Change(address="ServiceInstance/ns/x", kind="ServiceInstance",
                    action=Action.UPDATE, reason="r",
                    before={"parameters": {"keys": ["public", "hunter2-db-password"]}},
                    after={"parameters": {"keys": ["public", "AKIA-LEAKED-KEY"]}},
                    sensitive_paths=(("parameters", "keys", 1),))
    plan = plans.full_plan(changes=(change,), drift=())
    for name, render in RENDERERS.items():
        text = render(plan)
        assert "AKIA-LEAKED-KEY" not in text and "hunter2" not in text, name
    assert "~ (sensitive value)," in render_plan(plan, color=False)
    after_sensitive = render_plan_json(plan)["resource_changes"][0]["change"]["after_sensitive"]
    assert after_sensitive == {"parameters": {"keys": [False, True]}}
