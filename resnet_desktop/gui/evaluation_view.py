"""Widgets that show an EvalReport, shared by the fine-tuning wizard and the Evaluate dialog.

Also here: :class:`JobRunner`, the one-job-at-a-time runner both use for their long steps,
and :class:`ThumbnailGallery`, the lazily decoded picture grid of the wizard's dataset
page and of the misclassified images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractListModel,
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListView,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.gui.image_loader import ImageLoader

if TYPE_CHECKING:
    from resnet_desktop.core.evaluate import ClassMetrics, EvalReport, Misclassified

AnyIndex = QModelIndex | QPersistentModelIndex
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
THUMBNAIL_SIZE = 96
ERROR_STYLE = "color: #c62828;"


def percent(value: float) -> str:
    return f"{100 * value:.1f}%" if math.isfinite(value) else "n/a"


def duration(seconds: float | None) -> str:
    """``1:05`` or ``1:02:03``; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class InlineError(QLabel):
    """A red, wrapping, selectable line for user errors, shown inline and hidden when empty."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setStyleSheet(ERROR_STYLE)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setObjectName("errorLabel")
        self.hide()

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        self.setText("")


def folder_row(edit: QLineEdit, caption: str, parent: QWidget) -> QHBoxLayout:
    """A line edit with a Browse button that fills it from a folder dialog."""
    button = QPushButton("Browse…", parent)

    def browse() -> None:
        folder = QFileDialog.getExistingDirectory(parent, caption, edit.text())
        if folder:
            edit.setText(folder)

    button.clicked.connect(browse)
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    row.addWidget(button)
    return row


# ------------------------------------------------------------------------------ running


# ------------------------------------------------------------------------------ thumbnails


@dataclass(frozen=True)
class Thumb:
    path: Path
    caption: str
    tooltip: str = ""


class ThumbnailModel(QAbstractListModel):
    """Captioned pictures decoded on demand: a placeholder until the loader delivers."""

    def __init__(self, loader: ImageLoader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loader = loader
        self._items: list[Thumb] = []
        self._rows: dict[Path, list[int]] = {}
        self._pixmaps: dict[Path, QPixmap] = {}
        self._requested: set[Path] = set()
        self._placeholder = _placeholder(loader.size, "#d0d0d0")
        self._broken = _placeholder(loader.size, "#f2b8b5")
        loader.loaded.connect(self._on_loaded)
        loader.dropped.connect(self._requested.discard)

    def set_items(self, items: Sequence[Thumb]) -> None:
        self.beginResetModel()
        self._items = list(items)
        self._rows = {}
        for row, item in enumerate(self._items):
            self._rows.setdefault(item.path, []).append(row)
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return item.caption
        if role == Qt.ItemDataRole.ToolTipRole:
            return item.tooltip or str(item.path)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmap(item.path)
        return None

    def _pixmap(self, path: Path) -> QPixmap:
        pixmap = self._pixmaps.get(path)
        if pixmap is not None:
            return pixmap
        if path not in self._requested:
            self._requested.add(path)
            self._loader.request(path)
        return self._placeholder

    def loaded_count(self) -> int:
        return sum(1 for item in self._items if item.path in self._pixmaps)

    def _on_loaded(self, path: Path, image: QImage) -> None:
        """On the GUI thread: only here does the decoded QImage become a QPixmap."""
        rows = self._rows.get(path)
        if not rows:
            return
        self._pixmaps[path] = self._broken if image.isNull() else self._to_pixmap(image)
        for row in rows:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    def _to_pixmap(self, image: QImage) -> QPixmap:
        """Tiny images (CIFAR's 32x32) are enlarged with visible pixels, not left as dots."""
        size = self._loader.size
        if max(image.width(), image.height()) * 2 <= size:
            image = image.scaled(
                size,
                size,
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.FastTransformation,
            )
        return QPixmap.fromImage(image)


def _placeholder(size: int, color: str) -> QPixmap:
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return pixmap


class ThumbnailGallery(QListView):
    """A wrapping grid of captioned thumbnails; call :meth:`shutdown` before closing."""

    def __init__(self, size: int = THUMBNAIL_SIZE, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.loader = ImageLoader(size, parent=self)
        self.thumbnails = ThumbnailModel(self.loader, self)
        self.setModel(self.thumbnails)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setIconSize(QSize(size, size))
        self.setGridSize(QSize(size + 40, size + 40))
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setWordWrap(True)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)

    def set_items(self, items: Sequence[Thumb]) -> None:
        self.loader.cancel_pending()
        self.thumbnails.set_items(items)

    def shutdown(self) -> None:
        self.loader.shutdown()


# ------------------------------------------------------------------------------ report models


class PerClassModel(QAbstractTableModel):
    """Precision, recall and support per class; SORT_ROLE gives numbers for sorting."""

    HEADERS = ("Class", "Precision", "Recall", "Support")

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
        values = (metrics.name, metrics.precision, metrics.recall, metrics.support)
        value = values[index.column()]
        if role == SORT_ROLE:
            return value
        if role == Qt.ItemDataRole.DisplayRole:
            return percent(value) if index.column() in (1, 2) else str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() > 0:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


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
