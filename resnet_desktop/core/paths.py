"""Where settings, the model library and caches live.

``RESNET_DESKTOP_DATA_DIR`` puts everything under one folder (tests, portable installs);
otherwise platformdirs gives the per-user folders of the operating system.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "resnet-desktop"
DATA_DIR_ENV = "RESNET_DESKTOP_DATA_DIR"


def _override() -> Path | None:
    value = os.environ.get(DATA_DIR_ENV)
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Folder of ``settings.json``."""
    root = _override()
    return root if root else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir() -> Path:
    """Folder of persistent data: the model library."""
    root = _override()
    return root if root else Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Folder of things that can be rebuilt (feature caches, thumbnails)."""
    root = _override()
    return root / "cache" if root else Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def openvino_cache_dir() -> Path:
    """Folder of the models converted for OpenVINO."""
    return cache_dir() / "openvino"


def library_dir() -> Path:
    """Folder of the user's model library."""
    return data_dir() / "models"


def catalog_path() -> Path:
    """The user's results catalog (an SQLite file), unless a run names another."""
    return data_dir() / "catalog.sqlite3"


def torch_hub_dir() -> Path:
    """torch's hub folder, computed as ``torch.hub.get_dir()`` does but without importing torch."""
    torch_home = os.environ.get("TORCH_HOME")
    if not torch_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
        torch_home = os.path.join(xdg, "torch")
    return Path(torch_home).expanduser() / "hub"
