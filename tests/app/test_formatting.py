"""Text both front ends show the same way."""

from __future__ import annotations

import pytest

from resnet_desktop.app.formatting import format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "--:--"),
        (float("nan"), "--:--"),
        (float("inf"), "--:--"),
        (-1.0, "--:--"),
        (0, "0:00"),
        (75.4, "1:15"),
        (3599.6, "1:00:00"),
        (3725, "1:02:05"),
    ],
)
def test_format_duration(seconds: float | None, text: str):
    assert format_duration(seconds) == text
