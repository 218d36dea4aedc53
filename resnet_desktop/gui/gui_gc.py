"""Python's cyclic garbage collection, run on the GUI thread only.

Left automatic, the collector runs in whichever thread happens to allocate, often a
worker decoding images or training. A reference cycle through Qt wrappers collected
there deletes QObjects off their thread, which crashes Qt. So the automatic collector
is switched off and a timer on the GUI thread does its work, with the same thresholds
(the pattern pyqtgraph and calibre use).
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    """Disables automatic collection while alive; collects from a GUI-thread timer."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        self._timer = QTimer(self, interval=CHECK_INTERVAL_MS)
        self._timer.timeout.connect(self.collect_if_due)

    def start(self) -> None:
        gc.disable()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        gc.enable()

    def collect_if_due(self) -> int:
        """Collect the generations whose counts passed their thresholds; returns the oldest."""
        counts = gc.get_count()
        generation = -1
        for level in range(3):
            if counts[level] > self._thresholds[level]:
                generation = level
        if generation >= 0:
            gc.collect(generation)
        return generation
