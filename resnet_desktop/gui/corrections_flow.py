"""Model → Fine-tune with My Corrections…: the wizard on a person's labels, then a re-run.

The labels are looked up in a worker (:func:`~resnet_desktop.app.corrections.find_corrections`),
the wizard opens with its dataset page scanning them (plus the model's own training
folder when it still exists and the user wants it) and its model page on the corrected
model. Once the new model is saved, the images whose results came from the old version
can be classified again with it, in a worker with a progress dialog that can be
cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from resnet_desktop.app.catalog_run import Progress, RunEvent
from resnet_desktop.app.corrections import Corrections, find_corrections, old_results, rerun
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.messages import show_message
from resnet_desktop.gui.wizard import FineTuneWizard

if TYPE_CHECKING:
    from resnet_desktop.gui.main_window import MainWindow

STATUS_TIMEOUT_MS = 8000


def open_wizard(window: MainWindow, model: str | None, runtime: RuntimeOptions) -> None:
    """Look the corrections up in a worker, then open the wizard on them."""
    if model is None:
        window.statusBar().showMessage("Select the model you corrected first", STATUS_TIMEOUT_MS)
        return
    catalog = window.catalog.path
    window.statusBar().showMessage(f"Looking up your labels for {model}…", STATUS_TIMEOUT_MS)
    window.workers.start(
        lambda _stop: [find_corrections(model, catalog_path=catalog)],
        yielded=lambda found: show_wizard(window, found, runtime),
        failed=lambda message: show_message(window, "Nothing to retrain on", message),
    )


def show_wizard(window: MainWindow, found: Corrections, runtime: RuntimeOptions) -> FineTuneWizard:
    """The wizard with its dataset made of ``found`` (and, if wanted, the training folder)."""
    with_folder = found.training_folder is not None and _ask(
        window,
        "Add the training folder?",
        f"{found.model} was trained on {found.training_folder}, which is still there. Train "
        f"on it as well as on the {len(found.labelled)} images you labelled?",
    )
    wizard = FineTuneWizard(parent=window, runtime=runtime)
    labels = ", ".join(f"{label} {count}" for label, count in found.counts().items())
    folder = f" and {found.training_folder}" if with_folder else ""
    wizard.dataset_page.scan_with(
        lambda stop: found.scan(with_folder, should_stop=stop),
        f"The {len(found.labelled)} images you labelled for {found.model} ({labels}){folder}.",
    )
    wizard.model_page.set_model(found.model)
    wizard.review_page.name_edit.setText(f"{found.model}-corrected"[:64])
    wizard.modelSaved.connect(lambda name, use_now: _saved(window, found, name, use_now))
    wizard.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    wizard.show()
    return wizard


def _saved(window: MainWindow, found: Corrections, name: str, use_now: bool) -> None:
    window.refresh_models(select=name if use_now else None)
    catalog = found.catalog
    window.workers.start(
        lambda _stop: [old_results(found.identity, catalog)],
        yielded=lambda paths: offer_rerun(window, found.model, name, paths, catalog),
        failed=lambda message: window.statusBar().showMessage(message, STATUS_TIMEOUT_MS),
    )


def offer_rerun(
    window: MainWindow, old: str, new: str, paths: list[Path], catalog: Path
) -> QProgressDialog | None:
    """Ask, then classify ``paths`` with ``new`` in a worker, with progress and Cancel."""
    if not paths or not _ask(
        window,
        "Classify again?",
        f"{len(paths)} images hold results of the previous {old}. Classify them again with {new}?",
    ):
        return None
    progress = QProgressDialog(
        f"Classifying {len(paths)} images with {new}…", "Cancel", 0, len(paths), window
    )
    progress.setWindowTitle("Classify again")
    progress.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    runtime = window.options.runtime()

    def job(stop: Callable[[], bool]) -> Iterator[RunEvent]:
        return rerun(paths, new, runtime, catalog_path=catalog, should_stop=stop)

    def advance(event: object) -> None:
        if isinstance(event, Progress):
            progress.setValue(event.done)

    def finished(_completed: bool) -> None:
        progress.close()
        window.table.refresh()

    def failed(message: str) -> None:
        show_message(window, "Could not classify again", message, QMessageBox.Icon.Warning)

    worker = window.workers.start(job, yielded=advance, failed=failed, done=finished)
    progress.canceled.connect(worker.stop)
    progress.show()
    return progress


def _ask(window: MainWindow, title: str, text: str) -> bool:
    answer = QMessageBox.question(window, title, text)
    return answer == QMessageBox.StandardButton.Yes
