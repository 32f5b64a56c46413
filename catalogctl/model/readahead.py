"""Parse ``-f`` sources in a forked child while the command loads everything else.

``catalogctl plan`` over ten thousand resources spends about a third of a
second parsing YAML, and about as long importing the modules that use what
was parsed (pydantic models, networkx, the providers).  Neither needs the
other, so with a second CPU a child process parses while the parent imports.
The child hands back plain values (``marshal``: strings, numbers, lists, dicts
and tuples, no code) and the parent rebuilds the very Documents a serial read
gives.

The child is forked only where that is sound and pays:

- on Linux, where ``fork`` without ``exec`` is well defined;
- from a process with a single thread: a lock another thread holds at the
  moment of the fork would stay held for ever in the child;
- with more than one CPU to run on, and at least :data:`MIN_BYTES` of YAML;
- without ``-`` (stdin belongs to the parent).

Otherwise, and whenever the child fails (fork refused, killed, bad answer),
the sources are read in the calling process, with the same result.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import signal
import sys
import threading
from collections.abc import Iterable
from typing import Any

from catalogctl.errors import Problem
from catalogctl.model.source import (
    STDIN,
    Document,
    FileMarks,
    Position,
    expand_path,
    read_sources,
)

#: Below this much YAML (about 700 resources, 50 ms of parsing) a child costs
#: more than it saves.
MIN_BYTES = 256 * 1024

Result = tuple[list[Document], list[Problem]]


class Sources:
    """The ``-f`` arguments of one command, possibly being parsed by a child already.

    Call :meth:`result` once for the documents and problems
    (:func:`~catalogctl.model.source.read_sources`'s answer) and :meth:`close`
    when done; closing an unread child stops it.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = tuple(paths)
        self._child: tuple[int, int] | None = None  # (pid, read end of its pipe)

    @property
    def ahead(self) -> bool:
        """Whether a child is parsing (and has not been collected)."""
        return self._child is not None

    def start(self) -> None:
        """Fork the parsing child if it is sound and worth it (see module docstring)."""
        if self._child is None and _fork_worthwhile(self.paths):
            self._child = _fork_reader(self.paths)

    def result(self) -> Result:
        if self._child is not None:
            received = self._collect()
            if received is not None:
                return received
        return read_sources(self.paths)

    def close(self) -> None:
        """Stop and reap a child whose answer was never asked for."""
        if self._child is None:
            return
        pid, fd = self._child
        self._child = None
        os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reaped elsewhere already
            os.waitpid(pid, 0)

    def _collect(self) -> Result | None:
        assert self._child is not None
        pid, fd = self._child
        self._child = None
        with open(fd, "rb") as pipe:
            payload = pipe.read()
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:  # reaped elsewhere: its exit status is unknown
            return None
        if os.waitstatus_to_exitcode(status) != 0:
            return None
        try:
            return _decode(marshal.loads(payload))
        except (EOFError, ValueError, TypeError):
            return None


def read_ahead(paths: Iterable[str]) -> Sources:
    """Sources for ``paths``, with a child already parsing them when worthwhile."""
    sources = Sources(paths)
    sources.start()
    return sources


def _fork_worthwhile(paths: tuple[str, ...]) -> bool:
    if sys.platform != "linux" or STDIN in paths:
        return False
    if threading.active_count() != 1 or len(os.sched_getaffinity(0)) < 2:
        return False
    total = 0
    for arg in paths:
        if not os.path.exists(arg):
            continue  # reported by the read itself
        for file in expand_path(arg):
            try:
                total += file.stat().st_size
            except OSError:
                continue
            if total >= MIN_BYTES:
                return True
    return False


def _fork_reader(paths: tuple[str, ...]) -> tuple[int, int] | None:
    read_end, write_end = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return None
    if pid == 0:  # the child: parse, answer, and leave without running any cleanup
        status = 1
        try:
            os.close(read_end)
            payload = marshal.dumps(_encode(read_sources(paths)))
            with open(write_end, "wb") as pipe:
                pipe.write(payload)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def _position(pos: Position) -> tuple[str, int, int]:
    return (pos.file, pos.line, pos.column)


def _encode(result: Result) -> Any:
    """Plain values for ``marshal``: each file's text once, then its documents and problems."""
    documents, problems = result
    texts: dict[int, int] = {}  # id(FileMarks) -> its index in ``files``
    files: list[tuple[str, str]] = []
    encoded = []
    for d in documents:
        source = -1
        if d.source is not None:
            source = texts.get(id(d.source), -1)
            if source < 0:
                source = texts[id(d.source)] = len(files)
                files.append((d.source.file, d.source.text))
        duplicates = [(path, _position(a), _position(b)) for path, a, b in d.duplicate_keys]
        encoded.append((d.file, d.index, d.data, _position(d.start), duplicates, source))
    return (
        files,
        encoded,
        [(p.file, p.line, p.column, p.resource, p.field, p.message) for p in problems],
    )


def _decode(value: Any) -> Result:
    files, documents, problems = value
    sources = [FileMarks(file, text) for file, text in files]
    return (
        [
            Document(
                file,
                index,
                data,
                Position(*start),
                [(path, Position(*a), Position(*b)) for path, a, b in duplicates],
                sources[source] if source >= 0 else None,
            )
            for file, index, data, start, duplicates, source in documents
        ],
        [Problem(*p) for p in problems],
    )
