"""Text that both front ends show the same way."""

from __future__ import annotations

import math


def format_duration(seconds: float | None) -> str:
    """``1:02:03`` or ``2:03``; ``--:--`` when unknown (None, NaN, infinite or negative)."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
