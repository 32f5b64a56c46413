"""Ctrl-C during apply, as an operator presses it: the first press stops new work, each
further press is acknowledged, the third abandons waiting for the requests in flight, and
the run exits 130 with state saved so that the next apply resumes."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from catalogctl.engine.interrupts import ABANDON, FIRST, SECOND
from tests.brokers.programmable import ProgrammableBroker
from tests.e2e.conftest import Workspace, broker_yaml, instance_yaml, wait_for


class _Lines:
    """The output of a process, collected by a thread as it arrives."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)


def test_three_interrupts_stop_acknowledge_and_abandon_waiting(
    tmp_path: Path, programmable_broker: ProgrammableBroker
) -> None:
    ws = Workspace(tmp_path, cluster_dir=tmp_path / "cluster")
    ws.write("broker.yaml", broker_yaml(programmable_broker.url, name="prog", auth=False))
    ws.write("db.yaml", instance_yaml("db"))
    # The provision request stays in flight far longer than the test waits.
    programmable_broker.script("PUT", r"^/v2/service_instances/", delay=60)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "catalogctl",
            "--no-color",
            "apply",
            "-f",
            str(ws.services),
            *ws.target_args(),
            "--auto-approve",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = _Lines(proc)
        wait_for(
            lambda: programmable_broker.requests_to("PUT", r"^/v2/service_instances/"),
            timeout=30,
            what="the provision request",
        )
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: out.has(FIRST), what="the first acknowledgement")
        assert proc.poll() is None  # still waiting for the request in flight
        proc.send_signal(signal.SIGINT)
        wait_for(lambda: out.has(SECOND), what="the second acknowledgement")
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    wait_for(lambda: out.has("Error: interrupted"), what="the final message")
    assert code == 130, out.lines
    assert out.has(ABANDON)
    # The id was recorded before the request was sent: the next apply resumes it.
    instance = ws.resources()["ServiceInstance/apps/db"]
    assert (
        instance["instance_id"]
        == (
            programmable_broker.requests_to("PUT", r"^/v2/service_instances/")[0].path.split("/")[
                -1
            ]
        )
    )
