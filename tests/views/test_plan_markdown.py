"""The Markdown plan for pull-request comments."""

from __future__ import annotations

from catalogctl.cli.views import render_plan, render_plan_markdown
from catalogctl.plan.model import Action, Change, Mode
from tests.views import plans
from tests.views.golden import assert_golden


def test_full_plan_golden() -> None:
    text = render_plan_markdown(plans.full_plan())
    assert_golden("plan_full.md", text)
    assert text.startswith(
        "### catalogctl plan: 4 to add, 1 to change, 1 to replace, 4 to destroy\n")
    assert "<details><summary>Show plan</summary>" in text
    assert "```diff\n" in text
    assert "\x1b" not in text


def test_table_rows() -> None:
    text = render_plan_markdown(plans.full_plan())
    assert ("| `+` | `ServiceInstance/cloud-apps/cloud-queue-instance` | provision "
            "| not in state |") in text
    assert "| `-/+` | `ServiceInstance/cloud-apps/cloud-cache` | replace |" in text
    assert "| `+` | `PodMapping/cloud-apps/myapp-queue` | map into Deployment/myapp |" in text
    assert "ClusterServiceBroker/cloud-broker" not in text.split("<details>")[0]


def test_diff_fence_moves_symbols_to_column_zero() -> None:
    text = render_plan_markdown(plans.small_plan())
    assert '\n+   ServiceInstance "cloud-apps/cloud-queue-instance" {\n' in text
    assert "\n!       envFrom    = null -> \"cloud-queue-binding\"\n" in text


def test_folded_text_is_the_plan_without_footer() -> None:
    text = render_plan_markdown(plans.small_plan())
    assert "--out" not in text
    human = render_plan(plans.small_plan(), color=False, show_footer=False)
    assert "Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy." in human
    assert human.splitlines()[-1] in text


def test_no_changes() -> None:
    text = render_plan_markdown(plans.empty_plan(Mode.NORMAL))
    assert_golden("plan_no_changes.md", text)
    assert text.startswith("### catalogctl plan: no changes\n")


def test_untrusted_text_cannot_break_the_markup() -> None:
    change = Change(address="ServiceInstance/ns/x", kind="ServiceInstance",
                    action=Action.UPDATE,
                    reason="a | b <img src=x onerror=alert(1)>\nsecond line",
                    before={"parameters": {"note": "```"}},
                    after={"parameters": {"note": "````"}})
    text = render_plan_markdown(plans.full_plan(changes=(change,), drift=()))
    row = next(line for line in text.splitlines() if line.startswith("| `~`"))
    assert row.endswith("| a \\| b &lt;img src=x onerror=alert(1)&gt; second line |")
    assert "<img" not in text.split("<details>")[0]
    assert "`````diff\n" in text  # fence longer than any backtick run inside
