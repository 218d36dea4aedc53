"""Reading the app's own files (library entries, settings, caches, class names) safely.

Anything in the data folder may have been replaced by something that is not a file: a
FIFO blocks ``open`` and ``read`` forever, a link to ``/dev/zero`` never ends, and a
hand-edited file can be any size. So files are opened without blocking, checked to be
regular files of at most a given size, and read to at most that size; JSON is parsed
with the failures of deep nesting and foreign encodings turned into ``ValueError``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from resnet_desktop.core.errors import UserError

KIB = 1 << 10
MIB = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


class UnsafeFileError(UserError, OSError):
    """A path that is not a regular file, or a file larger than the app accepts there.

    An OSError too, so code that treats an unreadable file as missing or damaged handles
    these the same way.
    """


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file ``path``, which must hold at most ``limit`` bytes.

    Raises FileNotFoundError and other OSErrors as ``open`` does, and UnsafeFileError for
    a FIFO, device, socket or folder, or a file over the limit (checked again while
    reading, for a file that grows).
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        _check_regular(fd, path, limit)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise UnsafeFileError(f"{path} is larger than {_size(limit)}")
    return data


def check_regular_file(path: str | os.PathLike[str], limit: int) -> int:
    """The size of ``path``, after checking it is a regular file of at most ``limit`` bytes.

    For files another library reads by path (weights, OpenVINO models); raises as
    :func:`read_bounded` does.
    """
    fd = os.open(path, _OPEN_FLAGS)
    try:
        return _check_regular(fd, path, limit)
    finally:
        os.close(fd)


def _check_regular(fd: int, path: str | os.PathLike[str], limit: int) -> int:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(f"{path} is not a regular file")
    if info.st_size > limit:
        raise UnsafeFileError(f"{path} is larger than {_size(limit)}")
    return info.st_size


def _size(limit: int) -> str:
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if limit >= unit:
            return f"{limit / unit:g} {name}"
    return f"{limit} bytes"


def parse_json(data: bytes, source: str | Path, **kwargs: Any) -> Any:
    """JSON from UTF-8 bytes (a BOM is allowed); ValueError for anything unparseable.

    ``json`` raises UnicodeDecodeError for other encodings and RecursionError for deep
    nesting; both become a ValueError naming ``source``. ``kwargs`` go to ``json.loads``.
    """
    try:
        return json.loads(data.decode("utf-8-sig"), **kwargs)
    except UnicodeDecodeError:
        raise ValueError(f"{source} is not UTF-8 text") from None
    except RecursionError:
        raise ValueError(f"{source} is nested too deeply") from None


def read_json(path: str | os.PathLike[str], limit: int, **kwargs: Any) -> Any:
    """:func:`read_bounded` then :func:`parse_json`."""
    return parse_json(read_bounded(path, limit), path, **kwargs)
