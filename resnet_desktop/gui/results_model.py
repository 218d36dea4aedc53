"""The results table: a QAbstractTableModel over pages of a catalog view.

The table never holds the window's list. It knows how many rows the current view has
and keeps a few pages of them (:data:`PAGE` rows each, :data:`CACHED_PAGES` at most);
when a view paints a row whose page is missing it asks for it (``pageNeeded``) and shows
the row empty until :meth:`ResultsModel.set_page` brings it. Sorting is a request too
(``sortRequested``): the listing's thread builds the new view, and :meth:`show_view`
swaps it in, keeping the rows and selection when the view says they did not move.

Every view is one model's: the label columns show its results only, "not classified
yet" where it has none, and nothing at all while the selected model's view is still
on its way (:meth:`expect_model`), so no label ever shows under another model's name.
Thumbnails are asked for the first time a view paints a row, and kept in a bounded
LRU cache: 200,000 rows never mean 200,000 decoded images.
"""

from __future__ import annotations

import dataclasses
import enum
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QStyle

from resnet_desktop.app.file_names import FileNames
from resnet_desktop.app.listing import PAGE, PageReady, TableQuery, ViewChange, ViewReady
from resnet_desktop.core.catalog_view import ListingCounts, SortKey, ViewRow
from resnet_desktop.core.ood import UNKNOWN, Decider
from resnet_desktop.core.predictor import Prediction

Index = QModelIndex | QPersistentModelIndex

PATH_ROLE = Qt.ItemDataRole.UserRole + 1
PERSON_MARK = "✎"  # before a label a person gave, wherever it is shown
PERSON_COLOUR = "#1f7a3d"  # and in this colour: a person's answer, not the model's
THUMBNAIL_CACHE_SIZE = 2000  # 64 px RGB pixmaps: about 50 MB at most
CACHED_PAGES = 16  # pages of rows kept: a few screens each way
NOT_CLASSIFIED = "not classified yet"
ERROR_ICON_SIZE = 24  # px: about a third of a thumbnail row, beside one line of text


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

# What clicking a header sorts by (the thumbnail column: the order the images came in).
SORT_KEYS = {
    Column.THUMBNAIL: SortKey.ORDER,
    Column.FILE: SortKey.NAME,
    Column.LABEL: SortKey.LABEL,
    Column.CONFIDENCE: SortKey.CONFIDENCE,
    Column.TOP_K: SortKey.LABEL,
}


def person_note(row: ViewRow, prediction: Prediction | None) -> str:
    """What the model said of a row a person labelled differently ('' when it agreed)."""
    if prediction is None or not prediction.ok or prediction.labels[0] == row.person_label:
        return ""
    return f"model: {prediction.labels[0]} {prediction.probs[0]:.0%}"


def top_k_text(prediction: Prediction, separator: str = ", ") -> str:
    pairs = zip(prediction.labels, prediction.probs, strict=True)
    return separator.join(f"{label} {prob:.1%}" for label, prob in pairs)


class ResultsModel(QAbstractTableModel):
    """The rows of the current view, a page at a time.

    Signals:
        thumbnailNeeded(object): a view painted a row whose thumbnail is not loaded; the
            argument is the row's Path. Answer with :meth:`set_thumbnail`.
        pageNeeded(int, int): (generation, first row) of a page to fetch; answer with
            :meth:`set_page`.
        sortRequested(object, bool): a header was clicked: (SortKey, descending).
    """

    thumbnailNeeded = Signal(object)
    pageNeeded = Signal(int, int)
    sortRequested = Signal(object, bool)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._generation = 0
        self._count = 0
        self._query = TableQuery()
        self._counts = ListingCounts(0, 0, 0)
        self._expected: str | None = None  # the selected model
        self._pages: OrderedDict[int, list[ViewRow]] = OrderedDict()  # by first row
        self._asked: set[int] = set()  # pages asked for in this generation
        self._rows_by_path: dict[Path, int] = {}  # the loaded rows
        self._pixmaps: OrderedDict[Path, QPixmap | None] = OrderedDict()  # None: undecodable
        self._loading: set[Path] = set()
        self._warning_icon: QPixmap | None = None
        self.names = FileNames()  # how the File column names a path
        self._decider: Decider | None = None  # reads results as a label or "unknown"

    # --- QAbstractTableModel -------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[Column(section)] if 0 <= section < len(Column) else None
        return super().headerData(section, orientation, role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Ask for the view sorted by ``column``; -1 (no sort indicator): the order added."""
        key = SORT_KEYS[Column(column)] if 0 <= column < len(Column) else SortKey.ORDER
        self.sortRequested.emit(key, order == Qt.SortOrder.DescendingOrder)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._count:
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = Column(index.column())
        prediction = row.prediction if self.results_known else None
        if column == Column.LABEL and row.person_label is not None:
            person = self._person_data(row, prediction, role)
            if person is not None:
                return person
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, prediction, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._decoration(row.path, prediction, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row.path, prediction, column)
        if role == Qt.ItemDataRole.ForegroundRole and column in (Column.LABEL, Column.CONFIDENCE):
            unknown = prediction is not None and self.is_unknown(prediction)
            placeholder = row.prediction is None and column == Column.LABEL
            return self._placeholder_colour() if unknown or placeholder else None
        if role == PATH_ROLE:
            return str(row.path)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == Column.CONFIDENCE:
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None

    def _person_data(self, row: ViewRow, prediction: Prediction | None, role: int) -> Any:
        """The label column of a row a person labelled: their label, marked and coloured."""
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{PERSON_MARK} {row.person_label}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QColor(PERSON_COLOUR)
        if role == Qt.ItemDataRole.FontRole:
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ToolTipRole:
            said = person_note(row, prediction)
            return f"Labelled by a person: {row.person_label}" + (f"\n{said}" if said else "")
        return None

    def _display(self, row: ViewRow, prediction: Prediction | None, column: Column) -> str | None:
        if column == Column.FILE:
            return self.names.label(row.path)
        if column == Column.THUMBNAIL:
            return None
        if prediction is None:
            known = self.results_known
            return NOT_CLASSIFIED if column == Column.LABEL and known else ""
        if not prediction.ok:
            return "Error" if column == Column.LABEL else ""
        if column == Column.LABEL:
            label = prediction.labels[0]
            return f"{UNKNOWN} ({label}?)" if self.is_unknown(prediction) else label
        if column == Column.CONFIDENCE:
            return f"{prediction.probs[0]:.1%}"
        return top_k_text(prediction)

    def _decoration(
        self, path: Path, prediction: Prediction | None, column: Column
    ) -> QPixmap | None:
        if column == Column.LABEL and prediction is not None and not prediction.ok:
            return self._warning()
        if column != Column.THUMBNAIL:
            return None
        if path in self._pixmaps:
            self._pixmaps.move_to_end(path)
            return self._pixmaps[path]
        if path not in self._loading:
            self._loading.add(path)
            self.thumbnailNeeded.emit(path)
        return None

    def _warning(self) -> QPixmap:
        """The error icon, as a pixmap of its own size: an icon would grow to the thumbnails'."""
        if self._warning_icon is None:
            icon = QApplication.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
            self._warning_icon = icon.pixmap(ERROR_ICON_SIZE)
        return self._warning_icon

    def _placeholder_colour(self) -> Any:
        return QApplication.palette().color(QPalette.ColorRole.PlaceholderText)

    def is_unknown(self, prediction: Prediction) -> bool:
        """Whether the model's "unknown" threshold reads this result as none of its classes."""
        return self._decider is not None and self._decider.is_unknown(prediction)

    def _tooltip(self, path: Path, prediction: Prediction | None, column: Column) -> str | None:
        if prediction is not None and not prediction.ok:
            return f"{path.name}: {prediction.error}"
        if column == Column.LABEL and prediction is not None and self.is_unknown(prediction):
            assert self._decider is not None
            score = self._decider.score(prediction)
            return (
                f"Unlike the images {self._expected} was trained on: score {score:.3g}, "
                f"below its threshold {self._decider.threshold:.3g}"
            )
        if column == Column.FILE:
            return str(path)
        if column == Column.TOP_K and prediction is not None:
            return top_k_text(prediction, "\n")
        return None

    # --- the view -----------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def query(self) -> TableQuery:
        """The query of the view shown now."""
        return self._query

    @property
    def results_known(self) -> bool:
        """Whether the view shown is the selected model's (else no result is shown)."""
        return self._query.model == self._expected

    def counts(self) -> tuple[int, int, int]:
        """(images listed, classified successfully, failed) for the shown view's model."""
        counts = self._counts if self.results_known else ListingCounts(self._counts.images, 0, 0)
        return counts.images, counts.classified, counts.failed

    def listed(self) -> int:
        """Images in the list, whether the view's filter shows them or not."""
        return self._counts.images

    def labelled(self) -> int:
        """Listed images a person gave a label (whatever the model)."""
        return self._counts.labelled

    def row_of(self, path: Path) -> int | None:
        """The row number of ``path`` when its page is loaded, else None."""
        return self._rows_by_path.get(path)

    def set_person_label(self, path: Path, label: str | None) -> None:
        """Show the label a person now gave ``path`` (None: none) in its loaded row."""
        number = self._rows_by_path.get(path)
        if number is None:
            return
        rows = self._pages[number - number % PAGE]
        offset = number % PAGE
        rows[offset] = dataclasses.replace(rows[offset], person_label=label)
        self._rows_changed(number, number)

    def expect_model(self, name: str | None) -> None:
        """The selected model changed: hide the results until its view comes."""
        if name != self._expected:
            self._expected = name
            self._all_changed()

    def set_decider(self, decider: Decider | None) -> None:
        """How the selected model's results say "unknown" (None: they never do)."""
        if decider != self._decider:
            self._decider = decider
            self._all_changed()

    def row_at(self, number: int) -> ViewRow | None:
        """The row, or None while its page is on its way (asked for now)."""
        first = number - number % PAGE
        rows = self._pages.get(first)
        if rows is None:
            self._ask(first)
            return None
        self._pages.move_to_end(first)
        offset = number - first
        return rows[offset] if offset < len(rows) else None

    def _ask(self, first: int) -> None:
        if first not in self._asked:
            self._asked.add(first)
            self.pageNeeded.emit(self._generation, first)

    def show_view(self, view: ViewReady) -> None:
        """Swap in a new view, keeping rows (and the selection) where it allows."""
        if view.change is ViewChange.RESET:
            self.beginResetModel()
            self._install(view, keep_pages=False)
            self.endResetModel()
        elif view.change is ViewChange.APPENDED and view.count > self._count:
            self.beginInsertRows(QModelIndex(), self._count, view.count - 1)
            self._install(view, keep_pages=True)
            self.endInsertRows()
        else:
            self._install(view, keep_pages=False)
            self._all_changed()

    def _install(self, view: ViewReady, keep_pages: bool) -> None:
        if keep_pages:  # the rows stay: only a page cut short by the old end goes
            partial = [first for first, rows in self._pages.items() if len(rows) < PAGE]
            for first in partial:
                self._drop_page(first)
        else:
            self._pages.clear()
            self._rows_by_path.clear()
        self._generation, self._count, self._query = view.generation, view.count, view.query
        self._counts = view.counts
        self._asked.clear()
        self._store_page(view.start, view.rows)

    def set_page(self, page: PageReady) -> None:
        """A page arrived; ignored if a newer view replaced the one it belongs to."""
        if page.generation != self._generation:
            return
        self._asked.discard(page.start)
        self._store_page(page.start, page.rows)
        if page.rows:
            self._rows_changed(page.start, page.start + len(page.rows) - 1)

    def set_counts(self, counts: ListingCounts) -> None:
        self._counts = counts

    def _store_page(self, first: int, rows: list[ViewRow]) -> None:
        self._drop_page(first)
        self._pages[first] = list(rows)
        for offset, row in enumerate(rows):
            self._rows_by_path[row.path] = first + offset
        while len(self._pages) > CACHED_PAGES:
            self._drop_page(next(iter(self._pages)))

    def _drop_page(self, first: int) -> None:
        for row in self._pages.pop(first, ()):
            self._rows_by_path.pop(row.path, None)

    def apply_batch(self, predictions: Iterable[Prediction], model: str) -> None:
        """Show a batch that ``model`` just classified (and recorded) in the loaded rows."""
        if model != self._query.model:
            return
        changed = []
        for prediction in predictions:
            number = self._rows_by_path.get(prediction.path)
            if number is not None:
                rows = self._pages[number - number % PAGE]
                offset = number % PAGE
                rows[offset] = dataclasses.replace(rows[offset], prediction=prediction)
                changed.append(number)
        if changed:
            self._rows_changed(min(changed), max(changed))

    def labels_changed(self) -> None:
        """The folders of :attr:`names` changed: the File column is painted again."""
        if self._count:
            first, last = self.index(0, Column.FILE), self.index(self._count - 1, Column.FILE)
            self.dataChanged.emit(first, last, [Qt.ItemDataRole.DisplayRole])

    def _rows_changed(self, first: int, last: int) -> None:
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(Column) - 1))

    def _all_changed(self) -> None:
        if self._count:
            self._rows_changed(0, self._count - 1)

    # --- thumbnails ---------------------------------------------------------------

    def set_thumbnail(self, path: Path, image: QImage) -> None:
        """Called on the GUI thread with a decoded QImage (null if the file cannot be read)."""
        self._loading.discard(path)
        self._pixmaps[path] = None if image.isNull() else QPixmap.fromImage(image)
        while len(self._pixmaps) > THUMBNAIL_CACHE_SIZE:
            self._pixmaps.popitem(last=False)
        number = self._rows_by_path.get(path)
        if number is not None:
            cell = self.index(number, Column.THUMBNAIL)
            self.dataChanged.emit(cell, cell, [Qt.ItemDataRole.DecorationRole])

    def forget_thumbnail(self, path: Path) -> None:
        """A request was dropped before decoding: ask again when the row is painted again."""
        self._loading.discard(path)
