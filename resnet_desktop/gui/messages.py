"""Message boxes that never block: opened window-modal with ``open()``, not ``exec()``.

A nested event loop (``exec()``) inside a slot lets worker signals run in the middle of
the slot and makes the window untestable; an opened box returns at once.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget


def show_message(
    parent: QWidget,
    title: str,
    text: str,
    icon: QMessageBox.Icon = QMessageBox.Icon.Information,
    *,
    open_now: bool = True,
) -> QMessageBox:
    """A message box deleted when closed; opened unless ``open_now`` is False (to add buttons)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if open_now:
        box.addButton(QMessageBox.StandardButton.Ok)
        box.open()
    return box
