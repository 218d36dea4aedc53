"""The desktop app's settings: a typed dataclass saved as JSON, atomically.

A settings file is something users edit, sync and carry between versions, so reading it
never fails: a file that is not a regular file of at most 1 MiB of UTF-8 JSON is renamed
aside (``settings.json.corrupt-<time>``) and the defaults are used, unknown keys are
ignored and a value of the wrong type or out of range (every field has a range, since Qt
takes some as a C int) falls back to that field's default. Each problem is logged as a
warning. Window geometry and splitter state are Qt's opaque bytes, kept here as base64
text.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from resnet_desktop.core import paths
from resnet_desktop.core.atomic import atomic_write_text
from resnet_desktop.core.device import DEVICES, ENGINES, PRECISIONS
from resnet_desktop.core.safe_read import KIB, MIB, UnsafeFileError, parse_json, read_bounded

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"
MAX_TOP_K = 10
MAX_BATCH_SIZE = 4096
MAX_FILE_BYTES = MIB
MAX_TEXT = 4 * KIB  # a folder path or a model name
MAX_STATE = 64 * KIB  # base64 of Qt's geometry and splitter state (a few hundred bytes)
DEFAULT_MODEL = "resnet50"
GALLERY_TILES = (64, 256)  # the gallery's thumbnail sizes, smallest and largest


@dataclass
class Settings:
    """Everything the window remembers between sessions.

    Attributes:
        last_folder: where the file dialogs open.
        model: zoo architecture or library model name last selected.
        device, precision, engine: as ``resnet-desktop predict --device/--precision/--engine``.
        top_k: classes shown per image (1..10).
        batch_size: images per forward pass; ``None`` lets the predictor choose.
        window_geometry, splitter_state: base64 of ``QWidget.saveGeometry()`` and
            ``QSplitter.saveState()``; empty when never saved.
        catalog: the results catalog file the window records into; empty for the default.
        gallery_shown: the window shows the gallery instead of the table.
        gallery_tile: the gallery's thumbnail size in pixels.
        gallery_grouped: the gallery (and table) keep each label's images together.
    """

    schema_version: int = SCHEMA_VERSION
    last_folder: str = ""
    model: str = DEFAULT_MODEL
    device: str = "auto"
    precision: str = "auto"
    engine: str = "auto"
    top_k: int = 5
    batch_size: int | None = None
    window_geometry: str = ""
    splitter_state: str = ""
    catalog: str = ""
    gallery_shown: bool = False
    gallery_tile: int = 128
    gallery_grouped: bool = False


def _int_in(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _text(limit: int) -> Callable[[Any], bool]:
    """Text of at most ``limit`` characters without NUL (which no path or name holds)."""
    return lambda v: isinstance(v, str) and len(v) <= limit and "\0" not in v


# What a valid value of each field looks like; anything else gets the field's default.
_VALID: dict[str, Callable[[Any], bool]] = {
    "schema_version": _int_in(0, 1_000_000),
    "last_folder": _text(MAX_TEXT),
    "model": lambda v: _text(MAX_TEXT)(v) and bool(v.strip()),
    "device": lambda v: isinstance(v, str) and v in DEVICES,
    "precision": lambda v: isinstance(v, str) and v in PRECISIONS,
    "engine": lambda v: isinstance(v, str) and v in ENGINES,
    "top_k": _int_in(1, MAX_TOP_K),
    "batch_size": lambda v: v is None or _int_in(1, MAX_BATCH_SIZE)(v),
    "window_geometry": _text(MAX_STATE),
    "splitter_state": _text(MAX_STATE),
    "catalog": _text(MAX_TEXT),
    "gallery_shown": lambda v: isinstance(v, bool),
    "gallery_tile": _int_in(*GALLERY_TILES),
    "gallery_grouped": lambda v: isinstance(v, bool),
}


def settings_path() -> Path:
    """``settings.json`` in the per-user config folder (or ``RESNET_DESKTOP_DATA_DIR``)."""
    return paths.config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults for whatever is missing or unusable."""
    path = settings_path() if path is None else path
    try:
        data = parse_json(read_bounded(path, MAX_FILE_BYTES), path.name)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    except FileNotFoundError:
        return Settings()
    except (UnsafeFileError, ValueError) as error:  # ValueError: not UTF-8 JSON
        _set_aside(path, str(error))
        return Settings()
    except OSError as error:  # not allowed to read it: leave it where it is
        log.warning("cannot read %s (%s); using default settings", path, error)
        return Settings()
    return _from_dict(data, path)


def _from_dict(data: dict[str, Any], path: Path) -> Settings:
    defaults = Settings()
    values = {}
    for field in fields(Settings):
        if field.name not in data:
            continue
        value = data[field.name]
        if _VALID[field.name](value):
            values[field.name] = value
        else:
            log.warning(
                "%s: ignoring %s=%.80r; using the default %r",
                path,
                field.name,
                value,
                getattr(defaults, field.name),
            )
    settings = Settings(**values)
    settings.schema_version = SCHEMA_VERSION  # saved back in the current schema
    return settings


def _set_aside(path: Path, reason: str) -> None:
    """Keep the unreadable file for the user to inspect, out of the way of the next save."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    for count in range(2, 100):  # never replace an earlier corrupt copy of the same second
        if not os.path.lexists(aside):
            break
        aside = path.with_name(f"{path.name}.corrupt-{stamp}-{count}")
    try:
        os.replace(path, aside)
    except OSError as error:
        log.warning("%s is corrupt (%s) and cannot be moved aside: %s", path, reason, error)
        return
    log.warning("%s is corrupt (%s); moved it to %s and using defaults", path, reason, aside)


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Write ``settings`` atomically; a crash mid-save keeps the previous file."""
    path = settings_path() if path is None else path
    text = json.dumps(asdict(settings), indent=2, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)
