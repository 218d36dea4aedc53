"""A wrapping grid of captioned thumbnails, decoded lazily off the GUI thread.

The wizard's dataset page shows examples of each class in one; the evaluation report
shows the misclassified images in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSize,
    Qt,
)
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QWidget

from resnet_desktop.gui.image_loader import ImageLoader

AnyIndex = QModelIndex | QPersistentModelIndex
THUMBNAIL_SIZE = 96


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
