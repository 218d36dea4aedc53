"""The main window: images in, a model over them, a sortable table of results out.

A thin layer over the app layer. Scanning, loading the model, classifying, decoding
thumbnails and previews all run off the GUI thread (workers and a thread pool), and so
does every query of the results catalog: the list of images lives in the listing's
catalog connection (:class:`ListingService`), the table shows pages of its current
view, and a classify run records each batch in the catalog before the window sees it.
Nothing imported here imports torch: it is loaded in the background once the window is
on screen.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QByteArray, QMimeData, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QShowEvent
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from resnet_desktop.app.classify import (
    ClassifyEvent,
    ModelReady,
    Preparing,
    RunPlan,
    RunRequest,
    classify_job,
    scan_job,
)
from resnet_desktop.app.identity import identity_for
from resnet_desktop.app.listing import (
    AddPaths,
    ClearList,
    ListingService,
    Sync,
)
from resnet_desktop.app.models import WeightsState, list_model_choices
from resnet_desktop.app.scan_report import ScanSummary
from resnet_desktop.app.startup import RuntimeInfo, warm_up_job
from resnet_desktop.app.unknown import decider_for
from resnet_desktop.core.catalog import ModelIdentity, RunInfo
from resnet_desktop.core.imaging import IMAGE_EXTENSIONS
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.predictor import BatchResult
from resnet_desktop.core.settings import load_settings, save_settings
from resnet_desktop.core.throttle import Throttle
from resnet_desktop.gui import about, corrections_flow, help_dialogs, sort_dialog
from resnet_desktop.gui.actions import create_actions
from resnet_desktop.gui.catalog_flow import CatalogFlow, catalog_file
from resnet_desktop.gui.detail_panel import PREVIEW_SIZE, DetailPanel
from resnet_desktop.gui.evaluate_dialog import EvaluateDialog
from resnet_desktop.gui.image_loader import ImageLoader
from resnet_desktop.gui.manage_models import ManageModelsDialog
from resnet_desktop.gui.messages import show_message
from resnet_desktop.gui.model_selector import ModelSelector
from resnet_desktop.gui.opened_folders import OpenedFolders
from resnet_desktop.gui.preferences import PreferencesDialog, runs_as
from resnet_desktop.gui.redo_offer import offer_redo
from resnet_desktop.gui.results_model import ResultsModel
from resnet_desktop.gui.results_view import THUMBNAIL_SIZE, ResultsPane
from resnet_desktop.gui.review_flow import ReviewFlow
from resnet_desktop.gui.run_options import RunOptions
from resnet_desktop.gui.side_panel import SidePanelSplitter
from resnet_desktop.gui.status_panel import StatusPanel
from resnet_desktop.gui.table_flow import TableFlow
from resnet_desktop.gui.weights_flow import WeightsFlow
from resnet_desktop.gui.welcome import WelcomePanel
from resnet_desktop.gui.wizard import FineTuneWizard
from resnet_desktop.gui.workers import GeneratorWorker, WorkerSet
from resnet_desktop.resources import APP_NAME

log = logging.getLogger(__name__)

WARM_UP_DELAY_MS = 150  # let the window paint before torch's import competes for the GIL
STATUS_TIMEOUT_MS = 8000
COUNTS_INTERVAL_S = 0.5  # how often a run asks the catalog for the done/failed counts
SCAN_DONE = "scan done"  # the Sync tag of a scan's end (a run's end: its completed flag)


def local_paths(mime: QMimeData) -> list[str]:
    """The local files and folders among dragged URLs."""
    if not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]


class MainWindow(QMainWindow):
    """The application window.

    Signals (for tests and scripting):
        scanFinished(): a scan of added paths ended, none is queued, and the table
            shows every image it found.
        batchClassified(object): a BatchResult, already in the catalog, reached the table.
        runFinished(bool): a classify run ended and the table shows its results; True
            when it ran to the end.
        viewShown(): the table shows a new view (another model, sort, filter, rows).
    """

    scanFinished = Signal()
    batchClassified = Signal(object)
    runFinished = Signal(bool)
    viewShown = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = load_settings()
        self.workers = WorkerSet(self)
        self.results = ResultsModel(self)
        self.listing = ListingService(catalog_file(self.settings))
        self.catalog = CatalogFlow(self.listing, self.settings, self)
        self.runtime: RuntimeInfo | None = None
        self._init_state()
        self._build_central()
        self.table = TableFlow(
            self.listing, self.results, self.pane, self.catalog, self.settings, self
        )
        self.review = ReviewFlow(self.listing, self.results, self.pane, self.table, self)
        self.named_actions = create_actions(self)
        self._build_menus_and_toolbar()
        self.status = StatusPanel(self.statusBar())
        self.review.attach(self.named_actions, self.settings, self.statusBar())
        self._connect_parts()
        self._restore_settings()
        self.workers.start(self.listing.job, yielded=self.table.handle, failed=self._status)
        self._update_state()

    def _init_state(self) -> None:
        self._run: GeneratorWorker | None = None
        self._run_model = ""
        self._run_total = 0
        self._counts_throttle = Throttle(COUNTS_INTERVAL_S)
        self._scan: GeneratorWorker | None = None
        self._scan_queue: list[list[str]] = []
        self._scan_count = 0
        self._classify_when_ready = False
        self._redo_offered: set[tuple[str, RunInfo | None]] = set()  # asked once each
        self._warmed_up = False
        self._models_known = False  # model identities are looked up once the window is up
        self._closing = False
        self.setWindowTitle(APP_NAME)
        self.setAcceptDrops(True)

    # --- building ---------------------------------------------------------------------

    def _build_central(self) -> None:
        self.thumbnails = ImageLoader(THUMBNAIL_SIZE, threads=2, parent=self)
        self.previews = ImageLoader(PREVIEW_SIZE, threads=1, max_pending=1, parent=self)
        self.pane = ResultsPane(self.results, self)
        self.detail = DetailPanel(self)
        self.splitter = SidePanelSplitter(self.pane, self.detail, self)
        self.splitter.setObjectName("mainSplitter")
        self.setCentralWidget(self.splitter)
        self.selector = ModelSelector(self)
        self.options = RunOptions(self)
        self.weights = WeightsFlow(self.workers, self)
        self.folders = OpenedFolders(self, self.results)
        self.welcome = WelcomePanel(self.selector, self)
        self.pane.layout().insertWidget(0, self.welcome)  # above the filters and the table

    def _build_menus_and_toolbar(self) -> None:
        menus = {
            "&File": ["actionOpenFolder", "actionAddFolder", "actionAddImages", None,
                      "actionExportCsv", "actionExportFilteredCsv", None, "actionSortIntoFolders",
                      None, "actionOpenCatalog", "actionNewCatalog", None, "actionQuit"],
            "&Edit": ["actionCopy", "actionUndoLabel", None, "actionClearList", None,
                      "actionUndoSort", None, "actionPreferences"],
            "&View": ["actionGallery", "actionReview", "actionGroupByLabel"],
            "&Model": ["actionClassify", "actionClassifyAgain", "actionStop", None,
                       "actionImportWeights", "actionFineTune", "actionFineTuneCorrections",
                       "actionEvaluate", "actionManageModels"],
            "&Help": ["actionUserGuide", "actionShortcuts", None, "actionAbout"],
        }  # fmt: skip
        for title, names in menus.items():
            menu = self.menuBar().addMenu(title)
            for name in names:
                if name:
                    menu.addAction(self.named_actions[name])
                else:
                    menu.addSeparator()
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolBar")
        toolbar.setMovable(False)
        toolbar.addAction(self.named_actions["actionOpenFolder"])
        toolbar.addSeparator()
        toolbar.addWidget(self.selector)
        toolbar.addWidget(self.options)
        toolbar.addSeparator()
        toolbar.addAction(self.named_actions["actionClassify"])
        toolbar.addAction(self.named_actions["actionStop"])

    def _connect_parts(self) -> None:
        self.results.thumbnailNeeded.connect(self.thumbnails.request)
        self.thumbnails.loaded.connect(self.results.set_thumbnail)
        self.thumbnails.dropped.connect(self.results.forget_thumbnail)
        self.detail.previewNeeded.connect(self.previews.request)
        self.previews.loaded.connect(self.detail.set_preview)
        self.pane.currentRowChanged.connect(self._show_detail)
        self.selector.currentIndexChanged.connect(self._model_changed)
        self.selector.choicesChanged.connect(self._look_up_model)
        self.selector.activated.connect(self._model_activated)
        self.options.runtimeChanged.connect(self._show_device)
        self.options.top_k_spin.valueChanged.connect(self.table.set_top_k)
        self.weights.ready.connect(self._weights_ready)
        self.weights.message.connect(self._status)
        self.welcome.downloadRequested.connect(self.weights.download)
        self.welcome.importRequested.connect(self.import_weights)
        self.welcome.fineTuneRequested.connect(self.open_fine_tune)
        self.catalog.opened.connect(self.status.show_catalog)
        self.catalog.message.connect(self._status)
        self.table.viewShown.connect(self._view_shown)
        self.table.rowsArrived.connect(self._rows_arrived)
        self.table.synced.connect(self._synced)
        self.table.message.connect(self._status)
        self.review.message.connect(self._status)

    def _restore_settings(self) -> None:
        settings = self.settings
        self.options.apply(settings)
        self.selector.select_model(settings.model)
        if not settings.window_geometry or not self.restoreGeometry(
            QByteArray.fromBase64(settings.window_geometry.encode("ascii"))
        ):
            self.resize(1280, 800)
        if settings.splitter_state:
            self.splitter.restoreState(QByteArray.fromBase64(settings.splitter_state.encode()))
        self.table.set_top_k(self.options.top_k())
        self._model_changed()
        self._show_device()

    def _store_settings(self) -> None:
        settings = self.settings
        self.options.store(settings)
        self.review.store(settings)
        settings.model = self.selector.wanted_model() or settings.model
        settings.window_geometry = _base64(self.saveGeometry())
        settings.splitter_state = _base64(self.splitter.saveState())
        try:
            save_settings(settings)
        except OSError as error:
            log.warning("cannot save the settings: %s", error)

    # --- window events ------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._warmed_up:
            self._warmed_up = True
            QTimer.singleShot(WARM_UP_DELAY_MS, self, self._start_background_loading)

    def _start_background_loading(self) -> None:
        """Load torch (for the device list) and read the model list, while the user browses."""
        if self._closing:
            return
        self._models_known = True
        self._look_up_model()
        self.refresh_models()
        self.workers.start(warm_up_job, yielded=self._runtime_ready, failed=self._warm_up_failed)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = local_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Stop and join every worker before the window goes: no thread outlives it.

        A dialog that may hold unsaved work (one with a ``should_close()``, as the
        wizard's trained model) is asked first, and its "keep working" keeps it open.
        """
        if not all(_may_close(dialog) for dialog in self.findChildren(QDialog)):
            event.ignore()
            return
        self._closing = True
        self._store_settings()
        for dialog in self.findChildren(QDialog):
            dialog.close()
        self.weights.shutdown()
        self.thumbnails.shutdown()
        self.previews.shutdown()
        self.review.shutdown()
        self.detail.heatmap.shutdown()
        self.detail.facts.shutdown()
        if not self.workers.stop_all():
            log.warning("some background work did not stop in time")
        super().closeEvent(event)

    # --- adding images ------------------------------------------------------------------

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open Folder", self.settings.last_folder)
        if folder:
            self.show_folder(Path(folder))

    def show_folder(self, folder: Path) -> None:
        """Show ``folder``'s images instead of the list's (File → Open Folder…)."""
        self.clear_list()
        self.folders.open(folder)
        self._add_folder(folder)

    def add_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add Folder", self.settings.last_folder)
        if folder:
            self._add_folder(Path(folder))

    def _add_folder(self, folder: Path) -> None:
        self.settings.last_folder = str(folder)
        self.add_paths([folder])

    def add_images(self) -> None:
        patterns = " ".join(f"*{e} *{e.upper()}" for e in sorted(IMAGE_EXTENSIONS))
        files, _ = QFileDialog.getOpenFileNames(
            self, "Add Images", self.settings.last_folder, f"Images ({patterns});;All files (*)"
        )
        if files:
            self.settings.last_folder = str(Path(files[0]).parent)
            self.add_paths(files)

    def add_paths(self, paths: Sequence[str | Path]) -> None:
        """Add images and folders (searched recursively); scans run one after another."""
        paths = [str(path) for path in paths]
        if not paths:
            return
        self.folders.add_folders(paths)  # rows are labelled relative to them
        if self._scan is not None:
            self._scan_queue.append(paths)
            return
        if self._run is None:
            self.status.busy("Scanning…")
        self._scan = self.workers.start(
            scan_job(paths),
            yielded=self._scanned,
            failed=self._scan_failed,
            done=self._scan_done,
        )
        self._update_state()

    def _scanned(self, chunk: list[Path] | ScanSummary) -> None:
        if isinstance(chunk, ScanSummary):
            self.folders.report(chunk)
            return
        self.listing.submit(AddPaths(chunk))
        self._scan_count += len(chunk)
        if self._run is None:
            self.status.busy(f"Scanning… {self._scan_count} images")

    def _scan_failed(self, message: str) -> None:
        if not self._closing:
            show_message(self, "Cannot add images", message, QMessageBox.Icon.Warning)

    def _scan_done(self, _completed: bool) -> None:
        self._scan = None
        if self._closing:
            return
        if self._scan_queue:
            self.add_paths(self._scan_queue.pop(0))
            return
        self._scan_count = 0
        self._update_state()
        self.listing.submit(Sync(SCAN_DONE))

    def clear_list(self) -> None:
        self.listing.submit(ClearList())
        self.folders.clear()
        self.detail.show_row(None)
        if self._run is None and self._scan is None:
            self.status.reset()

    # --- models -------------------------------------------------------------------------

    def refresh_models(self, select: str | None = None) -> None:
        """Re-read the zoo's weights states and the library in a worker; select ``select``."""
        if select:
            self.selector.select_model(select)
        self.workers.start(
            lambda _stop: [list_model_choices()],
            yielded=self.selector.set_choices,
            failed=self._status,
        )

    def select_model(self, name: str) -> None:
        """Select ``name`` now, or as soon as the model list shows it."""
        self.selector.select_model(name)

    def _model_changed(self) -> None:
        choice = self.selector.current_choice()
        self.status.show_model(choice.name if choice else None)
        self._look_up_model()
        self._show_device()

    def _look_up_model(self) -> None:
        """Show the selected model's stored results: find its identity in a worker.

        Until the answer comes, the table hides every result; looked up again whenever
        the model list is re-read (a library model may have new weights).
        """
        name = self.selector.current_model()
        self.results.expect_model(name)
        self._show_detail(self.pane.current_row())
        if not self._models_known or self._closing:
            return  # before the window is up: a zoo model's class names import torch
        if name is None:
            self.table.show_model(None, None)
            return
        self.workers.start(
            lambda _stop: [(name, identity_for(name), decider_for(name))], yielded=self._model_found
        )

    def _model_found(self, found: tuple[str, ModelIdentity | None, Decider | None]) -> None:
        name, identity, decider = found
        if name == self.selector.current_model() and not self._closing:
            self.results.set_decider(decider)
            self.table.show_model(name, identity)

    def _model_activated(self) -> None:
        """The user picked a model: fetch ImageNet weights that are not cached yet."""
        self._classify_when_ready = False
        choice = self.selector.current_choice()
        if choice is not None and choice.state == WeightsState.DOWNLOAD:
            self.weights.download(choice.spec)

    def _weights_ready(self, name: str) -> None:
        self.refresh_models(select=name)
        if self._classify_when_ready and self._run is None:
            self._classify_when_ready = False
            self._start_run(name)

    def import_weights(self) -> None:
        """Import a weights file for the selected model's architecture (a library model's too)."""
        choice = self.selector.current_choice()
        if choice is not None:
            self.weights.import_file(choice.spec)

    def _runtime_ready(self, info: RuntimeInfo) -> None:
        self.runtime = info
        self._show_device()

    def _show_device(self) -> None:
        """What Classify will run as with the current choices and model."""
        choice = self.selector.current_choice()
        if self._run is not None or choice is None:  # a run shows what it really uses
            return
        hardware = self.runtime.hardware if self.runtime else None
        self.status.show_device(runs_as(self.options.runtime(), hardware, choice.spec.preprocess))

    def open_preferences(self) -> None:
        """Edit → Preferences: the runtime choices, saved as soon as they are accepted."""
        choice = self.selector.current_choice()
        if choice is None:
            return
        hardware = self.runtime.hardware if self.runtime else None
        dialog = PreferencesDialog(
            self.options.runtime(), hardware, choice.spec.preprocess, parent=self
        )
        dialog.accepted.connect(lambda: self._preferences_accepted(dialog))
        self._open_dialog(dialog)

    def _preferences_accepted(self, dialog: PreferencesDialog) -> None:
        self.options.set_runtime(dialog.runtime())
        self._store_settings()

    def _warm_up_failed(self, message: str) -> None:
        if not self._closing:
            show_message(self, "PyTorch could not be loaded", message, QMessageBox.Icon.Critical)

    # --- classifying --------------------------------------------------------------------

    def classify(self) -> None:
        """Classify every image without an up-to-date result (F5)."""
        choice = self.selector.current_choice()
        if self._run is not None or self.weights.busy or choice is None:
            return
        if not self.results.listed():
            self._status("Add images first: Open Folder (Ctrl+O), or drop files on the window")
            return
        if choice.state == WeightsState.NEEDS_FILE:
            self._classify_when_ready = True
            self.weights.offer_import(
                choice.spec,
                f"{choice.spec.title} has no built-in weights. Import a weights file trained "
                "for it; it becomes a model of your library.",
            )
        elif not choice.ready:
            self._classify_when_ready = True
            self.weights.download(choice.spec)
        else:
            self._start_run(choice.name)

    def classify_again(self) -> None:
        """Classify every image anew, replacing stored results (Ctrl+Shift+R)."""
        choice = self.selector.current_choice()
        idle = self._run is None and not self.weights.busy
        if idle and choice is not None and choice.ready and self.results.listed():
            self._start_run(choice.name, redo=True)
        else:
            self.classify()  # says what is missing first: images, weights

    def _start_run(self, model: str, redo: bool = False) -> None:
        if self.catalog.path is None:
            self._status("The catalog is still opening; try again in a moment")
            return
        request = RunRequest(
            model,
            self.options.top_k(),
            self.options.runtime(),
            self.catalog.path,
            self.listing.paths_source(),
            redo,
        )
        self._run_model = model
        self._run = self.workers.start(
            classify_job(request),
            yielded=self._run_item,
            failed=self._run_failed,
            done=self._run_done,
        )
        self.status.busy("Checking files…")
        self._update_state()

    def _run_item(self, event: ClassifyEvent) -> None:
        match event:
            case RunPlan():
                self._planned(event)
            case Preparing():
                self.status.start(self._run_total, event.message)
            case ModelReady():
                self.status.show_run_device(event.runtime)
                if event.notice:
                    self._status(event.notice)
                if not any(self.results.counts()[1:]):  # the view may not know the model yet
                    self.table.refresh()
            case BatchResult():
                self._batch_done(event)
            case _:
                raise TypeError(f"unknown event from the classify job: {event!r}")

    def _planned(self, plan: RunPlan) -> None:
        self._run_total = len(plan.todo)
        if not plan.todo:
            asked = (self._run_model, plan.would_run)
            if plan.runtime_changed and asked not in self._redo_offered:
                self._redo_offered.add(asked)
                self._open_dialog(offer_redo(self, plan.runtime_change_text(), self.classify_again))
            else:
                self._status(plan.up_to_date_text())

    def _batch_done(self, batch: BatchResult) -> None:
        """Show one recorded BatchResult and the run's progress."""
        self.results.apply_batch(batch.predictions, self._run_model)
        self.status.show_batch(batch)
        if self._counts_throttle():
            self.table.count()
        self._show_detail(self.pane.current_row())
        self.batchClassified.emit(batch)

    def _run_failed(self, message: str) -> None:
        if not self._closing:
            show_message(self, "Classification failed", message, QMessageBox.Icon.Warning)

    def _run_done(self, completed: bool) -> None:
        self._run = None
        if self._closing:
            return
        self.status.finish(completed)
        self._show_device()
        self._update_state()
        self.table.refresh()
        self.listing.submit(Sync(completed))  # runFinished once the table shows the results

    def stop(self) -> None:
        """Stop classifying and scanning (Esc); takes effect within a batch."""
        if self._run is not None:
            self._run.stop()
        if self._scan is not None:
            self._scan_queue.clear()
            self._scan.stop()
        if self._run is not None or self._scan is not None:
            self.status.stopping()

    # --- the table --------------------------------------------------------------------

    def _view_shown(self) -> None:
        self._rows_arrived()
        if self._scan is not None and self._run is None:
            self.status.busy(f"Scanning… {len(self.results)} images")
        self.viewShown.emit()

    def _rows_arrived(self) -> None:
        self._update_counts()
        self._show_detail(self.pane.current_row())

    def _synced(self, tag: object) -> None:
        if self._closing:
            return
        if tag == SCAN_DONE:
            self.status.idle(f"{self.results.listed()} images")
            self.scanFinished.emit()
        elif isinstance(tag, bool):  # a run ended
            self.runFinished.emit(tag)

    def _show_detail(self, row: int) -> None:
        shown = self.results.row_at(row) if 0 <= row < len(self.results) else None
        self.detail.show_row(shown, self.results.results_known, self.results.query.model)

    # --- dialogs ------------------------------------------------------------------------

    def open_fine_tune(self) -> None:
        wizard = FineTuneWizard(parent=self, runtime=self.options.runtime())
        wizard.modelSaved.connect(self._model_saved)
        self._open_dialog(wizard)

    def _model_saved(self, name: str, use_now: bool) -> None:
        self.refresh_models(select=name if use_now else None)

    def sort_into_folders(self) -> None:
        sort_dialog.open_sort(self, self.selector.current_model(), self.listing.paths_source())

    def undo_sort(self) -> None:
        sort_dialog.open_undo(self, self.listing.paths_source())

    def fine_tune_corrections(self) -> None:
        corrections_flow.open_wizard(self, self.selector.current_model(), self.options.runtime())

    def open_evaluate(self) -> None:
        model = self.selector.current_model()
        self._open_dialog(EvaluateDialog(model, self, self.options.runtime()))

    def manage_models(self) -> None:
        dialog = ManageModelsDialog(self, current=self.selector.wanted_model())
        dialog.modelsChanged.connect(self.refresh_models)
        dialog.modelsChanged.connect(self.detail.heatmap.forget_model)
        self._open_dialog(dialog)

    def _open_dialog(self, dialog: QDialog) -> None:
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def show_user_guide(self) -> None:
        self._open_dialog(help_dialogs.user_guide(self))

    def show_shortcuts(self) -> None:
        self._open_dialog(help_dialogs.shortcuts(self, self.actions()))

    def show_about(self) -> None:
        about.show_about(self, self.runtime)

    # --- state ----------------------------------------------------------------------------

    def _update_state(self) -> None:
        running = self._run is not None
        self.named_actions["actionClassify"].setEnabled(not running)
        self.named_actions["actionClassifyAgain"].setEnabled(not running)
        self.named_actions["actionStop"].setEnabled(running or self._scan is not None)
        for name in ("actionOpenCatalog", "actionNewCatalog"):
            self.named_actions[name].setEnabled(not running)  # a run records into this one
        self.selector.setEnabled(not running)
        self.options.setEnabled(not running)

    def _update_counts(self) -> None:
        self.status.show_counts(*self.results.counts())

    def _status(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_TIMEOUT_MS)


def _may_close(dialog: QDialog) -> bool:
    """Whether ``dialog`` lets the window close: a dialog with unsaved work asks the user."""
    should_close = getattr(dialog, "should_close", None)
    return not dialog.isVisible() or should_close is None or bool(should_close())


def _base64(data: QByteArray) -> str:
    return bytes(data.toBase64().data()).decode("ascii")
