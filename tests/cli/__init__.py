"""CLI tests, and :func:`run_cli`, which runs ``catalogctl`` in-process exactly as the
console script does (``catalogctl.cli.main.main``: exit codes, error rendering)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from catalogctl.cli.main import main


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def stderr_lines(self) -> list[str]:
        return self.stderr.splitlines()


def run_cli(*args: str, input: str | None = None) -> CliResult:
    """Run ``catalogctl *args`` in-process and capture stdout, stderr and the exit code."""
    runner = CliRunner()
    code = 0
    with runner.isolation(input=input) as (out, err, _mixed):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        stdout = out.getvalue().decode()
        stderr = err.getvalue().decode()
    return CliResult(code, stdout, stderr)


def run_subprocess(*args: str, cwd: Path | None = None, input: str | None = None) -> CliResult:
    """Run ``python -m catalogctl *args`` as a separate process."""
    proc = subprocess.run(
        [sys.executable, "-m", "catalogctl", *args],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def run_on_terminal(
    program: Path, args: list[str], answer: str, *, cwd: Path | None = None
) -> tuple[int, str]:
    """Run ``catalogctl *args`` on a pseudo-terminal, answer its prompt, return (code, output).

    ``program`` is the ``catalogctl`` to run, e.g. the launcher's (``catalogctl_launcher``).
    """
    master, slave = pty.openpty()
    env = {**os.environ, "NO_COLOR": "1"}
    proc = subprocess.Popen(
        [str(program), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        close_fds=True,
        cwd=cwd,
    )
    os.close(slave)
    output = b""
    answered = False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
            if not answered and b"Enter a value: " in output:
                os.write(master, answer.encode() + b"\n")
                answered = True
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, output.decode().replace("\r\n", "\n")
