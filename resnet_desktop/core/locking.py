"""An exclusive OS file lock between processes: ``flock`` on POSIX, ``msvcrt`` on Windows.

Two copies of the app (two windows, a window and the command line) share the model
library and the caches. A check-then-write such as "no model of this name yet, so save
it" is only true while nobody else writes, so such steps run holding the lock of what
they change. The operating system releases the lock when its holder dies, so a crash
never leaves the library locked; the lock file itself stays (it is empty).
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Iterator
from pathlib import Path

from resnet_desktop.core.errors import UserError

POLL_SECONDS = 0.05
_CONTENTION = {errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK}


class LockTimeout(UserError):
    """Another process held the lock for longer than the caller would wait."""


@contextlib.contextmanager
def file_lock(path: Path, timeout: float, busy: str) -> Iterator[None]:
    """Hold the lock of ``path`` (created if missing) for the block.

    Waits up to ``timeout`` seconds for another holder, then raises LockTimeout with the
    message ``busy``. Other processes and other open files of this process are excluded.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise LockTimeout(busy)
            time.sleep(POLL_SECONDS)
        try:
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether some process holds the lock of ``path`` now (False if there is no file)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        if not _try_lock(fd):
            return True
        _unlock(fd)
        return False
    finally:
        os.close(fd)


if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # byte 0; locking past the end is allowed
        except OSError as error:
            if error.errno in _CONTENTION:
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in _CONTENTION:
                return False
            raise
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
