"""examples/quickstart/run.sh as a new user runs it, on a port other than its default."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.launcher import Launcher

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_quickstart_honours_quickstart_port(
    tmp_path: Path, catalogctl_launcher: Launcher
) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "QUICKSTART_PORT": str(port),
        # Still asynchronous (202, then polls), without the three seconds shown to people.
        "QUICKSTART_PROVISION_SECONDS": "0.2",
        "CATALOGCTL": str(catalogctl_launcher.program),
        "PYTHON": sys.executable,
        "TMPDIR": str(tmp_path),
        "NO_COLOR": "1",
    }
    proc = subprocess.run(
        ["bash", str(REPO / "examples/quickstart/run.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in proc.stdout
    assert "No changes." in proc.stdout
    assert "== Done: state in " in proc.stdout.rstrip().splitlines()[-1]
