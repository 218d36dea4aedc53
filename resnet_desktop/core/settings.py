"""The desktop app's settings: a typed dataclass saved as JSON, atomically.

A settings file is something users edit, sync and carry between versions, so reading it
never fails: a file that is not JSON is renamed aside (``settings.json.corrupt-<time>``) and
the defaults are used, unknown keys are ignored and a value of the wrong type or out of
range falls back to that field's default. Each problem is logged as a warning. Window
geometry and splitter state are Qt's opaque bytes, kept here as base64 text.
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

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FILE_NAME = "settings.json"
MAX_TOP_K = 10
DEFAULT_MODEL = "resnet50"


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What a valid value of each field looks like; anything else gets the field's default.
_VALID: dict[str, Callable[[Any], bool]] = {
    "schema_version": _is_int,
    "last_folder": lambda v: isinstance(v, str),
    "model": lambda v: isinstance(v, str) and bool(v.strip()),
    "device": lambda v: v in DEVICES,
    "precision": lambda v: v in PRECISIONS,
    "engine": lambda v: v in ENGINES,
    "top_k": lambda v: _is_int(v) and 1 <= v <= MAX_TOP_K,
    "batch_size": lambda v: v is None or (_is_int(v) and v >= 1),
    "window_geometry": lambda v: isinstance(v, str),
    "splitter_state": lambda v: isinstance(v, str),
    "catalog": lambda v: isinstance(v, str),
}


def settings_path() -> Path:
    """``settings.json`` in the per-user config folder (or ``RESNET_DESKTOP_DATA_DIR``)."""
    return paths.config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> Settings:
    """The saved settings, or the defaults for whatever is missing or unusable."""
    path = settings_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Settings()
    except OSError as error:
        log.warning("cannot read %s (%s); using default settings", path, error)
        return Settings()
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    except ValueError as error:
        _set_aside(path, str(error))
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
                "%s: ignoring %s=%r; using the default %r",
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
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
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
