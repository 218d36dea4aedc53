"""Where tracebacks go: a rotating log file in the data folder, and what a bug report says.

Both front ends call :func:`setup_logging` at start. Records go to
``<data dir>/logs/resnet-desktop.log`` (a few MB, rotated); standard error gets one line
per notice, never a traceback, because a front end tells the user about a bug itself
(:func:`report_bug`: the CLI prints one line, the window shows a dialog). When the log
file cannot be opened, standard error gets the tracebacks instead, so none is lost.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core import paths
from resnet_desktop.core.errors import bug_summary, one_line

LOG_NAME = "resnet-desktop.log"
MAX_BYTES = 2 * 1024 * 1024
BACKUP_COUNT = 3  # so at most 8 MB of logs
FILE_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s]: %(message)s"
FALLBACK_FORMAT = "%(levelname)s %(name)s: %(message)s"  # stderr when there is no file

logger = logging.getLogger(__name__)

_installed: list[logging.Handler] = []
_log_file: Path | None = None


@dataclass(frozen=True)
class BugReport:
    """What a front end shows for a bug: one line for the user, the traceback to copy."""

    message: str
    details: str


def log_dir() -> Path:
    return paths.data_dir() / "logs"


def log_file() -> Path | None:
    """The file tracebacks go to, or None when logging is not set up or it cannot be opened."""
    return _log_file


def setup_logging(console_level: int = logging.WARNING) -> Path | None:
    """Send every record of level INFO and above to the log file, notices to stderr.

    Calling it again (a test, a second ``main()``) replaces the handlers it installed
    before, so the file follows the current data folder. Returns the log file, or None
    when it cannot be opened (the reason goes to stderr).
    """
    global _log_file
    shutdown_logging()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    file_handler, problem = _file_handler()
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level)
    if file_handler is None:
        console.setFormatter(logging.Formatter(FALLBACK_FORMAT))
    else:
        console.setFormatter(_OneLineFormatter())
        console.addFilter(_without_traceback)
        _install(root, file_handler)
        _log_file = Path(file_handler.baseFilename)
    _install(root, console)
    if problem:
        logger.warning("no log file: %s", problem)
    return _log_file


def shutdown_logging() -> None:
    """Remove and close the handlers :func:`setup_logging` installed."""
    global _log_file
    root = logging.getLogger()
    while _installed:
        handler = _installed.pop()
        root.removeHandler(handler)
        handler.close()
    _log_file = None


def report_bug(error: BaseException, doing: str) -> BugReport:
    """Log ``error`` with its traceback as a bug met while ``doing`` something; say so.

    The message is one line: ``TypeError: ... — this is a bug; details in LOGFILE``.
    """
    logger.error("bug while %s", doing, exc_info=error)
    where = log_file()
    place = f"details in {where}" if where else "the details are on standard error"
    details = "".join(traceback.format_exception(error))
    return BugReport(f"{bug_summary(error)} — this is a bug; {place}", details)


def _file_handler() -> tuple[logging.Handler | None, str | None]:
    try:
        folder = log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            folder / LOG_NAME, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"
        )
    except OSError as error:
        return None, f"cannot write {log_dir()}: {error.strerror or error}"
    handler.setFormatter(logging.Formatter(FILE_FORMAT))
    handler.setLevel(logging.INFO)
    return handler, None


def _install(root: logging.Logger, handler: logging.Handler) -> None:
    root.addHandler(handler)
    _installed.append(handler)


def _without_traceback(record: logging.LogRecord) -> bool:
    """Records with a traceback are for the file: the front end tells the user its own way."""
    return record.exc_info is None


class _OneLineFormatter(logging.Formatter):
    """``warning: message`` on one line, as the CLI writes ``error: ...``; no traceback."""

    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {one_line(record.getMessage())}"
