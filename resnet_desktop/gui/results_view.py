"""The left side of the window: filter bar over the results table."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.gui.results_model import Column, ResultsFilter, ResultsModel

THUMBNAIL_SIZE = 64
EMPTY_HINT = "Drop photos or folders here, or use File → Open Folder… (Ctrl+O)"
FILTERED_HINT = "No results match the filter"


class ResultsTable(QTableView):
    """The results table; when it shows no rows, it says why and what to do."""

    def empty_hint(self) -> str | None:
        shown = self.model()
        if shown is None or shown.rowCount():
            return None
        source = getattr(shown, "sourceModel", lambda: None)()
        return FILTERED_HINT if source is not None and source.rowCount() else EMPTY_HINT

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        hint = self.empty_hint()
        if hint:
            painter = QPainter(self.viewport())
            painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
            flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
            painter.drawText(self.viewport().rect(), flags, hint)
            painter.end()


class ResultsPane(QWidget):
    """Label/confidence filters and the sortable table of results.

    Signals:
        currentRowChanged(int): the source row of the current image, -1 for none.
    """

    currentRowChanged = Signal(int)

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(model)
        self.label_filter = QLineEdit(self, objectName="labelFilter")
        self.label_filter.setPlaceholderText("Filter by label…")
        self.label_filter.setClearButtonEnabled(True)
        self.confidence_filter = QDoubleSpinBox(self, objectName="confidenceFilter")
        self.confidence_filter.setRange(0.0, 100.0)
        self.confidence_filter.setSuffix(" %")
        self.confidence_filter.setDecimals(0)
        self.confidence_filter.setToolTip("Show only rows whose top-1 confidence is at least this")
        self.view = self._create_view()
        self._lay_out()
        self.label_filter.textChanged.connect(self.proxy.set_label_text)
        self.confidence_filter.valueChanged.connect(
            lambda v: self.proxy.set_min_confidence(v / 100)
        )

    def _create_view(self) -> QTableView:
        view = ResultsTable(self)
        view.setObjectName("resultsView")
        view.setModel(self.proxy)
        # Unsorted until the user clicks a header: rows stay in the order added, and
        # appending 100,000 of them costs no sorted inserts.
        view.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        view.setSortingEnabled(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.verticalHeader().setDefaultSectionSize(THUMBNAIL_SIZE + 4)
        view.verticalHeader().hide()
        header = view.horizontalHeader()
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
        layout.addWidget(self.view, 1)

    def _current_changed(self, current: object, _previous: object) -> None:
        self.currentRowChanged.emit(self.current_source_row())

    def current_source_row(self) -> int:
        index = self.view.currentIndex()
        return self.proxy.mapToSource(index).row() if index.isValid() else -1

    def selected_source_rows(self) -> list[int]:
        """The selected rows in the order the table shows them."""
        proxy_rows = sorted(index.row() for index in self.view.selectionModel().selectedRows())
        return [self.proxy.mapToSource(self.proxy.index(row, 0)).row() for row in proxy_rows]

    def filtered_source_rows(self) -> list[int]:
        return self.proxy.source_rows()
