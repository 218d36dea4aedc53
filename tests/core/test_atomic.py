"""Atomic writes: all or nothing, with ordinary file permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from resnet_desktop.core.atomic import atomic_open, atomic_write_text


def test_replaces_the_file_only_when_the_block_succeeds(tmp_path: Path):
    target = tmp_path / "settings.json"
    atomic_write_text(target, "first")
    with pytest.raises(RuntimeError), atomic_open(target, "w", encoding="utf-8") as handle:
        handle.write("half of the second")
        raise RuntimeError("crash")
    assert target.read_text(encoding="utf-8") == "first"
    assert os.listdir(tmp_path) == ["settings.json"]


def test_new_files_get_the_umask_permissions_not_owner_only(tmp_path: Path):
    umask = os.umask(0)
    os.umask(umask)
    atomic_write_text(tmp_path / "out.csv", "x")
    assert stat.S_IMODE((tmp_path / "out.csv").stat().st_mode) == 0o666 & ~umask
