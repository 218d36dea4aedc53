"""Deleting what killed runs left behind, once at start-up.

Every write of the app is atomic, so a crash leaves no half-written file in place of a
whole one, but it can leave the temporary file itself, weights whose JSON was never
written, or a half-converted OpenVINO model. Those stay hidden and harmless, yet would
fill the disk over years. What is deleted is provably abandoned: a day old or more (no
write takes a day) and not locked by a running process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from resnet_desktop.core import paths, zoo
from resnet_desktop.core.library import ABANDONED_AFTER_S, ModelLibrary
from resnet_desktop.core.locking import is_locked
from resnet_desktop.core.settings import FILE_NAME as SETTINGS_FILE_NAME

STAGING_PREFIXES = (".converting-", ".replaced-")  # core/openvino_engine.py's hidden folders
LOCK_FILE = ".lock"


def clean_abandoned(now: float | None = None) -> list[Path]:
    """Delete the litter of killed runs in the app's folders; returns what was deleted.

    Cheap (a few folder listings) and silent: a file that cannot be deleted stays.
    """
    cutoff = (time.time() if now is None else now) - ABANDONED_AFTER_S
    ours = (f".{SETTINGS_FILE_NAME}.", *(f".{s.weights_file}." for s in zoo.SPECS.values()))
    return [
        *ModelLibrary().clean_abandoned(now),
        *_remove_old(paths.openvino_cache_dir(), _is_abandoned_staging, cutoff),
        *_remove_old(paths.config_dir(), lambda p: _is_temporary(p, ours), cutoff),
        *_remove_old(
            paths.torch_hub_dir() / "checkpoints", lambda p: _is_temporary(p, ours), cutoff
        ),
    ]


def _is_abandoned_staging(path: Path) -> bool:
    """A hidden conversion folder whose converting process no longer holds its lock."""
    return path.name.startswith(STAGING_PREFIXES) and not is_locked(path / LOCK_FILE)


def _is_temporary(path: Path, prefixes: tuple[str, ...]) -> bool:
    """A temporary file of core/atomic.py (``.<name>.<random>.tmp``) for one of our files."""
    return path.name.startswith(prefixes) and path.name.endswith(".tmp")


def _remove_old(folder: Path, is_litter: Callable[[Path], bool], cutoff: float) -> list[Path]:
    """Delete the entries of ``folder`` that ``is_litter`` and are older than ``cutoff``."""
    try:
        entries = list(folder.iterdir())
    except OSError:  # no such folder yet, or not readable: nothing to do
        return []
    return [p for p in entries if _older(p, cutoff) and is_litter(p) and _removed(p)]


def _older(path: Path, cutoff: float) -> bool:
    try:
        return path.lstat().st_mtime < cutoff
    except OSError:
        return False


def _removed(path: Path) -> bool:
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(path.lstat().st_mode):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        return True
    return False
