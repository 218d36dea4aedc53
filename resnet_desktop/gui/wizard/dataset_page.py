"""The wizard's first page: the dataset folder(s) and the pre-flight report of a scan."""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.core.dataset import (
    DatasetScan,
    ScanEvent,
    ScanProgress,
    ScanStage,
    scan_dataset,
)
from resnet_desktop.core.events import unknown_event
from resnet_desktop.gui.gallery import Thumb, ThumbnailGallery
from resnet_desktop.gui.widgets import InlineError, folder_row
from resnet_desktop.gui.workers import Job, JobRunner

THUMBNAILS_PER_CLASS = 4
SCAN_DELAY_MS = 400  # typing pause before a path in the line edit is scanned
WARNING_STYLE = "color: #9a6700;"


class DatasetPage(QWizardPage):
    """Choose the dataset folder(s) and show the pre-flight report of a background scan."""

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Dataset")
        self.setSubTitle("A folder with one sub-folder of images per class.")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self._timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._timer.timeout.connect(self.rescan)
        self._build()

    def _build(self) -> None:
        self.folder_edit = QLineEdit(placeholderText="Folder with one sub-folder per class")
        self.folder_edit.setToolTip(
            "A folder holding one sub-folder of images per class; each sub-folder's name is "
            "the label its images are trained to get"
        )
        self.val_edit = QLineEdit(placeholderText="Optional: a separate validation folder")
        self.val_edit.setToolTip(
            "Optional: a folder of the same class sub-folders, used only to measure accuracy. "
            "Empty: part of the training images is kept aside instead"
        )
        for edit in (self.folder_edit, self.val_edit):
            edit.textChanged.connect(self._schedule_scan)
        rows = [
            folder_row(self.folder_edit, "Dataset folder", self),
            folder_row(self.val_edit, "Validation folder", self),
        ]
        form = QFormLayout()
        form.addRow("Training images:", rows[0])
        form.addRow("Validation images:", rows[1])
        self.progress = QProgressBar(textVisible=False, maximumHeight=10)
        self.progress.hide()
        self.status = QLabel("Choose a folder to check it.")
        self.error = InlineError()
        self.warnings = QLabel(wordWrap=True, styleSheet=WARNING_STYLE)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.progress, self.status, self.error, self.warnings):
            layout.addWidget(widget)
        layout.addWidget(self._report_area(), 1)
        _tab_in_row_order(rows)  # once the fields belong to the page

    def _report_area(self) -> QSplitter:
        self.counts = QStandardItemModel(0, 2, self)
        self.counts.setHorizontalHeaderLabels(["Class", "Images"])
        table = QTableView(editTriggers=QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setModel(self.counts)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.gallery = ThumbnailGallery(size=72)
        self.unreadable = QPlainTextEdit(readOnly=True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.gallery, "Examples")
        self.tabs.addTab(self.unreadable, "Unreadable files")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(table)
        splitter.addWidget(self.tabs)
        splitter.setSizes([260, 600])
        return splitter

    def first_field(self) -> QWidget:
        return self.folder_edit

    def set_folders(self, folder: str | Path, val_folder: str | Path | None = None) -> None:
        """Fill in the folders and scan at once (what Browse + waiting does)."""
        self.val_edit.setText("" if val_folder is None else str(val_folder))
        self.folder_edit.setText(str(folder))
        self.rescan()

    def scan_with(self, job: Job, subtitle: str) -> None:
        """Scan another kind of dataset than a folder (a person's corrections) at once."""
        self._timer.stop()
        self._show_scan(None)
        self.setSubTitle(subtitle)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Checking the images…")
        self.runner.start(job)
        self.completeChanged.emit()

    def _schedule_scan(self) -> None:
        self.runner.abandon()
        self._show_scan(None)
        self._timer.start()

    def rescan(self) -> None:
        """Scan the folders now (abandoning a scan of earlier ones)."""
        self._timer.stop()
        self._show_scan(None)
        root, val = self.folder_edit.text().strip(), self.val_edit.text().strip()
        if not root:
            self.status.setText("Choose a folder to check it.")
            return
        problem = _absent(root, "Folder") or (val and _absent(val, "Validation folder"))
        if problem:
            self.error.setText(problem)
            return
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Listing files…")
        self.runner.start(lambda stop: scan_dataset(root, val or None, should_stop=stop))
        self.completeChanged.emit()

    def _on_item(self, event: ScanEvent) -> None:
        match event:
            case ScanProgress(stage=ScanStage.LISTING):
                self.status.setText(f"Listing files: {event.done} found")
            case ScanProgress():
                self.progress.setRange(0, event.total)
                self.progress.setValue(event.done)
                self.status.setText(f"Checking files: {event.done} / {event.total}")
            case DatasetScan():
                if not event.cancelled:
                    self._show_scan(event)
            case _:
                raise unknown_event(event)

    def _on_failed(self, message: str) -> None:
        self.error.setText(message)
        self.status.setText("")

    def _on_finished(self, _completed: bool) -> None:
        self.progress.hide()
        self.completeChanged.emit()

    def _show_scan(self, scan: DatasetScan | None) -> None:
        self.state.scan = scan
        self.progress.hide()
        self.error.clear()
        self.status.clear()
        counts = scan.counts() if scan else {}
        self.counts.setRowCount(0)
        for name, count in counts.items():
            number = QStandardItem()
            number.setData(count, Qt.ItemDataRole.DisplayRole)
            self.counts.appendRow([QStandardItem(name), number])
        warnings = scan.warnings() if scan else []
        self.warnings.setText("\n".join(f"⚠ {line}" for line in warnings))
        self.warnings.setVisible(bool(warnings))
        problems = scan.unreadable if scan else []
        self.unreadable.setPlainText("\n".join(f"{p.path}: {p.reason}" for p in problems))
        self.tabs.setTabText(1, f"Unreadable files ({len(problems)})")
        self.gallery.set_items(_examples(scan) if scan else [])
        if scan:
            self.status.setText(
                f"{sum(counts.values())} images in {len(counts)} classes. Ready to train."
            )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.state.scan is not None and not self.runner.running

    def shutdown(self) -> None:
        self._timer.stop()
        self.runner.shutdown()
        self.gallery.shutdown()


def _tab_in_row_order(rows: list[QHBoxLayout]) -> None:
    """Tab goes field, its Browse button, next field... (not the order the widgets were made)."""
    widgets = [row.itemAt(i).widget() for row in rows for i in range(row.count())]
    for first, second in itertools.pairwise(widgets):
        QWidget.setTabOrder(first, second)


def _absent(folder: str, what: str) -> str:
    return "" if Path(folder).is_dir() else f"{what} {folder} does not exist."


def _examples(scan: DatasetScan) -> list[Thumb]:
    """The first few images of every class, captioned with the class name."""
    shown: dict[int, int] = {}
    thumbs = []
    for sample in scan.samples:
        if shown.get(sample.label, 0) < THUMBNAILS_PER_CLASS:
            shown[sample.label] = shown.get(sample.label, 0) + 1
            name = scan.class_names[sample.label]
            thumbs.append(Thumb(sample.path, name, f"{name}: {sample.path}"))
    return thumbs
