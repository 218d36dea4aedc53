"""Thumbnails drawn centred in their cell, whatever their aspect ratio.

Qt's item delegate puts a pixmap at the left of the cell, so portrait thumbnails hug
the left edge and landscape ones the top; centred, a column of photos lines up.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem


class CentredPixmapDelegate(QStyledItemDelegate):
    """Paints the cell as usual (background, selection), then its pixmap centred."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        cell = QStyleOptionViewItem(option)
        self.initStyleOption(cell, index)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        cell.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        cell.icon = QIcon()  # else the style still renders it (a selected-state copy)
        style = cell.widget.style() if cell.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, cell, painter, cell.widget)
        if isinstance(pixmap, QPixmap) and not pixmap.isNull():
            size = pixmap.deviceIndependentSize().toSize()
            target = QStyle.alignedRect(
                cell.direction, Qt.AlignmentFlag.AlignCenter, size, cell.rect
            )
            painter.drawPixmap(target, pixmap)
