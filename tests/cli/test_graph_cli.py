"""``catalogctl graph``: golden DOT, Mermaid and order output; bad input exits 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_cli, run_subprocess

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "model" / "manifests"

EXAMPLES_DOT = """\
digraph catalogctl {
  rankdir=LR;
  node [shape=box];
  "ClusterServiceBroker/cloud-broker" [label="ClusterServiceBroker\\ncloud-broker"];
  "ClusterServiceBroker/ups-broker" [label="ClusterServiceBroker\\nups-broker"];
  "ServiceInstance/cloud-apps/cloud-queue-instance" [label="ServiceInstance\\ncloud-apps/cloud-queue-instance"];
  "ServiceInstance/test-ns/ups-instance" [label="ServiceInstance\\ntest-ns/ups-instance"];
  "ServiceBinding/cloud-apps/cloud-queue-binding" [label="ServiceBinding\\ncloud-apps/cloud-queue-binding"];
  "ServiceBinding/test-ns/ups-binding" [label="ServiceBinding\\ntest-ns/ups-binding"];
  "Secret/cloud-apps/cloud-queue-binding" [label="Secret\\ncloud-apps/cloud-queue-binding"];
  "Secret/test-ns/ups-binding" [label="Secret\\ntest-ns/ups-binding"];
  "PodMapping/cloud-apps/myapp-queue" [label="PodMapping\\ncloud-apps/myapp-queue"];
  "ClusterServiceBroker/cloud-broker" -> "ServiceInstance/cloud-apps/cloud-queue-instance";
  "ClusterServiceBroker/cloud-broker" -> "ServiceInstance/test-ns/ups-instance";
  "ClusterServiceBroker/ups-broker" -> "ServiceInstance/cloud-apps/cloud-queue-instance";
  "ClusterServiceBroker/ups-broker" -> "ServiceInstance/test-ns/ups-instance";
  "ServiceInstance/cloud-apps/cloud-queue-instance" -> "ServiceBinding/cloud-apps/cloud-queue-binding";
  "ServiceInstance/test-ns/ups-instance" -> "ServiceBinding/test-ns/ups-binding";
  "ServiceBinding/cloud-apps/cloud-queue-binding" -> "Secret/cloud-apps/cloud-queue-binding";
  "ServiceBinding/test-ns/ups-binding" -> "Secret/test-ns/ups-binding";
  "Secret/cloud-apps/cloud-queue-binding" -> "PodMapping/cloud-apps/myapp-queue";
}
"""  # noqa: E501

EXAMPLES_MERMAID = """\
flowchart LR
  n0["ClusterServiceBroker<br/>cloud-broker"]
  n1["ClusterServiceBroker<br/>ups-broker"]
  n2["ServiceInstance<br/>cloud-apps/cloud-queue-instance"]
  n3["ServiceInstance<br/>test-ns/ups-instance"]
  n4["ServiceBinding<br/>cloud-apps/cloud-queue-binding"]
  n5["ServiceBinding<br/>test-ns/ups-binding"]
  n6["Secret<br/>cloud-apps/cloud-queue-binding"]
  n7["Secret<br/>test-ns/ups-binding"]
  n8["PodMapping<br/>cloud-apps/myapp-queue"]
  n0 --> n2
  n0 --> n3
  n1 --> n2
  n1 --> n3
  n2 --> n4
  n3 --> n5
  n4 --> n6
  n5 --> n7
  n6 --> n8
"""

MANIFESTS_ORDER = """\
ClusterServiceBroker/cloud-broker
ServiceBroker/team-a/team-broker
ServiceInstance/team-a/cache-by-external-id
ServiceInstance/team-a/cache-by-external-name
ServiceInstance/team-a/cache-by-k8s-name
ServiceInstance/team-a/exported-instance
ServiceInstance/team-a/pg-by-external-id
ServiceInstance/team-a/pg-by-external-name
ServiceInstance/team-a/pg-by-k8s-name
ServiceInstance/team-a/ups
ServiceBinding/team-a/exported-binding
ServiceBinding/team-a/pg-binding
ServiceBinding/team-a/ups-binding
Secret/team-a/exported-binding
Secret/team-a/pg-credentials
Secret/team-a/ups-binding
PodMapping/team-a/api-pg
"""


@pytest.mark.parametrize(
    ("fmt", "expected"), [("dot", EXAMPLES_DOT), ("mermaid", EXAMPLES_MERMAID)]
)
def test_examples_graph_golden(fmt: str, expected: str) -> None:
    result = run_cli("graph", "-f", str(REPO / "examples"), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == expected
    assert result.stderr == ""


def test_dot_is_the_default_format() -> None:
    result = run_cli("graph", "-f", str(REPO / "examples"))
    assert result.stdout == EXAMPLES_DOT


def test_order_golden_and_edges_respected() -> None:
    result = run_cli("graph", "-f", str(MANIFESTS), "--format", "order")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == MANIFESTS_ORDER
    order = result.stdout.splitlines()
    assert order.index("ServiceInstance/team-a/pg-by-external-name") < order.index(
        "ServiceBinding/team-a/pg-binding"
    ) < order.index("Secret/team-a/pg-credentials") < order.index("PodMapping/team-a/api-pg")


def test_mermaid_edges_match_dot_edges() -> None:
    """Both renderings describe the same graph."""
    dot = run_cli("graph", "-f", str(MANIFESTS), "--format", "dot").stdout
    mermaid = run_cli("graph", "-f", str(MANIFESTS), "--format", "mermaid").stdout
    ids = {}
    for line in mermaid.splitlines():
        if '["' in line:
            ident, label = line.strip().split('["', 1)
            kind, rest = label.removesuffix('"]').split("<br/>")
            ids[ident] = f"{kind}/{rest}"
    mermaid_edges = {
        tuple(ids[x] for x in line.strip().split(" --> "))
        for line in mermaid.splitlines()
        if "-->" in line
    }
    dot_edges = {
        tuple(x.strip().strip('";') for x in line.split(" -> "))
        for line in dot.splitlines()
        if " -> " in line
    }
    assert mermaid_edges == dot_edges
    # 5 cluster instances + 3 namespaced instances under their broker, 3 bindings,
    # 3 Secrets, 1 PodMapping
    assert len(dot_edges) == 15


def test_a_cycle_is_an_error_with_exit_code_1() -> None:
    result = run_subprocess(
        "graph", "-f", "cycle_three_nodes.yaml", cwd=REPO / "tests" / "corpus"
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr_lines == (
        (REPO / "tests" / "corpus" / "cycle_three_nodes.expected").read_text().splitlines()
    )


def test_graph_of_invalid_input_reports_problems_like_validate() -> None:
    corpus = REPO / "tests" / "corpus" / "multiple_problems.yaml"
    graph = run_cli("graph", "-f", str(corpus), "--format", "order")
    validate = run_cli("validate", "-f", str(corpus))
    assert graph.exit_code == validate.exit_code == 1
    assert graph.stderr == validate.stderr
    assert graph.stdout == ""


def test_unknown_format_is_a_usage_error() -> None:
    result = run_cli("graph", "-f", str(MANIFESTS), "--format", "svg")
    assert result.exit_code == 1  # usage errors exit 1: 2 means "changes present"
    assert "'svg' is not one of 'dot', 'mermaid', 'order'" in result.stderr
