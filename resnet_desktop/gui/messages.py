"""Message boxes that never block: opened window-modal with ``open()``, not ``exec()``.

A nested event loop (``exec()``) inside a slot lets worker signals run in the middle of
the slot and makes the window untestable; an opened box returns at once. A user error
is a plain message (:func:`show_message`); a bug gets :class:`BugDialog`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.logs import BugReport
from resnet_desktop.resources import APP_NAME

# Dialogs opened without a parent: Qt deletes one as soon as no Python name refers to it.
_unowned: set[QDialog] = set()


def show_message(
    parent: QWidget | None,
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
    _keep_until_closed(box)
    if open_now:
        box.addButton(QMessageBox.StandardButton.Ok)
        box.open()
    return box


def _keep_until_closed(dialog: QDialog) -> None:
    """Keep a parentless dialog alive while it is open (a window's children live with it)."""
    if dialog.parent() is None:
        _unowned.add(dialog)
        dialog.finished.connect(lambda _result: _unowned.discard(dialog))


class BugDialog(QDialog):
    """Says that something failed because of a bug, with its traceback ready to copy.

    A dialog rather than a QMessageBox, whose every button closes it: "Copy details"
    must leave it open.
    """

    def __init__(self, report: BugReport, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.report = report
        self.setObjectName("bugDialog")
        self.setWindowTitle(f"{APP_NAME}: a bug")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        text = QLabel(
            f"Something went wrong because of a bug in {APP_NAME}, not because of "
            f"anything you did.\n\n{report.message}",
            wordWrap=True,
        )
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        details = QPlainTextEdit(report.details, readOnly=True)
        details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy details", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (text, details, buttons):
            layout.addWidget(widget)
        self.resize(640, 360)

    def copy_details(self) -> None:
        """Put the one-line message and the traceback on the clipboard, for a bug report."""
        QGuiApplication.clipboard().setText(f"{self.report.message}\n\n{self.report.details}")


def show_bug(parent: QWidget | None, report: BugReport) -> BugDialog:
    """Open the bug dialog over ``parent`` (window-modal, non-blocking)."""
    dialog = BugDialog(report, parent)
    _keep_until_closed(dialog)
    dialog.open()
    return dialog
