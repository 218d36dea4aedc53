"""The results table: a QAbstractTableModel over plain rows, and the proxy that sorts/filters it.

Rows are only ever appended (a chunk at a time, one beginInsertRows each) or cleared, so a
row's index never changes and a dict from path to index finds it in O(1) when a batch of
predictions arrives. Thumbnails are requested the first time a view asks for one, i.e. only
for rows that are painted, and kept in a bounded LRU cache: 100,000 rows never mean 100,000
decoded images.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from resnet_desktop.app.classify import Candidate, RunKey, Signature

if TYPE_CHECKING:
    from resnet_desktop.core.predictor import Prediction

Index = QModelIndex | QPersistentModelIndex

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
PATH_ROLE = Qt.ItemDataRole.UserRole + 2
THUMBNAIL_CACHE_SIZE = 2000  # 64 px RGB pixmaps: about 50 MB at most


class Column(enum.IntEnum):
    THUMBNAIL = 0
    FILE = 1
    LABEL = 2
    CONFIDENCE = 3
    TOP_K = 4


HEADERS = {
    Column.THUMBNAIL: "",
    Column.FILE: "File",
    Column.LABEL: "Label",
    Column.CONFIDENCE: "Confidence",
    Column.TOP_K: "Top-k",
}


class ThumbState(enum.Enum):
    NONE = "none"  # not requested (or evicted from the cache)
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass
class ResultRow:
    """One image: its file, its thumbnail's state and its latest result."""

    path: Path
    thumbnail: ThumbState = ThumbState.NONE
    prediction: Prediction | None = None
    key: RunKey | None = None  # model and top-k of ``prediction``
    signature: Signature | None = None  # the file's size and mtime when it was classified

    @property
    def error(self) -> str | None:
        return None if self.prediction is None else self.prediction.error

    @property
    def ok(self) -> bool:
        return self.prediction is not None and self.prediction.ok

    @property
    def confidence(self) -> float | None:
        """The top-1 probability, None without a successful result."""
        return self.prediction.probs[0] if self.ok and self.prediction.probs else None

    @property
    def label(self) -> str:
        return self.prediction.labels[0] if self.ok and self.prediction.labels else ""

    def top_k_text(self, separator: str = ", ") -> str:
        if not self.ok:
            return ""
        pairs = zip(self.prediction.labels, self.prediction.probs, strict=True)
        return separator.join(f"{label} {prob:.1%}" for label, prob in pairs)


class ResultsModel(QAbstractTableModel):
    """The images of the window and their results.

    Signals:
        thumbnailNeeded(object): a view painted a row whose thumbnail is not loaded; the
            argument is the row's Path. Answer with :meth:`set_thumbnail`.
    """

    thumbnailNeeded = Signal(object)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[ResultRow] = []
        self._index: dict[Path, int] = {}
        self._pixmaps: OrderedDict[Path, QPixmap] = OrderedDict()
        self._ok = 0
        self._failed = 0
        self._warning_icon: QIcon | None = None

    # --- QAbstractTableModel -------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)] if 0 <= section < len(Column) else None
        return super().headerData(section, orientation, role)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == SORT_ROLE:
            return self._sort_key(index.row(), row, column)
        if role == PATH_ROLE:
            return str(row.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.CONFIDENCE:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    def _display(self, row: ResultRow, column: Column) -> str | None:
        if column == Column.FILE:
            return row.path.name
        if column == Column.LABEL:
            return "Error" if row.error is not None else row.label
        if column == Column.CONFIDENCE:
            return "" if row.confidence is None else f"{row.confidence:.1%}"
        if column == Column.TOP_K:
            return row.top_k_text()
        return None

    def _decoration(self, row: ResultRow, column: Column) -> QPixmap | QIcon | None:
        if column == Column.LABEL and row.error is not None:
            return self._warning()
        if column != Column.THUMBNAIL:
            return None
        pixmap = self._pixmaps.get(row.path)
        if pixmap is not None:
            self._pixmaps.move_to_end(row.path)
            return pixmap
        if row.thumbnail == ThumbState.NONE:
            row.thumbnail = ThumbState.LOADING
            self.thumbnailNeeded.emit(row.path)
        return None

    def _warning(self) -> QIcon:
        if self._warning_icon is None:
            style = QApplication.style()
            self._warning_icon = style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
        return self._warning_icon

    def _tooltip(self, row: ResultRow, column: Column) -> str | None:
        if row.error is not None:
            return f"{row.path.name}: {row.error}"
        if column == Column.FILE:
            return str(row.path)
        if column == Column.TOP_K and row.ok:
            return row.top_k_text("\n")
        return None

    def _sort_key(self, number: int, row: ResultRow, column: Column) -> Any:
        if column == Column.FILE:
            return row.path.name.casefold()
        if column == Column.LABEL:
            return row.label.casefold() if row.error is None else "\uffff"  # errors last
        if column == Column.CONFIDENCE:
            return -1.0 if row.confidence is None else row.confidence
        if column == Column.TOP_K:
            return row.top_k_text().casefold()
        return number  # thumbnails: the order the images were added

    # --- rows ---------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._rows)

    def row_at(self, number: int) -> ResultRow:
        return self._rows[number]

    def add_paths(self, paths: Iterable[Path]) -> int:
        """Append the paths not listed yet, with one insert notification; returns how many."""
        new = [path for path in dict.fromkeys(paths) if path not in self._index]
        if not new:
            return 0
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(new) - 1)
        for offset, path in enumerate(new):
            self._index[path] = first + offset
            self._rows.append(ResultRow(path))
        self.endInsertRows()
        return len(new)

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self._index.clear()
        self._pixmaps.clear()
        self._ok = self._failed = 0
        self.endResetModel()

    def counts(self) -> tuple[int, int, int]:
        """(images, classified successfully, failed)."""
        return len(self._rows), self._ok, self._failed

    # --- results ------------------------------------------------------------------

    def candidates(self, key: RunKey) -> tuple[Candidate, ...]:
        """Every row, saying whether its result is still valid for ``key`` (if unchanged)."""
        return tuple(
            Candidate(row.path, row.signature, row.ok and row.key == key) for row in self._rows
        )

    def apply_predictions(
        self,
        predictions: Sequence[Prediction],
        key: RunKey,
        signatures: dict[Path, Signature | None],
    ) -> None:
        """Store a batch of results; one dataChanged for the rows it spans."""
        changed: list[int] = []
        for prediction in predictions:
            number = self._index.get(prediction.path)
            if number is None:  # the list was cleared while the run went on
                continue
            self._replace(self._rows[number], prediction, key, signatures.get(prediction.path))
            changed.append(number)
        if changed:
            last_column = len(Column) - 1
            self.dataChanged.emit(
                self.index(min(changed), Column.FILE), self.index(max(changed), last_column)
            )

    def _replace(
        self, row: ResultRow, prediction: Prediction, key: RunKey, signature: Signature | None
    ) -> None:
        self._ok -= row.ok
        self._failed -= row.error is not None
        row.prediction, row.key, row.signature = prediction, key, signature
        self._ok += row.ok
        self._failed += row.error is not None

    def predictions(self, numbers: Iterable[int]) -> list[Prediction]:
        """The results of the given rows that have one, in row order."""
        rows = (self._rows[number] for number in sorted(numbers))
        return [row.prediction for row in rows if row.prediction is not None]

    # --- thumbnails ---------------------------------------------------------------

    def set_thumbnail(self, path: Path, image: QImage) -> None:
        """Called on the GUI thread with a decoded QImage (null if the file cannot be read)."""
        number = self._index.get(path)
        if number is None:
            return
        row = self._rows[number]
        if image.isNull():
            row.thumbnail = ThumbState.FAILED
            return
        self._pixmaps[path] = QPixmap.fromImage(image)
        row.thumbnail = ThumbState.READY
        self._evict()
        cell = self.index(number, Column.THUMBNAIL)
        self.dataChanged.emit(cell, cell, [Qt.ItemDataRole.DecorationRole])

    def forget_thumbnail(self, path: Path) -> None:
        """A request was dropped before decoding: ask again when the row is painted again."""
        number = self._index.get(path)
        if number is not None and self._rows[number].thumbnail == ThumbState.LOADING:
            self._rows[number].thumbnail = ThumbState.NONE

    def _evict(self) -> None:
        while len(self._pixmaps) > THUMBNAIL_CACHE_SIZE:
            path, _ = self._pixmaps.popitem(last=False)
            number = self._index.get(path)
            if number is not None:
                self._rows[number].thumbnail = ThumbState.NONE


class ResultsFilter(QSortFilterProxyModel):
    """Sorts on SORT_ROLE (numbers for confidence) and filters by label and confidence."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._label_text = ""
        self._min_confidence = 0.0
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    @property
    def active(self) -> bool:
        return bool(self._label_text) or self._min_confidence > 0

    def set_label_text(self, text: str) -> None:
        """Show rows whose top-1 label contains ``text`` (case-insensitive)."""
        self._change_filter(lambda: setattr(self, "_label_text", text.strip().casefold()))

    def set_min_confidence(self, value: float) -> None:
        """Show rows whose top-1 probability is at least ``value`` (0..1)."""
        self._change_filter(lambda: setattr(self, "_min_confidence", value))

    def _change_filter(self, change: Callable[[], None]) -> None:
        """Qt 6.10 wants begin/endFilterChange around the change; older Qt has only invalidate."""
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        if not self.active:
            return True
        model = self.sourceModel()
        if not isinstance(model, ResultsModel) or source_parent.isValid():
            return True
        row = model.row_at(source_row)
        if row.confidence is None or row.confidence < self._min_confidence:
            return False
        return self._label_text in row.label.casefold()

    def source_rows(self) -> list[int]:
        """The source row numbers of every row that passes the filter, in source order."""
        return sorted(self.mapToSource(self.index(r, 0)).row() for r in range(self.rowCount()))
