"""The messages docs/troubleshooting.md quotes are the ones catalogctl prints, at the
moment the page says it prints them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.e2e.conftest import binding_yaml, broker_yaml, instance_yaml

PAGE = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"
NS = "cloud-apps"


def _section_block(title: str) -> list[str]:
    """The lines of the first fenced block under ``## title``."""
    text = PAGE.read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1]
    match = re.search(r"```\n(.*?)```", section, re.S)
    assert match, title
    return match.group(1).splitlines()


@pytest.fixture
def services(
    tmp_path: Path, programmable_broker: ProgrammableBroker, monkeypatch: pytest.MonkeyPatch
) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cluster" / NS / "deployment").mkdir(parents=True)
    services = tmp_path / "services"
    services.mkdir()
    (services / "broker.yaml").write_text(
        broker_yaml(programmable_broker.url, name="prog", auth=False)
    )
    (services / "db.yaml").write_text(instance_yaml("db", namespace=NS))
    return services


def _plan() -> list[str]:
    result = run_cli(
        "--no-color", "plan", "-f", "services", "--state", "state", "--cluster-dir", "cluster"
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert not Path("state").exists()
    return result.stderr.splitlines()


def test_workload_not_found_is_reported_at_plan_time_as_the_page_shows(services: Path) -> None:
    (services / "binding.yaml").write_text(binding_yaml("db-binding", "db", namespace=NS))
    (services / "queue.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "catalogctl.io/v1alpha1",
                "kind": "PodMapping",
                "metadata": {"name": "myapp-queue", "namespace": NS},
                "spec": {
                    "bindingRef": {"name": "db-binding"},
                    "target": {"kind": "Deployment", "name": "ghost"},
                    "env": [{"name": "URI", "key": "uri"}],
                },
            }
        )
    )
    printed = _plan()
    shown = _section_block("Workload not found")
    # the page's file and line are an example's; the rest is verbatim
    assert [line.split(": ", 1)[1] for line in printed] == [
        line.split(": ", 1)[1] for line in shown
    ]
    assert "at plan time" in PAGE.read_text(encoding="utf-8").split("## Workload not found")[1]


def test_a_secret_owned_by_someone_else_is_reported_as_the_page_shows(services: Path) -> None:
    (services / "binding.yaml").write_text(binding_yaml("second", "db", namespace=NS))
    with (services / "binding.yaml").open("a") as f:
        f.write("  secretName: taken\n")
    secret = Path("cluster") / NS / "secret" / "taken.yaml"
    secret.parent.mkdir(parents=True)
    secret.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "taken", "namespace": NS},
                "data": {"k": "dg=="},
            }
        )
    )
    assert _plan() == _section_block("Secret or workload owned by someone else")
