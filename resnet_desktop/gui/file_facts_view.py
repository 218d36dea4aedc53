"""The detail panel's file line: full path, then size, dimensions and date.

The path shows at once; the rest is read in a worker (a stat and the image header), and
an answer about a file that is no longer selected is dropped.
"""

from __future__ import annotations

import os
from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from resnet_desktop.app.file_facts import facts_job
from resnet_desktop.gui.workers import JobRunner

ZERO_WIDTH_SPACE = "\u200b"


class FileFactsLabel(QLabel):
    """Where the shown file lives and what it is, in two selectable lines."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fileFacts")
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.path: Path | None = None
        self.reader = JobRunner(self)
        self.reader.item.connect(self._read)

    def show_path(self, path: Path | None) -> None:
        """Show ``path`` now and its size, dimensions and date once read."""
        if path == self.path:
            return
        self.path = path
        self.reader.abandon()
        self.setText("" if path is None else self._html(path, "…"))
        self.setToolTip("" if path is None else str(path))
        if path is not None:
            self.reader.start(facts_job(path))

    def _read(self, answer: tuple[Path, str]) -> None:
        path, facts = answer
        if path == self.path:
            self.setText(self._html(path, facts))

    @staticmethod
    def _html(path: Path, facts: str) -> str:
        """Two lines; the path may wrap after any separator (a zero-width space), so a deep
        path never widens the panel."""
        breakable = escape(str(path)).replace(os.sep, os.sep + ZERO_WIDTH_SPACE)
        return f"<small>{breakable}<br>{escape(facts)}</small>"

    def shutdown(self) -> None:
        self.reader.shutdown()
