"""The headless commands' progress output."""

from __future__ import annotations

import io

from resnet_desktop.commands.progress import ProgressBar


def test_a_log_file_gets_occasional_plain_lines_not_a_flood():
    log = io.StringIO()
    quiet = ProgressBar(1000, stream=log)
    for done in range(1, 1001):
        quiet.update(done, 50.0, 1.0)
    assert log.getvalue() == ""  # all within the first 10 s

    chatty = ProgressBar(10, stream=log, log_interval=0.0)
    chatty.update(5, 2.5, 2.0)
    lines = log.getvalue().splitlines()
    assert lines == ["[###############---------------] 5/10 2.5 img/s ETA 0:02"]
