"""Getting a model's weights onto disk before it classifies: download, or import a file.

ImageNet weights that are not cached are downloaded behind a cancellable progress dialog.
When that fails (offline), the user is offered to pick the file instead: it is checked to
load into the architecture and copied where torchvision caches it. Architectures without
built-in weights (the CIFAR ResNets) take a weights file into the model library.
All file work runs in workers; progress and messages never block the event loop (only the
file and name pickers the user asked for are ordinary modal dialogs).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QProgressDialog, QWidget

from resnet_desktop.app.weights import (
    WeightsFileInfo,
    import_into_library,
    inspect_weights_file,
    install_imagenet_weights,
)
from resnet_desktop.core.weights import ensure_imagenet_weights
from resnet_desktop.core.zoo import ModelSpec
from resnet_desktop.gui.class_names_dialog import ClassNamesDialog, open_class_names_dialog
from resnet_desktop.gui.messages import show_message
from resnet_desktop.gui.workers import Job, WorkerSet

WEIGHTS_FILTER = "Weights (*.pth *.pt *.th *.bin *.safetensors);;All files (*)"
MEGABYTE = 1 << 20


class _Progress(QObject):
    """Carries download progress from the worker thread to the dialog (queued signal)."""

    bytes_done = Signal(int, int)


class WeightsFlow(QObject):
    """Downloads or imports weights on behalf of the main window.

    Signals:
        ready(str): the weights of this model are now available (name to select).
        message(str): a short status line for the window's status bar.
    """

    ready = Signal(str)
    message = Signal(str)

    def __init__(self, workers: WorkerSet, parent: QWidget) -> None:
        super().__init__(parent)
        self._workers = workers
        self._dialog: QProgressDialog | None = None
        self._spec: ModelSpec | None = None
        self._ready_name = ""
        self._info: WeightsFileInfo | None = None  # of the file being inspected
        self._closed = False

    @property
    def _window(self) -> QWidget:
        """The window the dialogs belong to; looked up, not stored, to create no cycle."""
        return cast(QWidget, self.parent())

    @property
    def busy(self) -> bool:
        return self._dialog is not None

    def shutdown(self) -> None:
        """The window is closing: the workers' last signals must not open dialogs any more."""
        self._closed = True
        self._close_dialog()

    # --- download -------------------------------------------------------------------

    def download(self, spec: ModelSpec) -> None:
        """Make sure ``spec``'s ImageNet weights are cached; emits ready when they are."""
        if self.busy:
            return
        progress = _Progress(self)
        dialog = self._progress_dialog(f"Downloading the ImageNet weights of {spec.title}…")
        progress.bytes_done.connect(self._show_bytes)
        worker = self._workers.start(
            lambda stop: [ensure_imagenet_weights(spec, progress.bytes_done.emit, stop)],
            failed=self._download_failed,
            done=self._finished,
        )
        dialog.canceled.connect(worker.stop)
        self._spec = spec

    def _progress_dialog(self, text: str) -> QProgressDialog:
        dialog = QProgressDialog(text, "Cancel", 0, 0, self._window)
        dialog.setObjectName("weightsProgress")
        dialog.setWindowTitle("Model weights")
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        dialog.setAutoClose(False)
        dialog.setAutoReset(False)
        self._dialog = dialog
        return dialog

    def _show_bytes(self, done: int, total: int) -> None:
        if self._dialog is None:
            return
        if total > 0:
            self._dialog.setMaximum(total // MEGABYTE or 1)
            self._dialog.setValue(min(done // MEGABYTE, self._dialog.maximum()))
        title = self._spec.title if self._spec else "weights"
        self._dialog.setLabelText(f"Downloading {title}… {done / MEGABYTE:.1f} MB")

    def _download_failed(self, text: str) -> None:
        if self._closed:
            return
        cancelled = self._dialog is not None and self._dialog.wasCanceled()
        self._close_dialog()
        if cancelled:
            self.message.emit("Download cancelled")
        elif self._spec is not None:
            self.offer_import(self._spec, text)

    def _finished(self, completed: bool) -> None:
        self._close_dialog()
        if completed and not self._closed and self._spec is not None:
            self.ready.emit(self._spec.name)

    def _close_dialog(self) -> None:
        if self._dialog is not None:
            self._dialog.close()
            self._dialog.deleteLater()
            self._dialog = None

    # --- import -----------------------------------------------------------------------

    def offer_import(self, spec: ModelSpec, text: str) -> None:
        """Say why there are no weights and offer to import a file instead."""
        box = show_message(
            self._window, "Model weights", text, QMessageBox.Icon.Warning, open_now=False
        )
        button = box.addButton("Import weights file…", QMessageBox.ButtonRole.AcceptRole)
        button.clicked.connect(lambda: self.import_file(spec))
        box.addButton(QMessageBox.StandardButton.Close)
        box.setObjectName("weightsMissing")
        box.open()

    def import_file(self, spec: ModelSpec, source: Path | None = None) -> None:
        """Pick a weights file (unless given), inspect it, install or import it.

        The file may be for any architecture of the zoo, ``spec`` is tried first. A file
        with an architecture's ImageNet head is installed as its ImageNet weights; any
        other becomes a library model once the user named it and its classes.
        """
        if self.busy:
            return
        if source is None:
            chosen, _ = QFileDialog.getOpenFileName(
                self._window, "Import Weights File", "", WEIGHTS_FILTER
            )
            if not chosen:
                return
            source = Path(chosen)
        checked = source
        dialog = self._progress_dialog(f"Checking {source.name}…")
        worker = self._workers.start(
            lambda stop: inspect_weights_file(spec, checked, stop),
            yielded=self._inspected,
            failed=self._import_failed,
            done=self._inspection_done,
        )
        dialog.canceled.connect(worker.stop)
        self._spec = spec
        self._info = None

    def _inspected(self, info: WeightsFileInfo) -> None:
        self._info = info

    def _inspection_done(self, completed: bool) -> None:
        cancelled = self._dialog is not None and self._dialog.wasCanceled()
        self._close_dialog()
        info, self._info = self._info, None
        if not completed or cancelled or self._closed or info is None:
            return
        spec = info.spec  # the architecture the file fits: maybe not the one selected
        if info.imagenet:
            self._run_import(spec, partial(install_imagenet_weights, spec, info.source), spec.name)
        else:
            self._ask_names(info)

    def _ask_names(self, info: WeightsFileInfo) -> None:
        """Ask the new model's name and class names, then import it into the library."""
        found = f"Suggested names read from {info.names_file.name}." if info.names_file else ""
        dialog = ClassNamesDialog(
            f"Import {info.source.name}",
            info.class_names,
            self._window,
            model_name=info.suggested_name,
            note=f"{info.source.name} becomes a {info.spec.title} model of your library. {found}",
            accept_text="Import",
        )
        dialog.accepted.connect(lambda: self._import(info, dialog))
        open_class_names_dialog(dialog)

    def _import(self, info: WeightsFileInfo, dialog: ClassNamesDialog) -> None:
        name, names = dialog.model_name(), dialog.names()
        job = partial(import_into_library, info.spec, info.source, name, names)
        self._run_import(info.spec, job, name)

    def _run_import(self, spec: ModelSpec, job: Job, ready_name: str) -> None:
        dialog = self._progress_dialog(f"Checking and importing the weights for {spec.title}…")
        worker = self._workers.start(job, failed=self._import_failed, done=self._imported)
        dialog.canceled.connect(worker.stop)
        self._spec = spec
        self._ready_name = ready_name

    def _import_failed(self, text: str) -> None:
        self._close_dialog()
        if not self._closed:
            show_message(self._window, "Import failed", text, QMessageBox.Icon.Warning)

    def _imported(self, completed: bool) -> None:
        self._close_dialog()
        if completed and not self._closed:
            self.message.emit(f"Weights imported: {self._ready_name}")
            self.ready.emit(self._ready_name)
