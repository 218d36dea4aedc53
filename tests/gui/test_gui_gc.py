"""Garbage collection moves to the GUI thread while the app runs."""

from __future__ import annotations

import gc

from resnet_desktop.gui.gui_gc import GuiThreadCollector


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_automatic_collection_is_off_and_the_timer_collects(qapp):
    collector = GuiThreadCollector()
    collector.start()
    try:
        assert not gc.isenabled()
        gc.collect()
        for _ in range(gc.get_threshold()[0] + 10):
            Cycle()  # garbage only a collection can free
        assert collector.collect_if_due() >= 0
        assert gc.get_count()[0] < gc.get_threshold()[0]
        assert collector.collect_if_due() == -1  # nothing due right after
    finally:
        collector.stop()
    assert gc.isenabled()
