"""Naming a model's outputs: one class name a line, typed, pasted or read from a file.

Used when a weights file is imported (with a field for the new model's name) and by
Manage Models' "Class Names…". The names are checked as they are typed: as many as the
network has outputs, each its own; the dialog cannot be accepted before they are.
A names file is read in a worker (it is bounded, but still a disk read).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.weights import class_names_from_text, class_names_issue
from resnet_desktop.core.weights import read_class_names
from resnet_desktop.gui.widgets import InlineError
from resnet_desktop.gui.workers import JobRunner

NAMES_FILTER = "Class names (*.txt *.json);;All files (*)"


class ClassNamesDialog(QDialog):
    """Asks for ``len(defaults)`` class names, in the order of the network's outputs.

    Args:
        defaults: the names offered first (and again by "Use Suggested Names").
        model_name: when given, a field for the model's name is shown with it (an
            import names the new library model here).
        note: a sentence above the names saying where the defaults came from.
    """

    def __init__(
        self,
        title: str,
        defaults: Sequence[str],
        parent: QWidget | None = None,
        *,
        model_name: str | None = None,
        note: str = "",
        accept_text: str = "Save",
    ) -> None:
        super().__init__(parent)
        self.setObjectName("classNamesDialog")
        self.setWindowTitle(title)
        self.defaults = list(defaults)
        self.reader = JobRunner(self)
        self.reader.item.connect(self._names_read)
        self.reader.failed.connect(self._show_error)
        self.finished.connect(lambda _result: self.reader.shutdown())
        self.name_edit = QLineEdit(model_name or "", self, objectName="modelName")
        self.editor = QPlainTextEdit("\n".join(self.defaults), self, objectName="classNames")
        self.editor.setToolTip("One class name a line; paste a list to replace them all")
        self.error = InlineError(self)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.ok_button = self.buttons.addButton(accept_text, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._lay_out(model_name is not None, note)
        self.editor.textChanged.connect(self._check)
        self.name_edit.textChanged.connect(self._check)
        self._check()
        self.resize(460, 520)

    def _lay_out(self, with_name: bool, note: str) -> None:
        count = len(self.defaults)
        intro = QLabel(
            f"{note} The network has {count} output{'s' if count != 1 else ''}: name them "
            "in order, one a line. Paste a list, or load a .txt (one a line) or .json file. "
            "Renaming a class does not change what the model has learned.".strip(),
            self,
        )
        intro.setWordWrap(True)
        load = QPushButton("&Load from File…", self, objectName="loadNames")
        load.clicked.connect(self.choose_file)
        reset = QPushButton("Use &Suggested Names", self)
        reset.clicked.connect(lambda: self.editor.setPlainText("\n".join(self.defaults)))
        row = QHBoxLayout()
        row.addWidget(load)
        row.addWidget(reset)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        if with_name:
            form = QFormLayout()
            form.addRow("Model &name:", self.name_edit)
            layout.addLayout(form)
        else:
            self.name_edit.hide()
        for widget in (intro, self.editor):
            layout.addWidget(widget, 1 if widget is self.editor else 0)
        layout.addLayout(row)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)

    def names(self) -> list[str]:
        return class_names_from_text(self.editor.toPlainText())

    def model_name(self) -> str:
        return self.name_edit.text().strip()

    def problem(self) -> str:
        """Why the dialog cannot be accepted yet ('' when it can)."""
        if not self.name_edit.isHidden() and not self.model_name():
            return "Give the model a name"
        return class_names_issue(self.names(), len(self.defaults))

    def _check(self) -> None:
        problem = self.problem()
        self.error.setText(problem[:1].upper() + problem[1:])
        self.ok_button.setEnabled(not problem)

    def choose_file(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "Class names file", "", NAMES_FILTER)
        if chosen:
            self.load_file(Path(chosen))

    def load_file(self, path: Path) -> None:
        """Read ``path``'s names in a worker; they replace the editor's text when read."""
        self.reader.start(lambda _stop: _read(path))

    def _names_read(self, names: list[str]) -> None:
        self.editor.setPlainText("\n".join(names))

    def _show_error(self, message: str) -> None:
        self.error.setText(message)

    def done(self, result: int) -> None:
        """Accepted only with valid names (Enter in the editor must not bypass the check)."""
        if result == QDialog.DialogCode.Accepted and self.problem():
            return
        super().done(result)


def _read(path: Path) -> Iterator[list[str]]:
    yield read_class_names(path)


def open_class_names_dialog(dialog: ClassNamesDialog) -> ClassNamesDialog:
    """Open ``dialog`` window-modal without a nested event loop; deleted when closed."""
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.open()
    return dialog
