"""The single place where errors become process exit codes.

0 success; 1 error; 2 success with changes present (``--detailed-exitcode``);
130 interrupted (state saved, the next apply resumes).
"""

from __future__ import annotations

from catalogctl.errors import CatalogctlError, Interrupted

OK = 0
ERROR = 1
CHANGES_PRESENT = 2
INTERRUPTED = 130


def exit_code_for(error: BaseException) -> int:
    """Return the exit code for an error that reached the CLI boundary."""
    if isinstance(error, Interrupted | KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(error, CatalogctlError):
        return ERROR
    return ERROR
