"""catalogctl in processes of its own, without paying Python start-up for each.

Some tests need a run in a separate process: one the test SIGKILLs, or one that
holds a lock another run must meet.  Started as ``python -m catalogctl``, such a
process spends about a second importing before its first request, and the crash
tests start dozens.  Here they are forked by multiprocessing's fork server,
which imports catalogctl once: each run is still a real process (its own pid,
exit status and file descriptors; a SIGKILL ends it without any cleanup), only
with its imports already done.  The server is a single-threaded process, so
forking it is safe where forking the test process (with its broker and
apiserver client threads) would not be.

:func:`context` is the multiprocessing context for any test child; tests of
the CLI use :class:`CatalogctlProcess`, which mirrors the ``subprocess.Popen``
members they use.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from multiprocessing import forkserver
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

#: How long a child may run before :meth:`CatalogctlProcess.communicate` gives up.
DEFAULT_TIMEOUT = 60.0


@functools.cache
def context() -> ForkServerContext:
    """The fork-server context; its server imports what runs need first (:mod:`tests.preloaded`)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.preloaded"])
    return ctx


def start_server() -> None:
    """Start the fork server now: its imports (seconds of CPU) then run while tests do."""
    context()
    forkserver.ensure_running()


class CatalogctlProcess:
    """``catalogctl ARGS`` running in a forked child; the ``Popen`` members tests use.

    Output goes to files read once the child has exited (no pipe to drain while
    it runs).  Async operations are polled at the test interval, as in-process
    runs are (``tests/conftest.py``).  ``stop_at_record=k`` makes the run stop
    once its k-th journal record is durable (:func:`_stop_at_record`): ``stopped``
    is set then, and ``blocked`` once the run waits on a journal write it may not
    make; the test SIGKILLs it there (:meth:`kill`).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        stop_at_record: int | None = None,
    ) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="catalogctl-proc-"))
        for name in ("stdout", "stderr"):  # there even if the child dies before writing
            (self._dir / name).touch()
        ctx = context()
        self.stopped = ctx.Event()
        self.blocked = ctx.Event()
        stop = None if stop_at_record is None else (stop_at_record, self.stopped, self.blocked)
        self._process = ctx.Process(
            target=_run_catalogctl,
            args=(
                list(args),
                str(cwd or os.getcwd()),
                dict(os.environ if env is None else env),
                str(self._dir),
                stop,
            ),
            daemon=True,
        )
        self._process.start()
        self.pid: int = self._process.pid or 0
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and not self._process.is_alive():
            self._process.join()
            self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            self.kill()
            raise AssertionError(f"catalogctl (pid {self.pid}) still running after {timeout}s")
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float = DEFAULT_TIMEOUT) -> tuple[str, str]:
        """Wait for the exit; (stdout, stderr) as text."""
        self.wait(timeout)
        out, err = (self._dir / "stdout").read_text(), (self._dir / "stderr").read_text()
        for name in ("stdout", "stderr"):
            (self._dir / name).unlink()
        self._dir.rmdir()
        return out, err

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(10)
        self.poll()


def _run_catalogctl(
    args: list[str], cwd: str, env: dict[str, str], out_dir: str, stop: tuple[int, Any, Any] | None
) -> None:
    """The child: the environment and streams of a fresh process, then catalogctl's ``main``."""
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(os.path.join(out_dir, name), os.O_WRONLY)
        os.dup2(target, fd)
        os.close(target)
    if stop is not None:
        _stop_at_record(*stop)
    run_main(args, cwd, env)


def run_main(args: list[str], cwd: str, env: dict[str, str]) -> None:
    """In a child: catalogctl's ``main`` as a fresh ``catalogctl ARGS`` process in ``cwd`` with
    ``env`` runs it, its async operations polled at the test interval (``tests/conftest.py``)."""
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from catalogctl.engine import session
    from tests.conftest import POLL_INTERVAL

    session.PollScheduler = functools.partial(  # type: ignore[misc]
        session.PollScheduler, initial_interval=POLL_INTERVAL, min_interval=POLL_INTERVAL
    )
    from catalogctl.cli.main import main

    sys.argv = ["catalogctl", *args]
    main()


def _stop_at_record(limit: int, stopped: Any, blocked: Any) -> None:
    """Stop this run's journal once ``limit`` records are durable.

    Every further journal write or commit then blocks for good, so exactly
    ``limit`` records reach storage whenever the test kills the run; ``stopped``
    tells the test the limit was reached (a request sent after it, such as the one
    a write-ahead record announces, still goes out), ``blocked`` that the run now
    waits on a write it may not make.
    """
    from catalogctl.state import journal

    written = 0

    def block_if_stopped() -> None:
        if stopped.is_set():
            blocked.set()
            while True:
                time.sleep(3600)

    append = journal.BaseJournal._append_checked
    commit = journal.BaseJournal.commit

    def append_checked(self: Any, line: bytes) -> None:
        nonlocal written
        block_if_stopped()
        append(self, line)
        written += line.count(b"\n")
        if written >= limit:
            stopped.set()

    def commit_checked(self: Any, **kwargs: Any) -> Any:
        block_if_stopped()
        return commit(self, **kwargs)

    journal.BaseJournal._append_checked = append_checked  # type: ignore[method-assign]
    journal.BaseJournal.commit = commit_checked  # type: ignore[method-assign]
