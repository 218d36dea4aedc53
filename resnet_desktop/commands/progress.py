"""A one-line progress bar on stderr with rate and ETA, for the headless commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from resnet_desktop.app.formatting import format_duration


class ProgressBar:
    """A bar redrawn in place on a terminal, at most every ``interval`` seconds.

    When stderr is a file or a pipe (CI logs), a plain line is written at most every
    ``log_interval`` seconds instead, so long runs show signs of life without flooding
    the log; the commands print their own summary at the end.
    """

    def __init__(
        self,
        total: int,
        unit: str = "img",
        stream: TextIO | None = None,
        interval: float = 0.2,
        log_interval: float = 10.0,
    ) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self._tty = self.stream.isatty()
        self.interval = interval if self._tty else log_interval
        self._last_draw = time.monotonic() if not self._tty else 0.0

    def update(self, done: int, rate: float, eta: float | None, note: str = "") -> None:
        now = time.monotonic()
        finished = done >= self.total and self._tty
        if not finished and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        width = 30
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        line = (
            f"[{bar}] {done}/{self.total} {rate:.1f} {self.unit}/s "
            f"ETA {format_duration(eta)}{'  ' + note if note else ''}"
        )
        self.stream.write("\r" + line + "\x1b[K" if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
