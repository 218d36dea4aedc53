"""File → Sort into Folders…: preview, run, cancel and undo a sort of the listed images.

A thin layer over :mod:`resnet_desktop.app.sorting`, the use case ``resnet-desktop sort``
runs: the plan is computed in a worker whenever the destination or the threshold
changes, and shown as a preview (images per folder, the label each folder holds, how
many a person labelled, what stays where it is). Sorting and undoing run in a worker
too, one file at a time; Cancel stops after the file in hand, and the journal lets the
same sort continue or be undone later (Edit → Undo Sort…).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.listing import MovePaths
from resnet_desktop.app.sorting import SortPreview, move_of, preview_job, sort_job, undo_job
from resnet_desktop.app.unknown import StoredSetup, setup_job, threshold_range
from resnet_desktop.core.errors import remedied
from resnet_desktop.core.file_steps import Mode
from resnet_desktop.core.ood import OodSetup
from resnet_desktop.core.sorting import (
    FileFailed,
    FileKept,
    FileRestored,
    FileSorted,
    SortFinished,
    SortPlan,
    SortStarted,
    UndoFinished,
    UndoStarted,
)
from resnet_desktop.gui.sort_texts import (
    folder_holds,
    plan_text,
    sort_summary,
    undo_summary,
    verb,
)
from resnet_desktop.gui.widgets import InlineError, folder_row
from resnet_desktop.gui.workers import REMEDIES, JobRunner

if TYPE_CHECKING:
    from resnet_desktop.gui.main_window import MainWindow

PREVIEW_DELAY_MS = 300  # typing pause before the plan is computed again
MODES: tuple[tuple[Mode, str], ...] = (("copy", "&Copy"), ("move", "&Move"), ("link", "&Link"))
Listed = Callable[[Callable[[], bool]], Sequence[Path]]


class SortDialog(QDialog):
    """Sort the images of the window's list into a folder per label of ``model``.

    Signals:
        previewShown(object): a new SortPlan is on screen (tests).
        sortFinished(object): the SortFinished of a sort; its journal undoes it.
        undoFinished(object): the UndoFinished of an undo.
        filesMoved(object): the (old path, new path) of each file a sort or an undo
            moved, once it has ended (the window's list follows them).
    """

    previewShown = Signal(object)
    filesMoved = Signal(object)
    sortFinished = Signal(object)
    undoFinished = Signal(object)

    def __init__(
        self,
        listed: Listed,
        model: str | None,
        dest: str = "",
        catalog_path: Path | None = None,
        parent: QWidget | None = None,
        *,
        journal: Path | None = None,
    ) -> None:
        """``model`` None with a ``journal``: only undo that sort (Edit → Undo Sort…); a
        folder stands for the latest sort into it."""
        super().__init__(parent)
        self.listed, self.model, self.catalog_path = listed, model or "", catalog_path
        self.plan: SortPlan | None = None
        # The model's own "unknown" setup: the threshold box edits its score, not a
        # confidence. Read by a first job in the worker; the preview waits for it.
        self.setup: OodSetup | None = None
        self.setup_known = model is None  # an undo needs no setup
        self.journal = journal  # of the last sort run here: Undo takes it back
        self._task = ""
        self._gone = 0
        self._end: SortFinished | UndoFinished | None = None
        self._started = 0.0
        self._failures: list[str] = []
        self._moves: list[tuple[Path, Path]] = []  # by the sort or undo running
        self.setWindowTitle(f"Sort into Folders by {model}" if model else "Undo Sort")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self._timer = QTimer(self, singleShot=True, interval=PREVIEW_DELAY_MS)
        self._timer.timeout.connect(self.preview)
        self._build(dest)
        self.resize(720, 560)
        if model is None:
            self._undo_only()
        else:
            self._task = "setup"
            self.runner.start(setup_job(model))
        self._update_buttons()

    def _undo_only(self) -> None:
        for widget in (self.form, self.table, self.sort_button):
            widget.hide()
        what = "the latest sort into" if self.journal and self.journal.is_dir() else "the sort of"
        self.status.setText(f"Put back everything {what} {self.journal} did?")
        self.resize(620, 160)

    # --- building -------------------------------------------------------------------

    def _build(self, dest: str) -> None:
        self.dest_edit = QLineEdit(dest, placeholderText="Folder to sort into")
        self.dest_edit.textChanged.connect(self._schedule_preview)
        self.mode_group = QButtonGroup(self)
        modes = QHBoxLayout()
        for number, (mode, text) in enumerate(MODES):
            button = QRadioButton(text, objectName=f"mode_{mode}", checked=number == 0)
            self.mode_group.addButton(button, number)
            modes.addWidget(button)
        modes.addStretch(1)
        self.mode_group.idToggled.connect(self._mode_changed)
        unsure = self._threshold_row()
        self.form = QWidget()
        form = QFormLayout(self.form)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Into:", folder_row(self.dest_edit, "Sort into", self))
        form.addRow("How:", modes)
        form.addRow("Unsure:", unsure)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        self.table = self._preview_table()
        layout.addWidget(self.table, 1)
        self.status = QLabel(
            wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.summary = QLabel(
            wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse
        )
        self.error = InlineError()
        self.progress = QProgressBar(visible=False)
        for widget in (self.status, self.summary, self.error, self.progress):
            layout.addWidget(widget)
        layout.addWidget(self._buttons())

    def _threshold_row(self) -> QHBoxLayout:
        """What goes to 'unknown'; set up by :meth:`_apply_setup` once the setup is read."""
        self.score_label = QLabel("Images scoring under", visible=False)
        self.threshold_check = QCheckBox("Images under", enabled=False)
        self.threshold_spin = QDoubleSpinBox(enabled=False)
        self.threshold_note = QLabel("(reading the model's 'unknown' setup…)")
        self.threshold_check.toggled.connect(self.threshold_spin.setEnabled)
        self.threshold_check.toggled.connect(self._schedule_preview)
        self.threshold_spin.valueChanged.connect(self._schedule_preview)
        row = QHBoxLayout()
        for widget in (self.score_label, self.threshold_check, self.threshold_spin):
            row.addWidget(widget)
        row.addWidget(self.threshold_note)
        row.addStretch(1)
        return row

    def _apply_setup(self, setup: OodSetup | None) -> None:
        """A model with its own threshold reads its own score (the box starts at that
        threshold, in the score's range); another model reads the top-1 confidence, only
        when asked."""
        self.setup, self.setup_known = setup, True
        spin = self.threshold_spin
        if setup is None:
            spin.setSuffix(" %")
            spin.setDecimals(0)
            spin.setRange(1, 99)
            spin.setValue(50)
            self.threshold_note.setText("confidence go to 'unknown'")
            return
        self.threshold_check.hide()  # the model always says 'unknown' by its score
        self.score_label.show()
        spin.setDecimals(4)
        spin.setRange(*threshold_range(setup))
        spin.setSingleStep(0.01)
        spin.setValue(setup.threshold)
        spin.setToolTip(
            f"The model calls images scoring below this unknown; its own threshold is "
            f"{setup.threshold:.4g}. Higher sends more images to 'unknown'."
        )
        self.threshold_check.setChecked(True)
        self.threshold_note.setText(
            f"go to 'unknown' (the model's 'unknown' threshold: {setup.threshold:.4g})"
        )

    def _preview_table(self) -> QTableView:
        self.folders = QStandardItemModel(0, 4, self)
        self.folders.setHorizontalHeaderLabels(["Folder", "Holds", "Images", "By a person"])
        table = QTableView(editTriggers=QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setObjectName("sortPreview")
        table.setModel(self.folders)
        table.verticalHeader().hide()
        header = table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column in (2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        return table

    def _buttons(self) -> QDialogButtonBox:
        box = QDialogButtonBox()
        self.sort_button = QPushButton("&Sort", default=True)
        self.undo_button = QPushButton("&Undo This Sort")
        self.cancel_button = QPushButton("Cancel")
        self.close_button = QPushButton("Close")
        self.sort_button.clicked.connect(self.start_sort)
        self.undo_button.clicked.connect(self.start_undo)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button.clicked.connect(self.close)
        box.addButton(self.sort_button, QDialogButtonBox.ButtonRole.AcceptRole)
        box.addButton(self.undo_button, QDialogButtonBox.ButtonRole.ActionRole)
        box.addButton(self.cancel_button, QDialogButtonBox.ButtonRole.RejectRole)
        box.addButton(self.close_button, QDialogButtonBox.ButtonRole.RejectRole)
        return box

    # --- the preview ------------------------------------------------------------------

    def mode(self) -> Mode:
        return MODES[max(0, self.mode_group.checkedId())][0]

    def threshold(self) -> float | None:
        """The threshold to sort by, on the model's score (a probability without a setup)."""
        if not self.threshold_check.isChecked():
            return None
        value = self.threshold_spin.value()
        return value if self.setup is not None else value / 100

    def _schedule_preview(self) -> None:
        if self._busy_sorting() or self._task == "setup":  # the preview follows the setup
            return
        self.runner.abandon()
        self._show_plan(None)
        self._timer.start()

    def _mode_changed(self) -> None:
        if self.plan is not None:
            self._show_plan(self.plan, self._gone)  # the wording changes; the plan does not

    def preview(self) -> None:
        """Compute the plan now, in a worker, for the destination and threshold shown."""
        self._timer.stop()
        self._show_plan(None)
        dest = self.dest_edit.text().strip()
        if not dest:
            self.status.setText("Choose the folder to sort into.")
            return
        self.status.setText("Reading the results…")
        job = preview_job(
            self.listed,
            self.model,
            dest,
            threshold=self.threshold(),
            catalog_path=self.catalog_path,
        )
        self._task = "preview"
        self.runner.start(job)
        self._update_buttons()

    def _show_plan(self, plan: SortPlan | None, gone: int = 0) -> None:
        self.plan = plan
        self.error.clear()
        self.folders.setRowCount(0)
        if plan is None:
            self.status.clear()
            self._update_buttons()
            return
        for folder in plan.folders:
            holds = folder_holds(folder.label, folder.folder, plan.decider)
            row = [QStandardItem(folder.folder + "/"), QStandardItem(holds)]
            for number in (folder.files, folder.by_person):
                item = QStandardItem()
                item.setData(number, Qt.ItemDataRole.DisplayRole)
                row.append(item)
            self.folders.appendRow(row)
        self.table.resizeColumnToContents(0)  # folder names in full: they are the point
        self._gone = gone
        self.status.setText(plan_text(plan, self.model, self.mode(), gone))
        self._update_buttons()
        self.previewShown.emit(plan)

    # --- sorting and undoing ---------------------------------------------------------------

    def start_sort(self) -> None:
        plan = self.plan
        if plan is None or self.runner.running or not (plan.placements or plan.resumes):
            return
        self._begin("sort", f"{verb(self.mode()).capitalize()}…")
        self.runner.start(sort_job(plan, self.mode(), self.catalog_path))
        self._update_buttons()

    def start_undo(self) -> None:
        if self.journal is None or self.runner.running:
            return
        self._begin("undo", "Putting the files back…")
        self.runner.start(undo_job(self.journal, self.catalog_path))
        self._update_buttons()

    def _begin(self, task: str, text: str) -> None:
        self._task = task
        self._failures = []
        self._moves = []
        self._started = time.monotonic()
        self.summary.clear()
        self.error.clear()
        self.status.setText(text)
        self.progress.setRange(0, 0)
        self.progress.show()

    def cancel(self) -> None:
        """Stop a sort or an undo after the file in hand (its journal keeps the rest)."""
        if self._busy_sorting():
            self.status.setText("Stopping after the current file…")
            self.runner.request_stop()
        else:
            self.close()

    def _on_item(self, event: object) -> None:
        match event:
            case StoredSetup(setup):
                self._apply_setup(setup)
            case SortPreview(plan, gone):
                self._show_plan(plan, gone)
            case SortStarted(total=total) | UndoStarted(total=total):
                self.progress.setRange(0, max(1, total))
            case FileSorted(done=done, total=total) | FileRestored(done=done, total=total):
                move = move_of(event)
                if move is not None:
                    self._moves.append(move[:2])
                self._advance(done, total)
            case FileFailed(source, reason, done, total, _, remedy):
                self._failures.append(f"{source.name}: {remedied(reason, remedy, REMEDIES)}")
                self._advance(done, total)
            case FileKept(source, _, reason, done, total):
                self._failures.append(f"{source.name}: {reason}")
                self._advance(done, total)
            case SortFinished():
                self.journal = event.journal
                self._finish(sort_summary(event, self.mode(), self._failures), event)
            case UndoFinished():
                self._finish(undo_summary(event, self._failures), event)
                if not event.cancelled:
                    self.journal = None
            case _:
                raise TypeError(f"unknown sort event {event!r}")

    def _advance(self, done: int, total: int) -> None:
        self.progress.setValue(done)
        elapsed = time.monotonic() - self._started
        left = elapsed / done * (total - done) if done else None
        self.status.setText(f"{done} of {total} files — {format_duration(left)} left")

    def _finish(self, text: str, end: SortFinished | UndoFinished) -> None:
        self.progress.hide()
        self.summary.setText(text)
        self.status.clear()
        self._end = end  # announced once the worker is done and the buttons are ready
        self.plan = None  # carried out: a new one is previewed when there is more to do

    def _on_failed(self, message: str) -> None:
        self.progress.hide()
        self.error.setText(message)

    def _on_finished(self, _completed: bool) -> None:
        task, self._task = self._task, ""
        self._update_buttons()
        moves, self._moves = self._moves, []
        if moves:  # also those of a cancelled or failed run
            self.filesMoved.emit(moves)
        end, self._end = self._end, None
        if isinstance(end, SortFinished):
            self.sortFinished.emit(end)
        elif isinstance(end, UndoFinished):
            self.undoFinished.emit(end)
        if end is not None and (end.cancelled or isinstance(end, UndoFinished)) and self.model:
            self.preview()  # what is left to sort, or all of it again after an undo
        elif task == "setup" and self.dest_edit.text().strip():
            self.preview()  # now that the threshold box is set up

    def _busy_sorting(self) -> bool:
        return self.runner.running and self._task in ("sort", "undo")

    def _update_buttons(self) -> None:
        busy = self._busy_sorting()
        plan = self.plan
        self.sort_button.setEnabled(
            not self.runner.running and plan is not None and bool(plan.placements or plan.resumes)
        )
        self.undo_button.setVisible(self.journal is not None)
        self.undo_button.setEnabled(not self.runner.running)
        self.cancel_button.setVisible(busy)
        self.close_button.setVisible(not busy)
        for widget in (self.dest_edit, *self.mode_group.buttons()):
            widget.setEnabled(not busy)
        self.threshold_check.setEnabled(not busy and self.setup_known)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing stops a run after the file in hand and waits for it: nothing half done."""
        self._timer.stop()
        self.runner.shutdown()
        super().closeEvent(event)


# --- the window's menu entries --------------------------------------------------------------

LAST_JOURNAL = "lastSortJournal"  # the window's property: where Undo Sort… starts looking
STATUS_TIMEOUT_MS = 8000


def open_sort(window: MainWindow, model: str | None, listed: Listed) -> SortDialog | None:
    """File → Sort into Folders…: the dialog for the selected model's results."""
    if model is None:
        window.statusBar().showMessage("Select a model first", STATUS_TIMEOUT_MS)
        return None
    last = window.settings.last_folder
    dest = str(Path(last) / "Sorted") if last else ""
    dialog = SortDialog(listed, model, dest, window.catalog.path, window)
    _show(window, dialog)
    return dialog


def open_undo(window: MainWindow, listed: Listed, folder: Path | None = None) -> SortDialog | None:
    """Edit → Undo Sort…: choose the folder sorted into (the last sort's first), undo the
    latest sort there (its journal, a hidden file, is found in the worker)."""
    if folder is None:
        last = window.property(LAST_JOURNAL)
        start = str(Path(last).parent) if last else window.settings.last_folder
        chosen = QFileDialog.getExistingDirectory(
            window, "Undo Sort: choose the folder you sorted into", start
        )
        if not chosen:
            return None
        folder = Path(chosen)
    dialog = SortDialog(
        listed, None, catalog_path=window.catalog.path, parent=window, journal=folder
    )
    _show(window, dialog)
    return dialog


def _show(window: MainWindow, dialog: SortDialog) -> None:
    """Remember each sort's journal; the list follows moved files, the table refreshes."""
    dialog.sortFinished.connect(lambda end: window.setProperty(LAST_JOURNAL, str(end.journal)))
    dialog.filesMoved.connect(lambda moves: window.listing.submit(MovePaths(moves)))
    dialog.sortFinished.connect(lambda _end: window.table.refresh())
    dialog.undoFinished.connect(lambda _end: window.table.refresh())
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.show()
