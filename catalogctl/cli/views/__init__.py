"""Plan views: the plan and drift as human text, JSON and Markdown.

Views are pure functions from a :class:`~catalogctl.plan.model.Plan` to a
string or a JSON-ready dict; they never print and never read
``Change.private``.  Import cost is small: deepdiff loads only when a change
is diffed.
"""

from catalogctl.cli.views.drift import (
    render_drift_human,
    render_drift_json,
    render_drift_markdown,
)
from catalogctl.cli.views.plan_human import render_plan
from catalogctl.cli.views.plan_json import render_plan_json
from catalogctl.cli.views.plan_markdown import render_plan_markdown

__all__ = [
    "render_drift_human",
    "render_drift_json",
    "render_drift_markdown",
    "render_plan",
    "render_plan_json",
    "render_plan_markdown",
]
