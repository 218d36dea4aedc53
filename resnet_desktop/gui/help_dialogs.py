"""Help → User Guide and Help → Keyboard Shortcuts.

The guide is the README's "Using the app" section, shipped in the package
(:func:`resnet_desktop.resources.user_guide_text`). The shortcut list is read from the
window's actions when it opens, so it lists the keys that really work, never a copy
that drifts from them.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.resources import user_guide_text


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(what the action does, its keys) for each action that has keys, in the given order."""
    rows = []
    for action in actions:
        keys = [key.toString(QKeySequence.SequenceFormat.NativeText) for key in action.shortcuts()]
        keys = [key for key in keys if key]
        if keys:
            rows.append((plain_text(action.text()), ", ".join(keys)))
    return rows


def plain_text(text: str) -> str:
    """A menu text without its mnemonic ampersand and trailing ellipsis."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").removesuffix("…")


def _dialog(parent: QWidget, name: str, title: str, content: QWidget) -> QDialog:
    dialog = QDialog(parent, objectName=name)
    dialog.setWindowTitle(title)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(content)
    layout.addWidget(buttons)
    return dialog


def user_guide(parent: QWidget) -> QDialog:
    """A dialog showing the user guide."""
    browser = QTextBrowser(objectName="userGuideText")
    browser.setOpenExternalLinks(True)
    browser.setMarkdown(user_guide_text())
    dialog = _dialog(parent, "userGuide", "User Guide", browser)
    dialog.resize(720, 560)
    return dialog


def shortcuts(parent: QWidget, actions: Iterable[QAction]) -> QDialog:
    """A dialog listing the keys of ``actions``."""
    rows = shortcut_rows(actions)
    table = QTableWidget(len(rows), 2, objectName="shortcutTable")
    table.setHorizontalHeaderLabels(["Action", "Keys"])
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    for number, (text, keys) in enumerate(rows):
        table.setItem(number, 0, QTableWidgetItem(text))
        table.setItem(number, 1, QTableWidgetItem(keys))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
    dialog = _dialog(parent, "shortcutList", "Keyboard Shortcuts", table)
    dialog.resize(460, 520)
    return dialog
