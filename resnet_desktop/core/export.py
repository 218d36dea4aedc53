"""CSV export of predictions, shared by the CLI and the GUI.

The file opens safely in spreadsheets: cells that a spreadsheet would run as a formula
(starting with ``= + - @``, tab or CR) get a leading apostrophe. Paths are absolute and
round-trip exactly when they are valid UTF-8; other bytes (possible in POSIX file names)
are written as visible ``\\xNN`` escapes instead of failing the export.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.predictor import Prediction

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_header(top_k: int) -> list[str]:
    """``path,label_1,prob_1,...,label_k,prob_k,error``."""
    columns = ["path"]
    for rank in range(1, top_k + 1):
        columns += [f"label_{rank}", f"prob_{rank}"]
    return [*columns, "error"]


def safe_cell(text: str) -> str:
    """``text`` with spreadsheet formula injection neutralised."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def display_path(path: Path | str) -> str:
    """The absolute path as text; undecodable bytes become ``\\xNN`` escapes."""
    raw = os.fsencode(os.path.abspath(path))
    return raw.decode("utf-8", errors="backslashreplace")


def csv_row(prediction: Prediction, top_k: int) -> list[str]:
    row = [safe_cell(display_path(prediction.path))]
    for rank in range(top_k):
        if prediction.ok and rank < len(prediction.labels):
            probability = min(1.0, max(0.0, prediction.probs[rank]))
            row += [safe_cell(prediction.labels[rank]), f"{probability:.6f}"]
        else:
            row += ["", ""]
    error = "" if prediction.ok else " ".join(str(prediction.error).split())
    return [*row, safe_cell(error)]


def _write(handle: TextIO, predictions: Iterable[Prediction], top_k: int) -> int:
    writer = csv.writer(handle, lineterminator="\r\n")  # RFC 4180; quotes any CR or LF
    writer.writerow(csv_header(top_k))
    count = 0
    for prediction in predictions:
        writer.writerow(csv_row(prediction, top_k))
        count += 1
    return count


def write_csv(path: str | Path, predictions: Iterable[Prediction], top_k: int) -> int:
    """Write the CSV atomically (a crash leaves the old file intact); returns the row count."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        return _write(handle, predictions, top_k)


def csv_text(predictions: Iterable[Prediction], top_k: int) -> str:
    """The same CSV as a string, for the clipboard."""
    buffer = io.StringIO()
    _write(buffer, predictions, top_k)
    return buffer.getvalue()
