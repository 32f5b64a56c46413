"""``catalogctl drift`` reports."""

from __future__ import annotations

import json

from catalogctl.cli.views import render_drift_human, render_drift_json, render_drift_markdown
from catalogctl.plan.model import Mode
from tests.views import plans
from tests.views.golden import assert_golden, assert_golden_json


def test_human_golden() -> None:
    text = render_drift_human(plans.refresh_only_plan(), color=False)
    assert_golden("drift.txt", text)
    assert text.startswith("Drift detected: 3 objects have changed outside of catalogctl")
    assert text.endswith("Drift: 1 changed, 1 deleted, 1 appeared.")


def test_human_colour() -> None:
    text = render_drift_human(plans.refresh_only_plan(), True)
    assert "\x1b[31m-\x1b[0m Secret" in text
    assert "\x1b[33m~\x1b[0m ServiceInstance" in text


def test_json_golden() -> None:
    doc = render_drift_json(plans.refresh_only_plan())
    assert_golden_json("drift.json", doc)
    assert doc["drift_detected"] is True
    assert doc["summary"] == {"changed": 1, "deleted": 1, "appeared": 1}
    assert json.loads(json.dumps(doc)) == doc


def test_markdown_golden() -> None:
    text = render_drift_markdown(plans.refresh_only_plan())
    assert_golden("drift.md", text)
    assert "| `Secret/cloud-apps/cloud-cache-binding` | has been deleted |" in text


def test_no_drift_everywhere() -> None:
    plan = plans.empty_plan(Mode.REFRESH_ONLY)
    human = render_drift_human(plan, color=False)
    assert human.startswith("No drift detected.")
    assert_golden("drift_none.txt", human)
    assert render_drift_human(plan, color=True).startswith("\x1b[1m\x1b[32mNo drift detected.")
    doc = render_drift_json(plan)
    assert doc["drift_detected"] is False and doc["resource_drift"] == []
    assert doc["summary"] == {"changed": 0, "deleted": 0, "appeared": 0}
    markdown = render_drift_markdown(plan)
    assert_golden("drift_none.md", markdown)
    assert "No drift detected." in markdown
