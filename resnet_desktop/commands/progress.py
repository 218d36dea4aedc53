"""A one-line progress bar on stderr with rate and ETA, for the headless commands."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    """``1:02:03`` / ``02:03``; ``--:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ProgressBar:
    """Redraws at most every ``interval`` seconds; draws a plain line per update off a tty."""

    def __init__(
        self, total: int, unit: str = "img", stream: TextIO | None = None, interval: float = 0.2
    ) -> None:
        self.total = total
        self.unit = unit
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self._last_draw = 0.0
        self._tty = self.stream.isatty()

    def update(self, done: int, rate: float, eta: float | None, note: str = "") -> None:
        now = time.monotonic()
        if done < self.total and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        width = 30
        filled = int(width * done / self.total) if self.total else width
        bar = "#" * filled + "-" * (width - filled)
        line = (
            f"[{bar}] {done}/{self.total} {rate:.1f} {self.unit}/s "
            f"ETA {format_duration(eta)}{'  ' + note if note else ''}"
        )
        if self._tty:
            self.stream.write("\r" + line + "\x1b[K")
        elif done >= self.total or now - getattr(self, "_last_line", 0.0) > 5:
            self._last_line = now
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
