"""Small widgets the wizard and the dialogs share: an inline error line, a folder field."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QWidget

ERROR_STYLE = "color: #c62828;"


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
