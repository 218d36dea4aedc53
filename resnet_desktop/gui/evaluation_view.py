"""Widgets that show an EvalReport: the fine-tuning wizard's review page and the Evaluate dialog.

Accuracy, the per-class table, the confusion matrix, a gallery of the misclassified
images (:mod:`~resnet_desktop.gui.gallery`) and the files that could not be read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.gui.gallery import Thumb, ThumbnailGallery

if TYPE_CHECKING:
    from resnet_desktop.core.evaluate import ClassMetrics, EvalReport, Misclassified

AnyIndex = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1


def percent(value: float) -> str:
    return f"{100 * value:.1f}%" if math.isfinite(value) else "n/a"


# ------------------------------------------------------------------------------ report models


class PerClassModel(QAbstractTableModel):
    """Precision, recall, F1 and support per class; SORT_ROLE gives numbers for sorting."""

    HEADERS = ("Class", "Precision", "Recall", "F1", "Support")
    PERCENT_COLUMNS = (1, 2, 3)
    UNKNOWN_WITHOUT_IMAGES = (2, 3)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[ClassMetrics] = []

    def set_metrics(self, rows: Sequence[ClassMetrics]) -> None:
        self.beginResetModel()
        self._rows = list(rows)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        metrics = self._rows[index.row()]
        values = (metrics.name, metrics.precision, metrics.recall, metrics.f1, metrics.support)
        value = values[index.column()]
        if role == SORT_ROLE:
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(metrics, index.column(), value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and not metrics.support:
            return QColor("gray")
        if role == Qt.ItemDataRole.ToolTipRole and not metrics.support:
            return f"No images of {metrics.name} in the folder: its recall cannot be measured"
        return None

    def _text(self, metrics: ClassMetrics, column: int, value: Any) -> str:
        """Recall and F1 of a class without images are unknown, not 0 %."""
        if column in self.UNKNOWN_WITHOUT_IMAGES and not metrics.support:
            return "—"
        return percent(value) if column in self.PERCENT_COLUMNS else str(value)


class ConfusionModel(QAbstractTableModel):
    """Rows are true classes, columns predicted ones; cells shaded by share of the row."""

    CORRECT = QColor(46, 125, 50)
    WRONG = QColor(198, 40, 40)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._names: list[str] = []
        self._matrix: list[list[int]] = []

    def set_matrix(self, names: Sequence[str], matrix: Sequence[Sequence[int]]) -> None:
        self.beginResetModel()
        self._names = list(names)
        self._matrix = [list(row) for row in matrix]
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._matrix)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._names)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if not 0 <= section < len(self._names):
            return None
        name = self._names[section]
        if role == Qt.ItemDataRole.ToolTipRole:
            kind = "predicted" if orientation == Qt.Orientation.Horizontal else "true"
            return f"{kind} class: {name}"
        return name

    def _share(self, row: int, column: int) -> float:
        total = sum(self._matrix[row])
        return self._matrix[row][column] / total if total else 0.0

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._matrix):
            return None
        row, column = index.row(), index.column()
        count = self._matrix[row][column]
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return count if role == SORT_ROLE else str(count)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            return self._background(row, column) if count else None
        if role == Qt.ItemDataRole.ForegroundRole and count:
            return QColor("white") if self._share(row, column) > 0.55 else QColor("black")
        if role == Qt.ItemDataRole.ToolTipRole:
            true, predicted = self._names[row], self._names[column]
            share = percent(self._share(row, column))
            return f"{count} {true} image(s) predicted as {predicted} ({share} of {true})"
        return None

    def _background(self, row: int, column: int) -> QColor:
        """White blended toward green (diagonal) or red by the share of the row."""
        target = self.CORRECT if row == column else self.WRONG
        share = 0.15 + 0.85 * self._share(row, column)
        return QColor(
            round(255 + (target.red() - 255) * share),
            round(255 + (target.green() - 255) * share),
            round(255 + (target.blue() - 255) * share),
        )


# ------------------------------------------------------------------------------ the view


def _table(model: QAbstractTableModel, sortable: bool) -> QTableView:
    table = QTableView()
    if sortable:
        proxy = QSortFilterProxyModel(table)
        proxy.setSourceModel(model)
        proxy.setSortRole(SORT_ROLE)
        table.setModel(proxy)
        table.setSortingEnabled(True)
        table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # model order until a click
    else:
        table.setModel(model)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(sortable)
    return table


class EvalReportView(QWidget):
    """Accuracy, per-class table, confusion matrix, misclassified gallery, unreadable files."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("No results yet.")
        self.summary.setObjectName("reportSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.per_class = PerClassModel(self)
        self.confusion = ConfusionModel(self)
        self.per_class_table = _table(self.per_class, sortable=True)
        header = self.per_class_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.confusion_table = _table(self.confusion, sortable=False)
        self.confusion_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.gallery = ThumbnailGallery()
        self.errors = QPlainTextEdit(readOnly=True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.per_class_table, "Per class")
        self.tabs.addTab(self._confusion_page(), "Confusion matrix")
        self.tabs.addTab(self.gallery, "Misclassified")
        self.tabs.addTab(self.errors, "Unreadable files")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.summary)
        layout.addWidget(self.tabs, 1)
        self.set_report(None)

    def _confusion_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 4, 0, 0)
        hint = QLabel("Rows: true class · columns: predicted class · shade: share of the row")
        hint.setEnabled(False)
        layout.addWidget(hint)
        layout.addWidget(self.confusion_table, 1)
        return page

    def set_report(self, report: EvalReport | None) -> None:
        """Show ``report`` (None clears the view)."""
        self.summary.setText(_summary_html(report))
        self.per_class.set_metrics(report.per_class if report else [])
        self.confusion.set_matrix(
            report.class_names if report else [], report.confusion if report else []
        )
        self.gallery.set_items(
            [_misclassified_thumb(item) for item in report.misclassified] if report else []
        )
        errors = report.errors if report else []
        self.errors.setPlainText("\n".join(f"{e.path}: {e.reason}" for e in errors))
        misclassified = len(report.misclassified) if report else 0
        self.tabs.setTabText(2, f"Misclassified ({misclassified})")
        self.tabs.setTabText(3, f"Unreadable files ({len(errors)})")
        self.tabs.setTabVisible(3, bool(errors))

    def shutdown(self) -> None:
        """Wait for thumbnail decodes; call before the window closes."""
        self.gallery.shutdown()


def _misclassified_thumb(item: Misclassified) -> Thumb:
    caption = f"{item.true_label} → {item.predicted_label}"
    tooltip = (
        f"{item.path}\ntrue: {item.true_label}\n"
        f"predicted: {item.predicted_label} ({percent(item.probability)})"
    )
    return Thumb(Path(item.path), caption, tooltip)


def _summary_html(report: EvalReport | None) -> str:
    if report is None:
        return "No results yet."
    parts = [
        f"<span style='font-size: 15pt; font-weight: bold'>{percent(report.accuracy)}</span> "
        f"accuracy on {report.total} image(s)",
        f"{len(report.misclassified)} misclassified",
    ]
    if report.errors:
        parts.append(f"{len(report.errors)} unreadable (not counted)")
    if report.cancelled:
        parts.append("<b>stopped early: partial results</b>")
    return " · ".join(parts)
