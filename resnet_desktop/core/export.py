"""CSV export of predictions, shared by the CLI and the GUI.

The file opens safely in spreadsheets: cells that a spreadsheet would run as a formula
(starting with ``= + - @``, tab or CR) get a leading apostrophe. Paths are absolute and
round-trip exactly when they are valid UTF-8; other bytes (possible in POSIX file names)
are written as visible ``\\xNN`` escapes instead of failing the export, and so that a
real ``\\xff`` in a name is told apart, a backslash in a POSIX name is written doubled.
"""

from __future__ import annotations

import csv
import io
import os
import re
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TextIO

from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.imaging import has_image_extension
from resnet_desktop.core.predictor import Prediction

Decide = Callable[[Prediction], str]  # a result read as its label or "unknown"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a terminal acts on instead of showing: C0 and C1 controls (escape sequences start
# with ESC or CSI), DEL, and the bidirectional overrides that reorder what follows.
_TERMINAL_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# A row to write: a prediction alone, or with the cells of the extra columns.
CsvRow = Prediction | tuple[Prediction, Sequence[str]]


def csv_header(top_k: int, extra: Sequence[str] = (), decisions: bool = False) -> list[str]:
    """``path,label_1,prob_1,...,label_k,prob_k,error``, ``decision`` with decisions, and
    then the ``extra`` columns."""
    columns = ["path"]
    for rank in range(1, top_k + 1):
        columns += [f"label_{rank}", f"prob_{rank}"]
    return [*columns, "error", *(["decision"] if decisions else []), *extra]


def safe_cell(text: str) -> str:
    """``text`` with spreadsheet formula injection neutralised."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def display_path(path: Path | str) -> str:
    """The absolute path as text, one text per path.

    Bytes that are not UTF-8 become ``\\xNN``; on POSIX, where a backslash is an
    ordinary character of a name, it becomes ``\\\\``, so a name holding the four
    characters ``\\xff`` is not written as the one holding the byte 0xFF. (On Windows
    the backslash separates folders and names are Unicode: the path is written as is.)
    """
    raw = os.fsencode(os.path.abspath(path))
    if os.sep != "\\":
        raw = raw.replace(b"\\", b"\\\\")
    return raw.decode("utf-8", errors="backslashreplace")


def terminal_safe(text: str) -> str:
    """``text`` with what a terminal would act on (escape sequences...) shown as escapes.

    File names and class names come from strangers; printed raw, ``ESC [ 2 J`` clears
    the screen and other sequences retitle the window or rewrite what was printed.
    """
    return _TERMINAL_CONTROLS.sub(_escape_control, text)


def _escape_control(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def csv_target_problem(target: str | Path, inputs: Iterable[str | os.PathLike[str]]) -> str:
    """Why writing the CSV to ``target`` would destroy an image ('' if it would not).

    Refused: one of ``inputs``, any image file name (existing or not: ``--csv a.jpg``
    is a slip of the keyboard), and an existing image file whatever its name. ``inputs``
    (paths) are read once, as they come: a run's listing may be a spool on disk.
    """
    absolute = os.path.abspath(target)
    if any(os.path.abspath(path) == absolute for path in inputs):
        return f"{target} is one of the images to classify"
    if has_image_extension(absolute):
        return f"{target} is an image file name"
    if _is_image_file(absolute):
        return f"{target} is an image file"
    return ""


def _is_image_file(path: str) -> bool:
    """Whether ``path`` is a regular file Pillow recognises (it reads the header only)."""
    from PIL import Image, UnidentifiedImageError

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with Image.open(path):
            return True
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return False


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


def _write(
    handle: TextIO,
    rows: Iterable[CsvRow],
    top_k: int,
    extra: Sequence[str] = (),
    *,
    decide: Decide | None = None,
) -> int:
    writer = csv.writer(handle, lineterminator="\r\n")  # RFC 4180; quotes any CR or LF
    writer.writerow(csv_header(top_k, extra, decide is not None))
    count = 0
    for row in rows:
        prediction, cells = (row, ()) if isinstance(row, Prediction) else row
        if len(cells) != len(extra):
            raise ValueError(f"a row has {len(cells)} extra cells for {len(extra)} columns")
        decision = [] if decide is None else [safe_cell(decide(prediction))]
        writer.writerow(
            [*csv_row(prediction, top_k), *decision, *(safe_cell(cell) for cell in cells)]
        )
        count += 1
    return count


def write_csv(
    path: str | Path,
    rows: Iterable[CsvRow],
    top_k: int,
    extra: Sequence[str] = (),
    *,
    decide: Decide | None = None,
) -> int:
    """Write the CSV atomically (a crash leaves the old file intact); returns the row count.

    ``rows`` stream: each row is written as it comes, so a run's rows never need to be
    held in memory, and the file is only renamed into place after the last one. With
    ``extra`` column names, each row is a (prediction, cells) pair with a cell for each.
    ``decide`` adds the column ``decision`` before them: the label, or ``unknown``.
    """
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        return _write(handle, rows, top_k, extra, decide=decide)


def csv_text(
    rows: Iterable[CsvRow], top_k: int, extra: Sequence[str] = (), *, decide: Decide | None = None
) -> str:
    """The same CSV as a string, for the clipboard."""
    buffer = io.StringIO()
    _write(buffer, rows, top_k, extra, decide=decide)
    return buffer.getvalue()
