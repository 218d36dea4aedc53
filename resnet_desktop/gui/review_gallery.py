"""The gallery: the results table's rows as a grid of large thumbnails.

It is a second view on the same :class:`ResultsModel` (and the table's selection), so it
shows exactly the table's rows, in its order, a page at a time from the catalog: a
gallery of 200,000 images holds the pages and thumbnails on screen, nothing more. Each
tile is painted by :class:`TileDelegate`; thumbnails are decoded off the GUI thread at
one of two sizes (:data:`DECODE_SIZES`) and kept in a cache bounded in bytes.

In review mode the keys a reviewer uses come out as signals (:class:`GalleryView`);
what they do is the review flow's business.
"""

from __future__ import annotations

import dataclasses
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QPainter,
    QPaintEvent,
    QPalette,
    QPixmap,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from resnet_desktop.core.catalog_view import ViewRow
from resnet_desktop.core.ood import UNKNOWN
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.settings import GALLERY_TILES, Settings
from resnet_desktop.gui.image_loader import ImageLoader
from resnet_desktop.gui.results_model import (
    NOT_CLASSIFIED,
    PERSON_COLOUR,
    PERSON_MARK,
    Column,
    ResultsModel,
    person_note,
)
from resnet_desktop.gui.results_view import paint_empty_hint

Index = QModelIndex | QPersistentModelIndex

MIN_TILE, MAX_TILE = GALLERY_TILES  # the thumbnail size slider's range
DEFAULT_TILE = Settings.gallery_tile
DECODE_SIZES = (128, 256)  # decoded once at the smallest of these that fits the tiles
CACHE_BYTES = 96 * 1024 * 1024  # decoded thumbnails kept, at most
CAPTION_LINES = 2
PADDING = 6
LOW_CONFIDENCE = 0.5  # shown in a warning colour below this
LOW_COLOUR = "#b35c00"


def decode_size(tile: int) -> int:
    return next((size for size in DECODE_SIZES if size >= tile), DECODE_SIZES[-1])


def group_of(row: ViewRow) -> str:
    """The label a row is grouped under: a person's, else the model's top-1 ('' none)."""
    if row.person_label is not None:
        return row.person_label.lower()
    prediction = row.prediction
    return prediction.labels[0].lower() if prediction is not None and prediction.ok else ""


def group_colour(group: str) -> QColor:
    """A steady colour per label, so a group reads as one band across the grid."""
    return QColor.fromHsv(zlib.crc32(group.encode()) % 360, 110, 215)


class GalleryThumbnails(QObject):
    """Thumbnails decoded in the background, kept newest-used first within CACHE_BYTES.

    Signals:
        changed(): a thumbnail arrived; the view repaints what it shows.
    """

    changed = Signal()

    def __init__(self, tile: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.loader = ImageLoader(decode_size(tile), threads=2, parent=self)
        self._pixmaps: OrderedDict[Path, QPixmap | None] = OrderedDict()  # None: unreadable
        self._asked: set[Path] = set()
        self.loader.loaded.connect(self._loaded)
        self.loader.dropped.connect(self._asked.discard)

    def pixmap(self, path: Path) -> QPixmap | None:
        """The thumbnail, or None (asked for now) while it is decoded or unreadable."""
        if path in self._pixmaps:
            self._pixmaps.move_to_end(path)
            return self._pixmaps[path]
        if path not in self._asked:
            self._asked.add(path)
            self.loader.request(path)
        return None

    def is_unreadable(self, path: Path) -> bool:
        return path in self._pixmaps and self._pixmaps[path] is None

    def set_tile(self, tile: int) -> None:
        """Tiles of another size: decode again only when the decode size changes."""
        size = decode_size(tile)
        if size != self.loader.size:
            self.loader.cancel_pending()
            self.loader.size = size
            self._pixmaps.clear()
            self._asked.clear()

    def _loaded(self, path: Path, image: QImage) -> None:
        self._asked.discard(path)
        self._pixmaps[path] = None if image.isNull() else QPixmap.fromImage(image)
        side = self.loader.size
        while len(self._pixmaps) * side * side * 4 > CACHE_BYTES:
            self._pixmaps.popitem(last=False)
        self.changed.emit()

    def shutdown(self) -> None:
        self.loader.shutdown()


class TileDelegate(QStyledItemDelegate):
    """Paints a tile: thumbnail, then the label (a person's marked and coloured) and the
    model's confidence; in a grouped view a band in the label's colour, and a tab with
    the label on the first tile of each group."""

    def __init__(self, model: ResultsModel, thumbnails: GalleryThumbnails, parent: QObject) -> None:
        super().__init__(parent)
        self._model = model
        self._thumbnails = thumbnails
        self.tile = DEFAULT_TILE

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        line = option.fontMetrics.height()
        return QSize(self.tile + 2 * PADDING, self.tile + 2 * PADDING + CAPTION_LINES * line)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = self._model.row_at(index.row())
        if row is not None and not self._model.results_known:  # another model's: not shown
            row = dataclasses.replace(row, prediction=None)
        painter.save()
        painter.setClipRect(option.rect)
        self._paint_background(painter, option, row)
        if row is not None:
            picture = QRect(
                option.rect.x() + PADDING, option.rect.y() + PADDING, self.tile, self.tile
            )
            self._paint_picture(painter, picture, row.path)
            self._paint_caption(painter, option, row, picture.bottom() + 2)
            if self._model.query.grouped and self._model.results_known:
                self._paint_group(painter, option, index.row(), row, picture)
        painter.restore()

    def _paint_background(
        self, painter: QPainter, option: QStyleOptionViewItem, row: ViewRow | None
    ) -> None:
        palette = option.palette
        frame = option.rect.adjusted(1, 1, -1, -1)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(frame, palette.color(QPalette.ColorRole.Highlight))
        if row is not None and row.person_label is not None:
            painter.setPen(QColor(PERSON_COLOUR))
            painter.drawRect(frame.adjusted(0, 0, -1, -1))
            painter.drawRect(frame.adjusted(1, 1, -2, -2))
        if option.state & QStyle.StateFlag.State_HasFocus:
            pen = palette.color(QPalette.ColorRole.Highlight).darker(150)
            painter.setPen(pen)
            painter.drawRect(frame.adjusted(2, 2, -3, -3))

    def _paint_picture(self, painter: QPainter, area: QRect, path: Path) -> None:
        pixmap = self._thumbnails.pixmap(path)
        if pixmap is None:
            colour = "#f2b8b5" if self._thumbnails.is_unreadable(path) else "#d8d8d8"
            painter.fillRect(area, QColor(colour))
            return
        size = pixmap.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        target = QRect(0, 0, size.width(), size.height())
        target.moveCenter(area.center())
        # Tiny images (CIFAR's 32x32) grow with visible pixels; photos shrink smoothly.
        smooth = pixmap.width() * 2 > area.width()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)
        painter.drawPixmap(target, pixmap)

    def _paint_caption(
        self, painter: QPainter, option: QStyleOptionViewItem, row: ViewRow, top: int
    ) -> None:
        line = option.fontMetrics.height()
        width = self.tile
        first = QRect(option.rect.x() + PADDING, top, width, line)
        second = first.translated(0, line)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        normal = option.palette.color(text_role)
        title, detail, title_colour, detail_colour = _caption(row, normal, self._model.is_unknown)
        font = QFont(option.font)
        font.setBold(row.person_label is not None)
        painter.setFont(font)
        painter.setPen(normal if selected else title_colour)
        elide = Qt.TextElideMode.ElideRight
        painter.drawText(
            first,
            Qt.AlignmentFlag.AlignCenter,
            painter.fontMetrics().elidedText(title, elide, width),
        )
        painter.setFont(option.font)
        painter.setPen(normal if selected else detail_colour)
        painter.drawText(
            second,
            Qt.AlignmentFlag.AlignCenter,
            option.fontMetrics.elidedText(detail, elide, width),
        )

    def _paint_group(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        number: int,
        row: ViewRow,
        picture: QRect,
    ) -> None:
        group = group_of(row)
        colour = group_colour(group)
        painter.fillRect(QRect(option.rect.x(), option.rect.y(), option.rect.width(), 4), colour)
        previous = self._model.row_at(number - 1) if number > 0 else None
        if number > 0 and (previous is None or group_of(previous) == group):
            return
        name = group or "no label"
        metrics = painter.fontMetrics()
        tab = QRect(
            picture.x(),
            picture.y(),
            min(picture.width(), metrics.horizontalAdvance(name) + 10),
            metrics.height() + 4,
        )
        painter.fillRect(tab, colour)
        painter.setPen(QColor("#202020"))
        painter.drawText(
            tab,
            Qt.AlignmentFlag.AlignCenter,
            metrics.elidedText(name, Qt.TextElideMode.ElideRight, tab.width() - 4),
        )


def _caption(
    row: ViewRow, normal: QColor, is_unknown: Callable[[Prediction], bool]
) -> tuple[str, str, QColor, QColor]:
    """(title, detail, their colours): a person's label first, else the model's answer,
    read as the table reads it ("unknown (guess?)", greyed, under the model's threshold)."""
    prediction = row.prediction
    placeholder = QColor("#808080")
    if row.person_label is not None:
        detail = _person_detail(row, prediction)
        return f"{PERSON_MARK} {row.person_label}", detail, QColor(PERSON_COLOUR), placeholder
    if prediction is None:
        return NOT_CLASSIFIED, row.path.name, placeholder, placeholder
    if not prediction.ok:
        return "Error", str(prediction.error), QColor("#b3261e"), placeholder
    confidence = prediction.probs[0]
    if is_unknown(prediction):
        return f"{UNKNOWN} ({prediction.labels[0]}?)", f"{confidence:.1%}", placeholder, placeholder
    low = confidence < LOW_CONFIDENCE
    return (
        prediction.labels[0],
        f"{confidence:.1%}",
        normal,
        QColor(LOW_COLOUR) if low else placeholder,
    )


def _person_detail(row: ViewRow, prediction: Prediction | None) -> str:
    """Under a person's label: what the model said instead, or that it agreed."""
    if prediction is None or not prediction.ok:
        return "labelled by a person"
    return person_note(row, prediction) or f"model agrees, {prediction.probs[0]:.0%}"


class GalleryView(QListView):
    """A wrapping grid over the results model's thumbnail column.

    Signals (review mode only, except ``openRequested``):
        shortcutKey(str): a digit was pressed.
        acceptKey(): Enter: take the model's answer.
        undoKey(): Backspace: take back the last label.
        typed(str): a printable key that starts typing a label.
        openRequested(int): a double click or Space on a row: show it large.
    """

    shortcutKey = Signal(str)
    acceptKey = Signal()
    undoKey = Signal()
    typed = Signal(str)
    openRequested = Signal(int)

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryView")
        self.reviewing = False
        self.thumbnails = GalleryThumbnails(DEFAULT_TILE, self)
        self.delegate = TileDelegate(model, self.thumbnails, self)
        self.setModel(model)
        self.setModelColumn(Column.THUMBNAIL)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)  # 200,000 rows lay out in steps
        self.setBatchSize(2000)
        self.setSpacing(2)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.thumbnails.changed.connect(self.viewport().update)
        self.doubleClicked.connect(lambda index: self.openRequested.emit(index.row()))

    def set_tile(self, tile: int) -> None:
        self.delegate.tile = tile
        self.thumbnails.set_tile(tile)
        self.scheduleDelayedItemsLayout()
        self.viewport().update()

    def current_row(self) -> int:
        index = self.currentIndex()
        return index.row() if index.isValid() else -1

    def go_to(self, row: int) -> None:
        """Make ``row`` the current (and only selected) tile, scrolled into view."""
        model = self.model()
        if 0 <= row < model.rowCount():
            index = model.index(row, Column.THUMBNAIL)
            self.setCurrentIndex(index)
            self.scrollTo(index)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, text = event.key(), event.text()
        plain = (
            not event.modifiers()
            & ~Qt.KeyboardModifier.KeypadModifier
            & ~Qt.KeyboardModifier.ShiftModifier
        )
        if key == Qt.Key.Key_Space and plain and self.current_row() >= 0:
            self.openRequested.emit(self.current_row())
        elif not self.reviewing or not plain:
            super().keyPressEvent(event)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.acceptKey.emit()
        elif key == Qt.Key.Key_Backspace:
            self.undoKey.emit()
        elif text.isdigit() and len(text) == 1:
            self.shortcutKey.emit(text)
        elif text.isprintable() and text.strip():
            self.typed.emit(text)
        else:
            super().keyPressEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        paint_empty_hint(self)

    def shutdown(self) -> None:
        self.thumbnails.shutdown()
