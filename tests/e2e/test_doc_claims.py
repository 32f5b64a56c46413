"""What the documentation says catalogctl does, checked against what it does: a secretTransforms
item with several members, the space_guid a directory target sends, and plans without free."""

from __future__ import annotations

import re
from pathlib import Path

from tests.brokers.programmable import ProgrammableBroker
from tests.cli import run_cli
from tests.e2e.conftest import Workspace, binding_yaml, broker_yaml, instance_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _flat(name: str) -> str:
    return re.sub(r"\s+", " ", (DOCS / name).read_text())


def test_a_transform_with_several_members_is_an_error_as_the_docs_say(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text(
        binding_yaml("db-b", "db")
        + "  secretTransforms:\n"
        + "    - renameKey: {from: a, to: b}\n"
        + "      removeKey: {key: c}\n"
        + "---\n"
        + instance_yaml("db")
    )
    result = run_cli("validate", "-f", str(path))
    assert result.exit_code == 1
    assert "renameKey and removeKey are both set" in result.stderr
    assert "`addKeysFrom`, `removeKey` wins" not in _flat("pod-mappings.md")
    assert "an item that sets several is an error that `validate` reports" in _flat(
        "pod-mappings.md"
    )


def test_a_directory_target_sends_the_namespace_name_as_space_guid_as_the_docs_say(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db", namespace="apps"))
    ws.ok("apply", "--auto-approve")
    (put,) = programmable_broker.requests_to("PUT", "/service_instances/")
    assert put.body["space_guid"] == "apps"
    assert "brokers receive the namespace's name as `space_guid`" in _flat("pod-mappings.md")
    assert "receive no `space_guid`" not in _flat("pod-mappings.md")


def test_the_reference_gives_spec_free_the_osb_default() -> None:
    text = _flat("reference.md")
    assert "a plan without `free` counts as `true`" in text
    assert "counts as `false`, as in Service Catalog" not in text
