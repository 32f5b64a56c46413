"""CLI tests, and :func:`run_cli`, which runs ``catalogctl`` in-process exactly as the
console script does (``catalogctl.cli.main.main``: exit codes, error rendering)."""

from __future__ import annotations

import subprocess
import sys
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
