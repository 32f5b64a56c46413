"""Crash-safe file writes for :class:`DirectoryCluster`.

Every object is written to a temporary file in its directory, fsync'd, and
renamed into place, and the directory is fsync'd after the rename, so a crash
leaves the old file or the new one, never a torn one, and a write that
returned is durable.
"""

from __future__ import annotations

import contextlib
import os
import threading

__all__ = ["atomic_write"]

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write(path: str, data: bytes, mode: int, made_dirs: set[str] | None = None) -> None:
    """Write ``data`` to ``path`` via temp file, fsync and rename, with exactly ``mode``.

    The parent directory is created (0700 for private files, ``mode`` 0600)
    unless ``made_dirs`` already names it.  The temp name is unique per process
    and thread and callers hold the object's lock, so a temp file already there
    was left by a killed process with this pid and thread id: no live writer
    owns it, and it is replaced.
    """
    parent, base = os.path.split(path)
    if made_dirs is None or parent not in made_dirs:
        os.makedirs(parent, mode=0o700 if mode == 0o600 else 0o755, exist_ok=True)
        if made_dirs is not None:
            made_dirs.add(parent)
    tmp = f"{parent}/.{base}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        fd = os.open(tmp, _FLAGS, 0o600)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, _FLAGS, 0o600)
    try:
        try:
            os.fchmod(fd, mode)  # exact mode whatever the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
