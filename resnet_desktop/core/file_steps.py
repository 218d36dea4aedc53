"""Placing one file elsewhere (copy, move, link) so that a crash at any instant loses nothing.

Each operation passes only through states in which the file exists whole in at least one
of its two places, and never writes over an existing name: a copy is written to a hidden
partial file beside the target, flushed, read back and compared (size and sha256) with
the original, and only then given the target's name, by a hard link that fails rather
than replace anything. A move deletes its source only once the target holds the same
bytes. So after a crash, the two paths alone tell how far a step got:
:func:`finish_step` completes it and :func:`reverse_step` takes it back, whatever the
moment it stopped, and either may be run again after a crash of its own.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Literal

from resnet_desktop.core.errors import REMEDY_SORT_COPY_OR_LINK, UserError

Mode = Literal["copy", "move", "link"]
MODES: tuple[Mode, ...] = ("copy", "move", "link")

CHUNK_BYTES = 1 << 20
# link() errors that mean "no hard link here" rather than "something is wrong": another
# device, or a file system without hard links (FAT and exFAT answer EPERM).
_NO_HARD_LINK = {errno.EXDEV, errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK}
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)

# What a finished step did, as the summary says it.
MOVED = "moved"
MOVED_BY_COPY = "moved (copied across devices)"
COPIED = "copied"
HARD_LINK = "hard link"
SYMLINK = "symbolic link"
# What reversing a step did.
MOVED_BACK = "moved back"
REMOVED = "removed"
NOTHING = "nothing to undo"


class StepProblem(UserError):
    """A step cannot be done or undone for this file; the message says why (one line)."""


class TargetTaken(StepProblem):
    """Another file took the target's name meanwhile: nothing was done."""


def partial_path(path: Path) -> Path:
    """The hidden file a copy to ``path`` is written to: short, so any name fits."""
    digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:20]
    return path.with_name(f".resnet-desktop-{digest}.partial")


def finish_step(source: Path, target: Path, mode: Mode) -> str:
    """Bring a step to its end from whatever state it is in; returns what was done.

    A copy or link target only ever appears whole, so an existing target means done.
    """
    _remove(partial_path(target))
    if mode == "move":
        return _finish_move(source, target)
    if os.path.lexists(target):
        return SYMLINK if os.path.islink(target) else (COPIED if mode == "copy" else HARD_LINK)
    if mode == "copy":
        copy_verified(source, target)
        return COPIED
    return _link(source, target)


def reverse_step(source: Path, target: Path) -> str:
    """Take a step back from whatever state it is in; returns what was done.

    Raises:
        StepProblem: both files exist and differ, or the original is gone and the target
            is only a link to it: both are kept as they are.
    """
    _remove(partial_path(target))
    _remove(partial_path(source))
    if not os.path.lexists(target):
        if not os.path.lexists(source):
            raise StepProblem(f"neither {source} nor {target} exists any more")
        return NOTHING
    if os.path.lexists(source):
        if not same_content(source, target):
            raise StepProblem(f"{target} differs from the original {source}: both kept")
        os.unlink(target)
        return REMOVED
    if os.path.islink(target):
        raise StepProblem(f"the original {source} is gone; the link {target} to it is kept")
    source.parent.mkdir(parents=True, exist_ok=True)
    move_file(target, source)
    return MOVED_BACK


def _finish_move(source: Path, target: Path) -> str:
    if not os.path.lexists(source):
        if os.path.lexists(target):
            return MOVED  # a crash came after the source was removed
        raise StepProblem(f"{source} is gone")
    if os.path.islink(source):
        raise StepProblem(
            f"{source} is a symbolic link and was not moved", remedy=REMEDY_SORT_COPY_OR_LINK
        )
    if os.path.lexists(target):  # a crash came between placing the target and the unlink
        if not same_content(source, target):
            raise StepProblem(f"{target} exists and differs from {source}")
        os.unlink(source)
        return MOVED
    return move_file(source, target)


def move_file(source: Path, target: Path) -> str:
    """Move without ever replacing ``target``; across devices, copy, verify, then delete."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise TargetTaken(f"{target} appeared meanwhile") from error
        if error.errno == errno.EXDEV:
            return _move_by_copy(source, target)
        if error.errno not in _NO_HARD_LINK:
            raise
        return _rename(source, target)
    os.unlink(source)
    return MOVED


def _rename(source: Path, target: Path) -> str:
    """A move where hard links are not possible (the check and the rename are not atomic)."""
    if os.path.lexists(target):
        raise TargetTaken(f"{target} appeared meanwhile")
    try:
        os.rename(source, target)
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
        return _move_by_copy(source, target)
    return MOVED


def _move_by_copy(source: Path, target: Path) -> str:
    copy_verified(source, target)
    _sync_folder(target.parent)  # the copy is on disk before the original goes
    os.unlink(source)
    return MOVED_BY_COPY


def _link(source: Path, target: Path) -> str:
    """A hard link, or a symbolic link to the absolute source where none is possible."""
    try:
        os.link(source, target)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise TargetTaken(f"{target} appeared meanwhile") from error
        if error.errno not in _NO_HARD_LINK:
            raise
        os.symlink(os.path.abspath(source), target)
        return SYMLINK
    return HARD_LINK


# ------------------------------------------------------------------------------ copying


def copy_verified(source: Path, target: Path) -> None:
    """Copy ``source`` to the new name ``target``, checked byte for byte before it appears."""
    partial = partial_path(target)
    _remove(partial)
    try:
        before, size, digest = _copy_to_partial(source, partial)
        after = os.stat(source)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise StepProblem(f"{source} changed while it was copied")
        shutil.copystat(source, partial)  # dates and permissions, as a move keeps them
        if file_digest(partial) != (size, digest):
            raise StepProblem(f"the copy of {source} differs from it (a disk or memory fault?)")
        _publish(partial, target)
    except BaseException:
        _remove(partial)
        raise


def _copy_to_partial(source: Path, partial: Path) -> tuple[os.stat_result, int, str]:
    """Write the bytes of ``source`` to ``partial``, flushed to disk: (stat, size, sha256)."""
    digest = hashlib.sha256()
    size = 0
    with _open_regular(source) as (reader, before):
        out = os.open(partial, _CREATE_FLAGS, 0o666)
        with os.fdopen(out, "wb") as writer:
            while chunk := reader.read(CHUNK_BYTES):
                digest.update(chunk)
                writer.write(chunk)
                size += len(chunk)
            writer.flush()
            os.fsync(writer.fileno())
    return before, size, digest.hexdigest()


def _publish(partial: Path, target: Path) -> None:
    """Give the finished partial file its name, never replacing a file of that name."""
    try:
        os.link(partial, target)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise TargetTaken(f"{target} appeared meanwhile") from error
        if error.errno not in _NO_HARD_LINK:
            raise
        if os.path.lexists(target):
            raise TargetTaken(f"{target} appeared meanwhile") from error
        os.rename(partial, target)
        return
    os.unlink(partial)


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[tuple[BinaryIO, os.stat_result]]:
    """``path`` open for reading with its stat, refusing a FIFO or device (never blocks)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StepProblem(f"{path} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            yield handle, info
    finally:
        os.close(fd)


def file_digest(path: Path) -> tuple[int, str]:
    """(size, sha256) of a regular file's bytes."""
    digest = hashlib.sha256()
    size = 0
    with _open_regular(path) as (reader, _):
        while chunk := reader.read(CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def same_content(first: Path, second: Path) -> bool:
    """Whether two paths hold the same bytes (one file twice counts); False if one is gone."""
    try:
        if os.path.samefile(first, second):
            return True
        if os.stat(first).st_size != os.stat(second).st_size:
            return False
        return file_digest(first) == file_digest(second)
    except (OSError, StepProblem):
        return False


def _sync_folder(folder: Path) -> None:
    """Make the folder's new entries durable (POSIX; Windows cannot open folders)."""
    if os.name == "nt":  # pragma: no cover - exercised on Windows only
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
