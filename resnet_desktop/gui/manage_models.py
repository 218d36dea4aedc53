"""Model → Manage Models…: the library's models, renamed, relabelled, deleted or exported.

Damaged entries (a JSON file that cannot be used) are listed too, greyed with the reason,
so they can be deleted here rather than only with ``resnet-desktop models remove``.

Every read and write of the library runs in a worker (:mod:`resnet_desktop.app.library_admin`)
and answers with the listing as it is on disk afterwards. Questions (a new name, are you
sure) are opened, never exec'd, so worker signals never run inside a half-finished slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.library_admin import (
    Exported,
    Listing,
    ModelSummary,
    class_names_job,
    delete_job,
    export_job,
    list_job,
    rename_job,
    threshold_job,
)
from resnet_desktop.core.library import DamagedEntry
from resnet_desktop.core.model_export import FORMAT_TITLES
from resnet_desktop.gui.class_names_dialog import ClassNamesDialog, open_class_names_dialog
from resnet_desktop.gui.widgets import InlineError
from resnet_desktop.gui.workers import Job, JobRunner

Index = QModelIndex | QPersistentModelIndex
HEADERS = ("Name", "Architecture", "Classes", "Source", "Created", "Accuracy", "Threshold")
TOOLTIP_CLASSES = 40  # class names listed in a row's tooltip
SHOWN_REASON = 40  # characters of a damaged entry's reason in its row (the tooltip has all)
Entry = ModelSummary | DamagedEntry


class LibraryTableModel(QAbstractTableModel):
    """The models of one listing, one row each, then its damaged entries (greyed)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[Entry] = []

    def set_models(
        self, models: Sequence[ModelSummary], damaged: Sequence[DamagedEntry] = ()
    ) -> None:
        self.beginResetModel()
        self._rows = [*models, *damaged]
        self.endResetModel()

    def summary(self, row: int) -> Entry:
        return self._rows[row]

    def row_of(self, name: str) -> int:
        return next((i for i, model in enumerate(self._rows) if model.name == name), -1)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = 0) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(HEADERS):
            return HEADERS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        model = self._rows[index.row()]
        if isinstance(model, DamagedEntry):
            return _damaged_data(model, index.column(), role)
        if role == Qt.ItemDataRole.DisplayRole:
            return _cells(model)[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and HEADERS[index.column()] == "Classes":
            shown = model.class_names[:TOOLTIP_CLASSES]
            more = len(model.class_names) - len(shown)
            return ", ".join(shown) + (f" and {more} more" if more else "")
        return None


def _damaged_data(entry: DamagedEntry, column: int, role: int) -> Any:
    """A damaged entry's row: its name and the reason, greyed; it can only be deleted."""
    if role == Qt.ItemDataRole.DisplayRole and column < 2:
        reason = (
            entry.reason if len(entry.reason) <= SHOWN_REASON else entry.reason[:SHOWN_REASON] + "…"
        )
        return entry.name if column == 0 else f"Damaged: {reason}"
    if role == Qt.ItemDataRole.ToolTipRole:
        return f"{entry.path} is damaged: {entry.reason}. Delete it and import the model again."
    if role == Qt.ItemDataRole.ForegroundRole:
        return QGuiApplication.palette().brush(
            QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text
        )
    return None


def _cells(model: ModelSummary) -> tuple[str, ...]:
    accuracy = "" if model.accuracy is None else f"{model.accuracy:.1%}"
    threshold = "" if model.threshold is None else f"{model.threshold:.3g}"
    classes = str(len(model.class_names))
    return (model.name, model.architecture, classes, model.source, model.created, accuracy,
            threshold)  # fmt: skip


class ManageModelsDialog(QDialog):
    """The library's models, with what can be done to each.

    Args:
        current: the window's model, selected first; when it is renamed, the window is
            told its new name.

    Signals:
        modelsChanged(object): a model was renamed, relabelled or deleted; the argument
            is the current model's new name if it was the one renamed, else None (the
            window re-reads its model list and selects it).
        listed(): a listing from disk is on screen (for tests).
    """

    modelsChanged = Signal(object)
    listed = Signal()

    def __init__(self, parent: QWidget | None = None, current: str | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Manage Models")
        self.current = current
        self.folder: Path | None = None
        self.table_model = LibraryTableModel(self)
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._update_buttons)
        self.finished.connect(self.runner.shutdown)
        self._build()
        self.resize(900, 420)
        self._run(list_job, "Reading the library…")

    def _build(self) -> None:
        self.table = QTableView(self)
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.error = InlineError(self)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)
        layout.addWidget(self.error)
        layout.addLayout(self._buttons())

    def _buttons(self) -> QHBoxLayout:
        self.rename_button = QPushButton("&Rename…", self)
        self.rename_button.clicked.connect(self.ask_rename)
        self.classes_button = QPushButton("Class &Names…", self)
        self.classes_button.clicked.connect(self.edit_class_names)
        self.threshold_button = QPushButton("&Threshold…", self)
        self.threshold_button.setToolTip("The score below which the model says “unknown”")
        self.threshold_button.clicked.connect(self.edit_threshold)
        self.delete_button = QPushButton("&Delete…", self)
        self.delete_button.clicked.connect(self.ask_delete)
        self.export_button = QPushButton("&Export", self)
        self.export_button.setMenu(self._export_menu())
        self.reveal_button = QPushButton("Show &Files", self)
        self.reveal_button.setToolTip("Open the library's folder in the file manager")
        self.reveal_button.clicked.connect(self.reveal_files)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        row = QHBoxLayout()
        for button in self._model_buttons():
            row.addWidget(button)
        row.addWidget(self.reveal_button)
        row.addStretch(1)
        row.addWidget(close)
        return row

    def _export_menu(self) -> QMenu:
        menu = QMenu(self)
        for format, title in FORMAT_TITLES.items():
            action = menu.addAction(f"{title}…")
            action.setObjectName(f"export_{format}")
            action.triggered.connect(lambda _checked=False, f=format: self.export(f))
        return menu

    def _model_buttons(self) -> tuple[QPushButton, ...]:
        return (
            self.rename_button,
            self.classes_button,
            self.threshold_button,
            self.delete_button,
            self.export_button,
        )

    # --- the selected model -------------------------------------------------------------

    def selected(self) -> Entry | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.summary(rows[0].row()) if rows else None

    def selected_model(self) -> ModelSummary | None:
        """The selected model, unless it is a damaged entry (which can only be deleted)."""
        entry = self.selected()
        return entry if isinstance(entry, ModelSummary) else None

    def select(self, name: str) -> None:
        row = self.table_model.row_of(name)
        if row >= 0:
            self.table.selectRow(row)

    def ask_rename(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Rename Model")
        dialog.setLabelText(f"New name for “{model.name}”:")
        dialog.setTextValue(model.name)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(lambda text: self._rename(model.name, text.strip()))
        dialog.open()

    def _rename(self, name: str, new_name: str) -> None:
        if new_name and new_name != name:
            self._run(rename_job(name, new_name), f"Renaming “{name}”…")

    def edit_class_names(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        dialog = ClassNamesDialog(f"Class Names of {model.name}", model.class_names, self)
        dialog.accepted.connect(
            lambda: self._run(class_names_job(model.name, dialog.names()), "Saving…")
        )
        open_class_names_dialog(dialog)

    def edit_threshold(self) -> None:
        model = self.selected_model()
        if model is None or model.threshold is None:
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("“Unknown” Threshold")
        suggested = (
            "" if model.suggested is None else f" Fine-tuning suggested {model.suggested:.4g}."
        )
        dialog.setLabelText(
            f"“{model.name}” calls images scoring below this unknown; higher calls more "
            f"images unknown.{suggested}"
        )
        dialog.setInputMode(QInputDialog.InputMode.DoubleInput)
        dialog.setDoubleRange(*model.threshold_range)
        dialog.setDoubleDecimals(4)
        dialog.setDoubleStep(0.01)
        dialog.setDoubleValue(model.threshold)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.doubleValueSelected.connect(
            lambda value: self._run(threshold_job(model.name, value), "Saving…")
        )
        dialog.open()

    def ask_delete(self) -> None:
        model = self.selected()
        if model is None:
            return
        question = (
            f"Delete the damaged entry “{model.name}” ({model.reason}) and its files from the "
            "library? This cannot be undone."
            if isinstance(model, DamagedEntry)
            else f"Delete “{model.name}” and its weights from the library? This cannot be undone."
        )
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Delete Model",
            question,
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        yes = box.button(QMessageBox.StandardButton.Yes)
        yes.setText("Delete")
        yes.clicked.connect(lambda: self._run(delete_job(model.name), f"Deleting “{model.name}”…"))
        box.open()

    def export(self, format: str) -> None:
        model = self.selected_model()
        if model is None:
            return
        title = f"Export {model.name} as {FORMAT_TITLES[format]}"
        folder = QFileDialog.getExistingDirectory(self, title, str(Path.home()))
        if folder:
            self._run(export_job(model.name, format, Path(folder)), f"Exporting “{model.name}”…")

    def reveal_files(self) -> None:
        if self.folder is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.folder)))

    # --- jobs -----------------------------------------------------------------------------

    def _run(self, job: Job, message: str) -> None:
        self.error.clear()
        self.status.setText(message)
        self.runner.start(job)
        self._update_buttons()

    def _on_item(self, item: object) -> None:
        match item:
            case Listing():
                self._show_listing(item)
            case Exported(files=files):
                folder = files[0].parent if files else ""
                names = ", ".join(path.name for path in files)
                self.status.setText(f"Exported to {folder}: {names}")
            case _:
                raise TypeError(f"unknown item from a library job: {item!r}")

    def _show_listing(self, listing: Listing) -> None:
        self.folder = listing.folder
        self.table_model.set_models(listing.models, listing.damaged)
        first = listing.models[0].name if listing.models else ""
        self.select(listing.select or (self.current if not listing.done else None) or first)
        summary = _summary(listing)
        self.status.setText(f"{listing.done}. {summary}" if listing.done else summary)
        self._update_buttons()
        if listing.done:
            self.modelsChanged.emit(self._renamed_current(listing.renamed))
        self.listed.emit()

    def _renamed_current(self, renamed: tuple[str, str] | None) -> str | None:
        """The current model's new name, if it is the one just renamed."""
        if renamed is None or renamed[0] != self.current:
            return None
        self.current = renamed[1]
        return self.current

    def _on_failed(self, message: str) -> None:
        self.status.clear()
        self.error.setText(message)

    def _update_buttons(self) -> None:
        idle = not self.runner.running
        model = self.selected_model()
        for button in self._model_buttons():
            button.setEnabled(idle and model is not None)
        self.delete_button.setEnabled(idle and self.selected() is not None)  # damaged too
        self.threshold_button.setEnabled(idle and model is not None and model.threshold is not None)
        self.reveal_button.setEnabled(self.folder is not None)


def _summary(listing: Listing) -> str:
    """How many models, and damaged entries, the library holds."""
    count, damaged = len(listing.models), len(listing.damaged)
    if not count and not damaged:
        return "No models in the library yet: import a weights file or fine-tune a model."
    summary = f"{count} model{'s' if count != 1 else ''} in {listing.folder}"
    if damaged:
        them = "it" if damaged == 1 else "them"
        entries = "entry" if damaged == 1 else "entries"
        summary += (
            f"; {damaged} damaged {entries} (greyed): delete {them} and import the model again"
        )
    return summary
