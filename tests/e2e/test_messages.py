"""Messages that must not mislead: an interrupted step is not a failure, destroy reports as
destroy, a newer state names both versions, a lost journal after a committed apply is no error."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, wait_for
from tests.processes import CatalogctlProcess


@pytest.fixture
def ws(tmp_path: Path, programmable_broker: ProgrammableBroker) -> Workspace:
    w = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    w.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    return w


def test_sigterm_while_polling_says_interrupted_not_failed(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    programmable_broker.async_polls = 100_000  # the operation stays in progress
    ws.write("db.yaml", instance_yaml("db", "async"))
    proc = CatalogctlProcess(
        ["--no-color", "apply", "--auto-approve", "-f", str(ws.services), *ws.target_args()]
    )
    try:
        wait_for(
            lambda: programmable_broker.requests_to("GET", "/last_operation"),
            timeout=30,
            what="the first poll",
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, (out, err)
    assert "failed" not in out + err, (out, err)
    assert "ServiceInstance/apps/db: Provisioning interrupted after " in out, out
    assert "the next apply resumes it" in out
    assert err.startswith("Error: interrupted"), err
    # The operation is in state, and the next apply resumes polling it.
    assert ws.resources()["ServiceInstance/apps/db"]["operation"]["operation"]


def test_a_failed_destroy_says_destroy(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    ws.write("db.yaml", instance_yaml("db"))
    ws.ok("apply", "--auto-approve")
    programmable_broker.script("DELETE", "/service_instances/", status=500, body={})
    # One attempt: with retries the next DELETE would succeed.
    result = ws.run("destroy", "--auto-approve", "--retry-timeout", "0", with_files=False)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: destroy finished with errors:"), result.stderr
    assert "apply" not in result.stderr
    assert "ServiceInstance/apps/db" in ws.resources()


def test_a_journal_removed_during_a_successful_apply_is_no_error(
    ws: Workspace, programmable_broker: ProgrammableBroker
) -> None:
    journal = ws.state / "catalogctl.journal.jsonl"
    ws.write("db.yaml", instance_yaml("db"))
    # The provision answers late; meanwhile the journal is removed (by hand, by a cleanup job).
    programmable_broker.script("PUT", "/service_instances/", status=201, body={}, delay=1.0)
    removed = threading.Event()

    def remove_journal() -> None:
        wait_for(journal.exists, timeout=30, what="the journal")
        journal.unlink()
        removed.set()

    remover = threading.Thread(target=remove_journal, daemon=True)
    remover.start()
    result = ws.run("apply", "--auto-approve")
    remover.join(timeout=30)
    assert removed.is_set()
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert ws.resources()["ServiceInstance/apps/db"]["status"] == "ready"
    assert not journal.exists()
