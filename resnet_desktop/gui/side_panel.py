"""A small window keeps the table usable: the side panel beside it gives way first.

A plain QSplitter shares a resize out in proportion, so at 640 pixels the table would be
cut to a column and a half while the preview keeps a third. Here the panel keeps the
width the user gave it while the table has room, shrinks when the table would drop below
``TABLE_MIN_WIDTH``, and folds away once it would be narrower than it can be drawn; it
comes back, at the user's width, when the window grows again.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QSplitter, QWidget

TABLE_MIN_WIDTH = 440  # thumbnail, file name, label and confidence readable
DEFAULT_PANEL_WIDTH = 320


class SidePanelSplitter(QSplitter):
    """A horizontal splitter of the table (first) and the side panel (second)."""

    def __init__(self, table: QWidget, panel: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.addWidget(table)
        self.addWidget(panel)
        self.setCollapsible(0, False)
        self.setCollapsible(1, True)
        self.panel_width = DEFAULT_PANEL_WIDTH  # what the user wants when there is room
        self.splitterMoved.connect(self._moved)

    def restoreState(self, state: QByteArray | bytes) -> bool:
        """Also take the saved panel width as the user's, unless it was folded away (by a
        small window, perhaps: the panel comes back when there is room)."""
        restored = super().restoreState(state)
        if self.sizes()[1] > 0:
            self.panel_width = self.sizes()[1]
        self.fit()
        return restored

    def _moved(self) -> None:
        """The user dragged the handle: that width (0 when folded away) is theirs."""
        self.panel_width = self.sizes()[1]

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit()

    def fit(self) -> None:
        """Give the panel its width, less what the table needs, or fold it away."""
        total = sum(self.sizes())
        if total <= 0:
            return
        width = min(self.panel_width, total - TABLE_MIN_WIDTH)
        if width < self.widget(1).minimumSizeHint().width():
            width = 0
        self.setSizes([total - width, width])
