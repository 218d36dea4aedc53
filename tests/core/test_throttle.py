"""Progress throttling: at most one report per interval."""

from __future__ import annotations

from resnet_desktop.core import throttle
from resnet_desktop.core.throttle import Throttle


def test_throttle_reports_first_then_once_per_interval(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(throttle.time, "monotonic", lambda: now[0])
    report = Throttle(interval=0.5)
    assert report() and not report()
    now[0] += 0.49
    assert not report()
    now[0] += 0.02
    assert report() and not report()
