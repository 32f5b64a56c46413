"""``catalogctl validate``: inputs (files, directories, stdin, -n), output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_cli, run_subprocess

REPO = Path(__file__).resolve().parents[2]
MANIFESTS = REPO / "tests" / "model" / "manifests"

BROKER = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ClusterServiceBroker
metadata:
  name: {name}
spec:
  url: http://{name}.example.com
"""

INSTANCE = """\
apiVersion: servicecatalog.k8s.io/v1beta1
kind: ServiceInstance
metadata:
  name: {name}
spec:
  clusterServiceClassExternalName: postgres
"""


def test_examples_directory_is_valid() -> None:
    result = run_subprocess("validate", "-f", "examples/", cwd=REPO)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Valid: 7 resources (2 ClusterServiceBroker, 1 PodMapping, 2 ServiceBinding, "
        "2 ServiceInstance).\n"
    )
    # The quickstart's seed cluster folder holds the Deployment the mapping
    # patches; a GitOps folder mixes kinds like this, so it is listed, not rejected.
    assert result.stderr == (
        "examples/quickstart/cluster/cloud-apps/deployment/myapp.yaml:3: ignored apps/v1 "
        "Deployment/cloud-apps/myapp (not managed by catalogctl)\n"
    )


def test_manifests_are_valid_and_ignored_kinds_are_reported_on_stderr() -> None:
    result = run_cli("validate", "-f", str(MANIFESTS))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Valid: 14 resources (1 ClusterServiceBroker, 1 PodMapping, 3 ServiceBinding, "
        "1 ServiceBroker, 8 ServiceInstance).\n"
    )
    exported = MANIFESTS / "exported.yaml"
    assert result.stderr_lines == [
        f"{exported}:63: ignored servicecatalog.k8s.io/v1beta1 "
        "ClusterServiceClass/4f6e6cf6-ffdd-425f-a2c7-3c9258ad2468 (not managed by catalogctl)",
        f"{exported}:70: ignored v1 Secret/team-a/cache-parameters (not managed by catalogctl)",
    ]


def test_strict_kinds_turns_ignored_kinds_into_errors() -> None:
    result = run_cli("validate", "--strict-kinds", "-f", str(MANIFESTS))
    assert result.exit_code == 1
    # Kinds generated from catalogs (ClusterServiceClass) stay ignored.
    assert result.stderr_lines == [
        f"{MANIFESTS / 'exported.yaml'}:71:1: Secret/team-a/cache-parameters: kind: v1 Secret "
        "is not managed by catalogctl (remove it from the input, or drop --strict-kinds to "
        "ignore it)",
        "Error: 1 problem found",
    ]


def test_stdin_several_files_and_a_directory_together(tmp_path: Path) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dir" / "sub" / "b.yml").write_text(BROKER.format(name="b"))
    (tmp_path / "dir" / "notes.txt").write_text("not: [yaml")
    one = tmp_path / "one.yaml"
    one.write_text(BROKER.format(name="one") + "---\n" + BROKER.format(name="two"))
    result = run_cli(
        "validate", "-f", str(one), "-f", "-", "-f", str(tmp_path / "dir"),
        input=INSTANCE.format(name="db"),
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Valid: 4 resources (3 ClusterServiceBroker, 1 ServiceInstance).\n"


def test_stdin_problems_are_named_stdin() -> None:
    result = run_cli("validate", "-f", "-", input=INSTANCE.format(name="Bad_Name"))
    assert result.exit_code == 1
    assert result.stderr_lines[0].startswith(
        "<stdin>:4:3: ServiceInstance/default/Bad_Name: metadata.name: invalid name 'Bad_Name'"
    )


def test_namespace_option_and_environment_default_namespaced_resources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "i.yaml"
    f.write_text(INSTANCE.format(name="db") + "---\n" + INSTANCE.format(name="db"))
    result = run_cli("validate", "-n", "team-a", "-f", str(f))
    assert result.stderr_lines[0] == (
        f"{f}:11:3: ServiceInstance/team-a/db: metadata.name: duplicate resource "
        f"(first defined at {f}:1)"
    )
    monkeypatch.setenv("CATALOGCTL_NAMESPACE", "team-b")
    result = run_cli("validate", "-f", str(f))
    assert "ServiceInstance/team-b/db" in result.stderr_lines[0]


def test_same_name_in_two_namespaces_is_not_a_duplicate(tmp_path: Path) -> None:
    f = tmp_path / "i.yaml"
    f.write_text(
        INSTANCE.format(name="db")
        + "---\n"
        + INSTANCE.format(name="db").replace("  name: db\n", "  name: db\n  namespace: other\n")
    )
    result = run_cli("validate", "-f", str(f))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Valid: 2 resources (2 ServiceInstance).\n"


def test_missing_file_is_reported_with_the_others(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(BROKER.format(name="b"))
    missing = tmp_path / "nope.yaml"
    result = run_cli("validate", "-f", str(good), "-f", str(missing))
    assert result.exit_code == 1
    assert result.stderr_lines == [
        f"{missing}:0:0: no such file or directory",
        "Error: 1 problem found",
    ]


def test_empty_input_is_valid_with_zero_resources(tmp_path: Path) -> None:
    f = tmp_path / "empty.yaml"
    f.write_text("# nothing yet\n---\n")
    result = run_cli("validate", "-f", str(f))
    assert result.exit_code == 0
    assert result.stdout == "Valid: 0 resources.\n"


def test_filename_is_required_and_usage_errors_exit_1() -> None:
    result = run_cli("validate")
    assert result.exit_code == 1  # 2 is reserved for "changes present"
    assert "Missing option '-f' / '--filename'" in result.stderr


def test_validate_makes_no_network_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invariant 5: bad input is rejected before any broker or cluster call."""
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("validate opened a network connection")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = run_cli("validate", "-f", str(MANIFESTS))
    assert result.exit_code == 0, result.stderr


def test_validate_help_imports_no_heavy_library() -> None:
    """Commands load lazily: ``validate --help`` must not pay for pydantic or networkx."""
    code = (
        "import sys\n"
        "from catalogctl.cli.main import main\n"
        "try:\n"
        "    main(['validate', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('networkx', 'pydantic', 'httpx', 'kubernetes', 'yaml')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "-f, --filename" in proc.stdout
    assert proc.stdout.rstrip().endswith("[]"), proc.stdout
