"""Rate-limiting progress items, so a fast loop does not flood the GUI's event queue."""

from __future__ import annotations

import time

PROGRESS_INTERVAL = 0.2  # seconds between progress items


class Throttle:
    """Calling it says whether to report now: at most every ``interval`` seconds, and on
    the first call."""

    def __init__(self, interval: float = PROGRESS_INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True
