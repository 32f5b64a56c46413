"""A ``catalogctl`` program for scripts under test, whose runs fork from the preloaded server.

The quickstart script and the CI workflow's steps call ``catalogctl`` by name, once per
step.  Through the console script each call spends about a second importing (two and a
half with the Kubernetes client's models) before it does anything.  :class:`Launcher`
writes a small program named ``catalogctl`` instead: it hands its arguments, environment,
working directory and standard streams to the test process over a Unix socket, which runs
catalogctl in a child of the fork server (:mod:`tests.processes`) on those very streams,
forwards the signals the program receives to that child, and sends back its exit status for
the program to exit with.  Scripts see a ``catalogctl`` that behaves as the real one: its
output on their pipes and terminals, its exit codes, its reaction to signals.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
import threading
from multiprocessing import connection, reduction
from pathlib import Path
from typing import Any

from tests import processes

#: The program: a shell script (a long interpreter path cannot go on a ``#!`` line) that
#: runs :data:`_CLIENT` with this interpreter, isolated and without site-packages.
_PROGRAM = """\
#!/bin/sh
exec {python} -IS {client} "$@"
"""

_CLIENT = """\
import json, os, signal, socket, sys

link = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
link.connect({socket!r})
run = {{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}
socket.send_fds(link, [json.dumps(run).encode()], [0, 1, 2])


def forward(signum, frame):
    link.send(b"%d" % signum)


for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, forward)
code = int(link.recv(64))
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


class Launcher:
    """Serves the program at :attr:`program` until :meth:`close`."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="catalogctl-launcher-"))
        address = str(self._dir / "socket")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._listener.bind(address)
        self._listener.listen()
        (self._dir / "bin").mkdir()
        client = self._dir / "client.py"
        client.write_text(_CLIENT.format(socket=address))
        self.program = self._dir / "bin" / "catalogctl"
        self.program.write_text(
            _PROGRAM.format(python=shlex.quote(sys.executable), client=shlex.quote(str(client)))
        )
        self.program.chmod(0o755)
        self._thread = threading.Thread(target=self._accept, name="launcher", daemon=True)
        self._thread.start()

    @property
    def bin_dir(self) -> Path:
        """A directory holding only the program, to put first on ``PATH``."""
        return self.program.parent

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() below
        self._listener.close()
        self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        while True:
            try:
                link, _ = self._listener.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(link,), daemon=True).start()

    def _serve(self, link: socket.socket) -> None:
        with link:
            data, fds, _, _ = socket.recv_fds(link, 1 << 20, 3)
            run = json.loads(data)
            ctx = processes.context()
            ours, theirs = ctx.Pipe()
            child = ctx.Process(
                target=_run_attached, args=(run["argv"], run["cwd"], run["env"], theirs)
            )
            child.start()
            theirs.close()
            for fd in fds:
                reduction.send_handle(ours, fd, child.pid or 0)
                os.close(fd)
            while True:
                ready = connection.wait([link, child.sentinel])
                if child.sentinel in ready:
                    break
                signal_number = link.recv(64)
                if not signal_number:  # the program is gone: so is its run
                    child.kill()
                    break
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid or 0, int(signal_number))
            child.join()
            ours.close()
            with contextlib.suppress(OSError):
                link.send(b"%d" % (child.exitcode or 0))


def _run_attached(argv: list[str], cwd: str, env: dict[str, str], link: Any) -> None:
    """The child: the program's standard streams as its own, then catalogctl."""
    for target in (0, 1, 2):
        fd = reduction.recv_handle(link)
        os.dup2(fd, target)
        os.close(fd)
    link.close()
    # The streams as Python makes them at start-up for these descriptors.
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    processes.run_main(argv, cwd, env)
