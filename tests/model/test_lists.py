"""``kind: List`` and typed ``*List`` documents read as their items, with their own positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from catalogctl.errors import ValidationFailed
from catalogctl.model.address import Address
from catalogctl.model.loader import load, load_documents
from catalogctl.model.source import parse_text

EXPORT = """\
apiVersion: v1
kind: List
metadata:
  resourceVersion: ""
items:
- apiVersion: servicecatalog.k8s.io/v1beta1
  kind: ServiceInstance
  metadata:
    name: db
    namespace: prod
  spec:
    clusterServiceClassExternalName: postgres
    clusterServicePlanExternalName: small
- apiVersion: servicecatalog.k8s.io/v1beta1
  kind: ServiceBinding
  metadata:
    name: db-binding
    namespace: prod
  spec:
    instanceRef:
      name: db
    secretName: db-secret
"""


def test_a_v1_list_yields_its_items() -> None:
    docs, problems = parse_text(EXPORT, "export.yaml")
    desired, more = load_documents(docs)
    assert problems == more == []
    assert set(desired.resources) == {
        Address("ServiceInstance", "prod", "db"),
        Address("ServiceBinding", "prod", "db-binding"),
    }
    binding = desired.resources[Address("ServiceBinding", "prod", "db-binding")]
    assert binding.document.origin.line == 14


def test_a_problem_in_a_list_item_points_at_the_item_line() -> None:
    text = EXPORT.replace("    secretName: db-secret", "    secretNmae: db-secret")
    docs, _ = parse_text(text, "export.yaml")
    _, problems = load_documents(docs)
    assert [p.render() for p in problems] == [
        "export.yaml:22:5: ServiceBinding/prod/db-binding: spec.secretNmae: "
        "unknown field (did you mean 'secretName'?)"
    ]


def test_a_typed_list_fills_in_kind_and_api_version(tmp_path: Path) -> None:
    typed = {
        "apiVersion": "servicecatalog.k8s.io/v1beta1",
        "kind": "ServiceInstanceList",
        "metadata": {"resourceVersion": "42"},
        "items": [
            {
                "metadata": {"name": "q", "namespace": "prod"},
                "spec": {
                    "clusterServiceClassExternalName": "mq",
                    "clusterServicePlanExternalName": "x",
                    "nope": 2,
                },
            }
        ],
    }
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "instances.json").write_text(json.dumps(typed, indent=4))
    with pytest.raises(ValidationFailed) as info:
        load([str(folder)])
    rendered = [p.render() for p in info.value.problems]
    assert rendered == [
        f"{folder / 'instances.json'}:16:17: ServiceInstance/prod/q: spec.nope: unknown field"
    ]


def test_a_directory_reads_json_files(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(
        json.dumps(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceInstance",
                "metadata": {"name": "db", "namespace": "prod"},
                "spec": {
                    "clusterServiceClassExternalName": "postgres",
                    "clusterServicePlanExternalName": "small",
                },
            }
        )
    )
    (tmp_path / "notes.txt").write_text("not read")
    desired = load([str(tmp_path)])
    assert list(desired.resources) == [Address("ServiceInstance", "prod", "db")]


def test_duplicates_across_list_items_name_the_first_item() -> None:
    text = EXPORT + EXPORT.split("items:\n", 1)[1]
    docs, _ = parse_text(text, "export.yaml")
    _, problems = load_documents(docs)
    rendered = [p.render() for p in problems]
    assert rendered == [
        "export.yaml:26:5: ServiceInstance/prod/db: metadata.name: "
        "duplicate resource (first defined at export.yaml:6)",
        "export.yaml:34:5: ServiceBinding/prod/db-binding: metadata.name: "
        "duplicate resource (first defined at export.yaml:14)",
    ]


def test_an_empty_list_yields_nothing_and_other_lists_are_ignored() -> None:
    text = "apiVersion: v1\nkind: List\nitems: []\n---\napiVersion: v1\nkind: SecretList\n"
    text += "items:\n- metadata: {name: s, namespace: prod}\n  data: {}\n"
    docs, _ = parse_text(text, "in.yaml")
    desired, problems = load_documents(docs)
    assert problems == []
    assert desired.resources == {}
    assert [(i.kind, i.name, i.line) for i in desired.ignored] == [("Secret", "s", 8)]


def _big_export(count: int) -> list[dict[str, object]]:
    return [
        {
            "apiVersion": "servicecatalog.k8s.io/v1beta1",
            "kind": "ServiceInstance",
            "metadata": {"name": f"db-{i}", "namespace": "prod"},
            "spec": {
                "clusterServiceClassExternalName": "postgres",
                "clusterServicePlanExternalName": "small",
                "externalID": f"00000000-0000-4000-8000-{i:012d}",
            },
            "status": {"note": "x" * 500},
        }
        for i in range(count)
    ]


def test_an_export_larger_than_the_per_document_limit_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An export is one document holding many objects: the per-document size limit is
    about one object, so it applies to the items, not to the list.

    The limit is lowered to 64 KiB (the rule does not depend on its value), so the
    export is 200 objects rather than the 4,000 that pass 2 MiB, whose parsing took
    seconds."""
    from catalogctl.model import limits

    monkeypatch.setattr(limits, "MAX_DOCUMENT_BYTES", 64 * 1024)
    items = _big_export(200)
    as_yaml = tmp_path / "export.yaml"
    as_yaml.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    as_json = tmp_path / "export.json"
    as_json.write_text(
        json.dumps(
            {
                "apiVersion": "servicecatalog.k8s.io/v1beta1",
                "kind": "ServiceInstanceList",
                "items": items,
            },
            indent=4,
        )
    )
    for path in (as_yaml, as_json):
        assert path.stat().st_size > limits.MAX_DOCUMENT_BYTES
        assert len(load([str(path)]).resources) == 200


def test_a_large_document_that_is_not_a_list_is_still_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    # Written as text: dumping the 3 MiB scalar with PyYAML alone took two seconds.
    big.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kindList\n"
        f"data:\n  kind: List\n  blob: {'x' * (3 * 1024 * 1024)}\n"
    )
    with pytest.raises(ValidationFailed) as info:
        load([str(big)])
    assert "YAML document is larger than 2 MiB" in info.value.problems[0].message
