"""The facts line of the detail panel: size, dimensions and date of the selected file.

Reading them touches the disk (a stat and the image header), so the window calls
:func:`facts_job` in a worker; the wording is here so it is tested without a window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from resnet_desktop.core.imaging import FileFacts, file_facts

UNITS = ("bytes", "KB", "MB", "GB", "TB")


def describe(facts: FileFacts) -> str:
    """``2.4 MB · 4000 × 3000 px · 2024-05-03 14:22``."""
    parts = [format_size(facts.size)]
    if facts.dimensions is not None:
        parts.append(f"{facts.dimensions[0]} × {facts.dimensions[1]} px")
    parts.append(datetime.fromtimestamp(facts.modified).strftime("%Y-%m-%d %H:%M"))
    return " · ".join(parts)


def format_size(size: int) -> str:
    """``532 bytes``, ``14.2 KB``, ``2.4 MB`` (1 KB = 1000 bytes, as file managers count)."""
    value = float(size)
    for unit in UNITS[:-1]:
        if value < 1000:
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} {UNITS[-1]}"


def facts_job(path: Path) -> Callable[[Callable[[], bool]], Iterator[tuple[Path, str]]]:
    """A job yielding ``(path, its facts line)``; a file that is gone says so."""

    def job(_should_stop: Callable[[], bool]) -> Iterator[tuple[Path, str]]:
        try:
            text = describe(file_facts(path))
        except OSError as error:
            text = f"Cannot read the file: {error.strerror or error}"
        yield path, text

    return job
