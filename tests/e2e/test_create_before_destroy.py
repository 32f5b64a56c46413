"""Create before destroy through the CLI (a real broker on 127.0.0.1, a cluster directory):
the plan states the order, apply follows it, ``spec.rotation: destroy-first`` opts out, and a
broker that refuses a second binding gets an error naming that option, with nothing lost."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import yaml

from tests.cli import CliResult, run_cli
from tests.engine.test_crash_recovery import HoldingBroker, converge, run_args
from tests.engine.test_rotation_crash import _setup, _template

BINDING = "ServiceBinding/apps/db-binding"
BINDING_PATH = r"/service_bindings/[^/]+$"


def _broker(**options: object) -> HoldingBroker:
    broker = HoldingBroker(**options)  # type: ignore[arg-type]
    return broker


def _run(tmp: Path, services: Path, *extra: str) -> CliResult:
    return run_cli("--no-color", *run_args(tmp, services), *extra)


def _secret_user(tmp: Path) -> str:
    secret = yaml.safe_load((tmp / "cluster" / "apps" / "secret" / "db-binding.yaml").read_text())
    return base64.b64decode(secret["data"]["username"]).decode()


def _requests(broker: HoldingBroker) -> list[tuple[str, str]]:
    return [(r.method, r.decoded_path.rsplit("/", 1)[1]) for r in broker.requests
            if r.method in ("PUT", "DELETE") and "/service_bindings/" in r.path]  # fmt: skip


def test_the_plan_states_the_order_and_apply_follows_it(tmp_path: Path) -> None:
    with _broker() as broker:
        services = _setup(tmp_path, broker.url)
        old = converge(tmp_path, services)[BINDING]["binding_id"]
        plan = run_cli(
            "--no-color", "plan", "-f", str(services), "--state", str(tmp_path / "state"),
            "--cluster-dir", str(tmp_path / "cluster"), "--replace", BINDING,
        )  # fmt: skip
        assert plan.exit_code == 0, plan.stderr
        assert "+/- create replacement and then destroy" in plan.stdout
        assert f"# {BINDING} must be replaced, the new one first" in plan.stdout
        assert (
            "create before destroy: bind a new binding, then write Secret/apps/db-binding, "
            f"then roll Deployment/apps/web, then unbind binding {old})"
        ) in plan.stdout
        assert '+/- ServiceBinding "apps/db-binding"' in plan.stdout
        assert "Plan: 0 to add, 2 to change, 1 to replace, 0 to destroy." in plan.stdout

        before = len(_requests(broker))
        done = _run(tmp_path, services, "--replace", BINDING)
        assert done.exit_code == 0, done.stderr
        ((_, new),) = broker.bindings
        assert new != old
        # Bound anew first, the old binding unbound last (after the Secret and the mapping).
        assert _requests(broker)[before:] == [("PUT", new), ("DELETE", old)]
        lines = done.stdout.splitlines()
        assert lines.index("PodMapping/apps/web-db: Mapping...") < lines.index(
            f"{BINDING}: Unbinding..."
        )
        assert _secret_user(tmp_path) == f"u-{new}"
        assert _template(tmp_path)["metadata"]["annotations"] == {
            "catalogctl.io/secret-revision": "db-binding=2"
        }
        assert "Resources: 1 added, 2 changed, 1 destroyed." in done.stdout


def test_a_broker_that_allows_one_binding_gets_a_clear_error_and_loses_nothing(
    tmp_path: Path,
) -> None:
    with _broker(max_bindings_per_instance=1) as broker:
        services = _setup(tmp_path, broker.url)
        first = converge(tmp_path, services)
        old = first[BINDING]["binding_id"]
        template = _template(tmp_path)

        refused = _run(tmp_path, services, "--replace", BINDING)
        assert refused.exit_code == 1
        assert "binding rejected" in refused.stderr
        assert "set spec.rotation: destroy-first on this ServiceBinding" in refused.stderr
        assert f"binding {old} and its Secret are unchanged" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert refused.stderr.count(f"{BINDING}:") == 1  # its unbind step is not listed again
        # The old binding is still bound, still in the Secret and in state; nothing rolled.
        assert set(broker.bindings) == {(first["ServiceInstance/apps/db"]["instance_id"], old)}
        assert _secret_user(tmp_path) == f"u-{old}"
        assert _template(tmp_path) == template
        shown = run_cli("show", "--json", "--state", str(tmp_path / "state"))
        binding = yaml.safe_load(shown.stdout)["resources"][BINDING]
        assert (binding["status"], binding["binding_id"], binding["retiring"]) == (
            "ready", old, []
        )

        # destroy-first: unbind, then bind; the broker is satisfied.
        with (services / "db.yaml").open("a") as fh:
            fh.write("  rotation: destroy-first\n")
        before = len(_requests(broker))
        done = _run(tmp_path, services, "--replace", BINDING)
        assert done.exit_code == 0, done.stderr
        ((_, new),) = broker.bindings
        assert _requests(broker)[before:] == [("DELETE", old), ("PUT", new)]
        assert _secret_user(tmp_path) == f"u-{new}"


def test_a_bad_rotation_value_is_one_clear_message(tmp_path: Path) -> None:
    with _broker() as broker:
        services = _setup(tmp_path, broker.url)
        with (services / "db.yaml").open("a") as fh:
            fh.write("  rotation: create-first\n")
        result = _run(tmp_path, services)
        assert result.exit_code == 1
        assert "Traceback" not in result.stderr
        problem = [line for line in result.stderr.splitlines() if "rotation" in line]
        assert len(problem) == 1, result.stderr
        assert "db.yaml:" in problem[0] and "spec.rotation" in problem[0]
        assert "'create-before-destroy' or 'destroy-first'" in problem[0]
        assert broker.requests == []  # checks run before any broker call


def test_an_uncertain_new_bind_is_cleaned_up_and_the_rotation_finished_next_time(
    tmp_path: Path,
) -> None:
    with _broker() as broker:
        services = _setup(tmp_path, broker.url)
        old = converge(tmp_path, services)[BINDING]["binding_id"]
        # The broker fails the new bind with a 500: it may have created the binding.
        broker.script("PUT", BINDING_PATH, status=500, body={"description": "boom"})
        failed = _run(tmp_path, services, "--replace", BINDING, "--retry-timeout", "0")
        assert failed.exit_code == 1
        assert "binding failed" in failed.stderr
        shown = run_cli("show", "--json", "--state", str(tmp_path / "state"))
        binding = yaml.safe_load(shown.stdout)["resources"][BINDING]
        new = binding["binding_id"]
        assert binding["status"] == "creating" and new != old
        assert [r["binding_id"] for r in binding["retiring"]] == [old]
        # Orphan mitigation unbound the new id; the old binding serves on.
        assert ("DELETE", new) in _requests(broker)
        assert {b for _, b in broker.bindings} == {old}
        assert _secret_user(tmp_path) == f"u-{old}"

        plan = run_cli(
            "--no-color", "plan", "-f", str(services), "--state", str(tmp_path / "state"),
            "--cluster-dir", str(tmp_path / "cluster"),
        )  # fmt: skip
        assert (
            f"resuming an interrupted rotation: the bind of binding {new}, "
            f"then binding {old} is unbound"
        ) in plan.stdout
        done = _run(tmp_path, services)
        assert done.exit_code == 0, done.stderr
        assert {b for _, b in broker.bindings} == {new}  # the same id, bound once
        assert _secret_user(tmp_path) == f"u-{new}"


def test_a_stopped_rotation_shows_in_get_and_describe_until_the_old_binding_is_unbound(
    tmp_path: Path,
) -> None:
    with _broker() as broker:
        services = _setup(tmp_path, broker.url)
        old = converge(tmp_path, services)[BINDING]["binding_id"]
        # The new binding is bound and in its Secret; the old one's unbind is refused.
        broker.script("DELETE", BINDING_PATH, status=400, body={"description": "not now"})
        stopped = _run(tmp_path, services, "--replace", BINDING)
        assert stopped.exit_code == 1
        where = ["--state", str(tmp_path / "state"), "--cluster-dir", str(tmp_path / "cluster")]
        listed = run_cli("get", "bindings", "-n", "apps", *where)
        assert listed.exit_code == 0, listed.stderr
        assert listed.stdout.splitlines()[1].split(None, 4)[4] == "Ready (1 old binding to unbind)"
        described = run_cli("describe", BINDING, *where)
        assert described.exit_code == 0, described.stderr
        lines = described.stdout.splitlines()
        assert "Status:          Ready (1 old binding to unbind)" in lines
        heading = lines.index("Retiring bindings (still bound; the next apply unbinds them):")
        assert re.fullmatch(
            rf"  {old}  replaced at \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[heading + 1]
        ), lines[heading + 1]
        assert "username" not in described.stdout and f"u-{old}" not in described.stdout

        finished = _run(tmp_path, services)
        assert finished.exit_code == 0, finished.stderr
        again = run_cli("get", "bindings", "-n", "apps", *where)
        assert again.stdout.splitlines()[1].split(None, 4)[4] == "Ready"
        assert "Retiring" not in run_cli("describe", BINDING, *where).stdout
