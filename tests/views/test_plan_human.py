"""The human plan: goldens for every mode, plus the rules behind them."""

from __future__ import annotations

import re

import pytest

from catalogctl.cli.views import render_plan
from catalogctl.plan.model import Action, Change, Mode
from tests.views import plans
from tests.views.golden import assert_golden

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_full_plan_golden() -> None:
    assert_golden("plan_full.txt", render_plan(plans.full_plan(), color=False))


def test_saved_plan_footer_golden() -> None:
    text = render_plan(plans.small_plan(), color=False, saved_to="plans/cloud apps.plan")
    assert_golden("plan_saved.txt", text)
    assert text.endswith("To perform exactly these actions, run: "
                         "catalogctl apply 'plans/cloud apps.plan'")


def test_colour_golden_has_ansi_codes() -> None:
    text = render_plan(plans.small_plan(), color=True)
    assert_golden("plan_color.txt", text)
    assert "\x1b[32m+\x1b[0m" in text  # green +
    assert "\x1b[33m~\x1b[0m" in text  # yellow ~
    assert ANSI.sub("", text) == render_plan(plans.small_plan(), color=False)


def test_no_colour_means_no_escape_codes() -> None:
    assert "\x1b" not in render_plan(plans.full_plan(), color=False)


def test_replace_symbol_coloured_red_and_green() -> None:
    plan = plans.full_plan(changes=(plans.cache_replace(),), drift=())
    text = render_plan(plan, color=True)
    assert "\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m" in text
    assert "\x1b[31m# forces replacement\x1b[0m" in text


def test_destroy_plan_golden() -> None:
    assert_golden("plan_destroy.txt", render_plan(plans.destroy_plan(), color=False))


def test_refresh_only_with_drift_golden() -> None:
    text = render_plan(plans.refresh_only_plan(), color=False)
    assert_golden("plan_refresh_only.txt", text)
    assert "This is a refresh-only plan" in text
    assert "Plan:" not in text


@pytest.mark.parametrize(
    ("mode", "first_line"),
    [
        (Mode.NORMAL, "No changes. Your services match the configuration."),
        (Mode.DESTROY, "No changes. No objects need to be destroyed."),
        (Mode.REFRESH_ONLY, "No changes. Your services still match the configuration."),
    ],
)
def test_no_changes_in_each_mode(mode: Mode, first_line: str) -> None:
    text = render_plan(plans.empty_plan(mode), color=False)
    assert_golden(f"plan_no_changes_{mode.value}.txt", text)
    assert text.splitlines()[0] == first_line
    assert "--out" not in text  # nothing to save, no footer


def test_legend_lists_only_symbols_present() -> None:
    text = render_plan(plans.small_plan(), color=False)
    legend = text.split("catalogctl will perform")[0]
    assert "  + create" in legend
    assert "  ~ update in-place" in legend
    assert "-/+" not in legend
    assert "  - destroy" not in legend


def test_summary_counts_replacement_once() -> None:
    text = render_plan(plans.full_plan(), color=False)
    assert "Plan: 4 to add, 1 to change, 1 to replace, 4 to destroy." in text


def test_noop_changes_are_not_rendered() -> None:
    text = render_plan(plans.full_plan(), color=False)
    assert "ClusterServiceBroker/cloud-broker will" not in text


@pytest.mark.parametrize(
    ("change", "heading"),
    [
        (plans.queue_create(), "will be provisioned"),
        (plans.db_update(), "will be updated in-place"),
        (plans.cache_replace(), "must be replaced"),
        (plans.legacy_delete(), "will be deleted"),
        (plans.binding_create(), "will be bound"),
        (plans.binding_delete(), "will be unbound"),
        (plans.secret_create(), "will be written"),
        (plans.secret_delete(), "will be deleted"),
        (plans.mapping_create(), "will be mapped into Deployment/myapp"),
        (plans.mapping_delete(), "will be unmapped from Deployment/legacy-worker"),
    ],
)
def test_headings_per_kind(change: Change, heading: str) -> None:
    text = render_plan(plans.full_plan(changes=(change,), drift=()), color=False)
    assert f"  # {change.address} {heading}\n  # ({change.reason})\n" in text


def test_unknown_kind_gets_generic_heading() -> None:
    change = Change(address="ServiceBroker/team-a/local", kind="ServiceBroker",
                    action=Action.CREATE, reason="not in state",
                    after={"url": "http://broker.team-a.svc"})
    text = render_plan(plans.full_plan(changes=(change,), drift=()), color=False)
    assert "# ServiceBroker/team-a/local will be created" in text
    assert '  + ServiceBroker "team-a/local" {' in text


def test_footer_can_be_hidden() -> None:
    text = render_plan(plans.small_plan(), color=False, show_footer=False)
    assert text.endswith("Plan: 1 to add, 1 to change, 0 to replace, 0 to destroy.")


def test_unsaved_footer_mentions_out_option() -> None:
    text = render_plan(plans.small_plan(), color=False)
    assert "You didn't use the --out option to save this plan" in text


def test_upgrades_note() -> None:
    text = render_plan(plans.full_plan(), color=False)
    assert "Note: Maintenance upgrades are available for 1 service instance:" in text
    assert "  * ServiceInstance/cloud-apps/cloud-db: maintenance 1.2.0 -> 1.3.0" in text
    assert "--upgrade" in text


def test_upgrades_note_shown_even_without_changes() -> None:
    plan = plans.full_plan(changes=(), drift=())
    text = render_plan(plan, color=False)
    assert text.startswith("No changes.")
    assert "--upgrade" in text


def test_control_characters_in_free_text_are_escaped() -> None:
    change = Change(address="ServiceInstance/ns/x", kind="ServiceInstance",
                    action=Action.UPDATE, reason="evil \x1b[31mred\x1b[0m reason",
                    before={"parameters": {"a": "x"}},
                    after={"parameters": {"a": "\x1b]0;title\x07"}})
    text = render_plan(plans.full_plan(changes=(change,), drift=()), color=False)
    assert "\x1b" not in text and "\x07" not in text
    assert "evil \\x1b[31mred\\x1b[0m reason" in text
    assert '~ a = "x" -> "\\u001b]0;title\\u0007"' in text


def test_output_is_deterministic_whatever_the_input_order() -> None:
    plan = plans.full_plan()
    reversed_plan = plans.full_plan(changes=tuple(reversed(plan.changes)),
                                    drift=tuple(reversed(plan.drift)))
    assert render_plan(plan, color=False) == render_plan(reversed_plan, color=False)
