"""The headless commands' progress output."""

from __future__ import annotations

import io

import pytest

from resnet_desktop.commands.progress import ProgressBar, format_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "--:--"), (float("nan"), "--:--"), (0, "00:00"), (75.4, "01:15"), (3725, "1:02:05")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_a_log_file_gets_occasional_plain_lines_not_a_flood():
    log = io.StringIO()
    quiet = ProgressBar(1000, stream=log)
    for done in range(1, 1001):
        quiet.update(done, 50.0, 1.0)
    assert log.getvalue() == ""  # all within the first 10 s

    chatty = ProgressBar(10, stream=log, log_interval=0.0)
    chatty.update(5, 2.5, 2.0)
    lines = log.getvalue().splitlines()
    assert lines == ["[###############---------------] 5/10 2.5 img/s ETA 00:02"]
