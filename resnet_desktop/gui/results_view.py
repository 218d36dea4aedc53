"""The left side of the window: filter bar over the results table.

Sorting and filtering are done by the catalog, in the listing's thread: a click on a
header or an edit of a filter only sends a request (filters once typing pauses), and the
table shows the new view when it is ready.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.gui.results_model import Column, ResultsModel
from resnet_desktop.gui.thumbnail_delegate import CentredPixmapDelegate

THUMBNAIL_SIZE = 64
FILTER_DELAY_MS = 250  # a filter applies once typing pauses this long
EMPTY_HINT = "Drop photos or folders here, or use File → Open Folder… (Ctrl+O)"
FILTERED_HINT = "No results match the filter"


def empty_hint(view: QAbstractItemView) -> str | None:
    """What a view of the results with no rows says: why, and what to do."""
    shown = view.model()
    if not isinstance(shown, ResultsModel) or shown.rowCount():
        return None
    return FILTERED_HINT if shown.listed() else EMPTY_HINT


def paint_empty_hint(view: QAbstractItemView) -> None:
    """Paint :func:`empty_hint` over an empty view (from its paintEvent)."""
    hint = empty_hint(view)
    if hint:
        painter = QPainter(view.viewport())
        painter.setPen(view.palette().color(QPalette.ColorRole.PlaceholderText))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(view.viewport().rect(), flags, hint)
        painter.end()


class ResultsTable(QTableView):
    """The results table; when it shows no rows, it says why and what to do."""

    def empty_hint(self) -> str | None:
        return empty_hint(self)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        paint_empty_hint(self)


class ResultsPane(QWidget):
    """Label/confidence filters and the sortable table of results.

    Signals:
        currentRowChanged(int): the row of the current image, -1 for none.
        filterChanged(str, float): the label text and minimum confidence (0..1) to show,
            once the user paused editing them.
    """

    currentRowChanged = Signal(int)
    filterChanged = Signal(str, float)

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.label_filter = QLineEdit(self, objectName="labelFilter")
        self.label_filter.setPlaceholderText("Filter by label…")
        self.label_filter.setClearButtonEnabled(True)
        self.confidence_filter = QDoubleSpinBox(self, objectName="confidenceFilter")
        self.confidence_filter.setRange(0.0, 100.0)
        self.confidence_filter.setSuffix(" %")
        self.confidence_filter.setDecimals(0)
        self.confidence_filter.setToolTip("Show only rows whose top-1 confidence is at least this")
        self.view = self._create_view()
        self.views = QStackedWidget(self, objectName="resultsViews")  # the table, the gallery
        self.views.addWidget(self.view)
        self._lay_out()
        self._filter_timer = QTimer(self, singleShot=True, interval=FILTER_DELAY_MS)
        self._filter_timer.timeout.connect(self._emit_filter)
        self.label_filter.textChanged.connect(self._filter_timer.start)
        self.confidence_filter.valueChanged.connect(self._filter_timer.start)

    def _create_view(self) -> QTableView:
        view = ResultsTable(self)
        view.setObjectName("resultsView")
        view.setModel(self.model)
        # Unsorted until the user clicks a header: rows stay in the order added.
        view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        view.setSortingEnabled(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        vertical = view.verticalHeader()
        vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # no per-row sizing
        vertical.setDefaultSectionSize(THUMBNAIL_SIZE + 4)
        vertical.hide()
        header = view.horizontalHeader()
        view.setItemDelegateForColumn(Column.THUMBNAIL, CentredPixmapDelegate(view))
        header.setSectionResizeMode(Column.THUMBNAIL, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(Column.THUMBNAIL, THUMBNAIL_SIZE + 8)
        header.resizeSection(Column.FILE, 220)
        header.resizeSection(Column.LABEL, 160)
        header.resizeSection(Column.CONFIDENCE, 90)
        header.setStretchLastSection(True)
        view.selectionModel().currentRowChanged.connect(self._current_changed)
        return view

    def _lay_out(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.label_filter, 1)
        minimum = QLabel("Min. confidence", self)
        minimum.setBuddy(self.confidence_filter)
        bar.addWidget(minimum)
        bar.addWidget(self.confidence_filter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.views, 1)

    def _emit_filter(self) -> None:
        self.filterChanged.emit(self.label_filter.text(), self.confidence_filter.value() / 100)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.currentRowChanged.emit(current.row() if current.isValid() else -1)

    def current_row(self) -> int:
        index = self.view.currentIndex()
        return index.row() if index.isValid() else -1

    def first_visible_row(self) -> int:
        """The row at the top of the table (0 when it is empty)."""
        return max(0, self.view.rowAt(0))

    def selected_ranges(self) -> tuple[tuple[int, int], ...]:
        """The selected rows as (first, last) ranges, top to bottom, none twice."""
        merged: list[tuple[int, int]] = []
        for first, last in sorted(
            (r.top(), r.bottom()) for r in self.view.selectionModel().selection()
        ):
            if merged and first <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(last, merged[-1][1]))
            else:
                merged.append((first, last))
        return tuple(merged)
