"""The Evaluate dialog: how well a model does on a labelled folder (one sub-folder per class)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeAlias

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.models import (
    ModelChoice,
    WeightsState,
    list_model_choices,
    unchecked_choices,
)
from resnet_desktop.core.errors import UserError, user_message
from resnet_desktop.core.evaluate import (
    EvalEvent,
    EvalProgress,
    EvalReport,
    evaluate,
    write_report_csv,
)
from resnet_desktop.core.events import Status, unknown_event
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.evaluation_view import EvalReportView
from resnet_desktop.gui.model_selector import ModelSelector
from resnet_desktop.gui.widgets import InlineError, folder_row
from resnet_desktop.gui.workers import Job, JobRunner

# What the evaluation job yields: a status line while the model loads, then evaluate()'s.
EvaluationEvent: TypeAlias = Status | EvalEvent

# Asks where to save the report: (parent, suggested path) -> the chosen path, '' if none.
AskPath: TypeAlias = Callable[[QWidget, str], str]


def evaluation_job(model_name: str, folder: Path, runtime: RuntimeOptions) -> Job:
    """Load the model, then classify the folder; yields a Status, then evaluate()'s events."""

    def job(should_stop: Callable[[], bool]) -> Iterator[EvaluationEvent]:
        yield Status("Loading the model…")
        model = load_model(model_name, should_stop=should_stop)
        yield from evaluate(model, folder, runtime, should_stop=should_stop)

    return job


def evaluable(choices: list[ModelChoice]) -> list[ModelChoice]:
    """The models that can be evaluated as they are: not those waiting for a weights file."""
    return [choice for choice in choices if choice.state != WeightsState.NEEDS_FILE]


def ask_report_path(parent: QWidget, suggested: str) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save Report", suggested, "CSV files (*.csv)")
    return path


def report_file_name(folder: Path, model: str) -> str:
    """``<folder>-<model>-report.csv``, with what a file system refuses made ``_``."""
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]', "_", f"{folder.name}-{model}-report.csv")


class EvaluateDialog(QDialog):
    """Runs core.evaluate on a folder in the background and shows the EvalReport.

    The model is chosen in the dialog (the main window's one to start with); the list of
    models is read from disk in a worker. Stop keeps what was classified so far (a partial
    report); Save Report writes it as CSV; closing stops and joins every worker.
    ``runtime`` is the main window's device, precision, engine and batch size;
    ``ask_path`` asks where to save the report (tests pass their own).
    """

    def __init__(
        self,
        model_name: str | None,
        parent: QWidget | None = None,
        runtime: RuntimeOptions = RuntimeOptions(),
        ask_path: AskPath = ask_report_path,
    ) -> None:
        super().__init__(parent)
        self.runtime = runtime
        self.ask_path = ask_path
        self.report: EvalReport | None = None
        self._report_source = ("", Path())  # the model and folder of the shown report
        self._listed = False  # whether the model list has come from disk
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self.lister = JobRunner(self)
        self.lister.item.connect(self._on_choices)
        self.lister.failed.connect(self._on_failed)
        self.finished.connect(self._shutdown)
        self._build()
        if model_name:
            self.selector.select_model(model_name)
        self._model_changed()
        self.lister.start(lambda _stop: [evaluable(list_model_choices())])
        self.folder_edit.setFocus()
        self.resize(820, 640)

    @property
    def model_name(self) -> str:
        """The model to evaluate: the selected one; until the list is in, the one asked for."""
        name = self.selector.current_model() if self._listed else self.selector.wanted_model()
        return name or ""

    def _build(self) -> None:
        self.selector = ModelSelector()
        self.selector.setToolTip("The model whose accuracy to measure")
        self.selector.set_choices(evaluable(unchecked_choices()))
        self.selector.currentIndexChanged.connect(self._model_changed)
        self.selector.choicesChanged.connect(self._model_changed)
        self.folder_edit = QLineEdit(placeholderText="A folder with one sub-folder per class")
        self.folder_edit.textChanged.connect(self._update_buttons)
        form = QFormLayout()
        form.addRow("Model:", self.selector)
        form.addRow("Labelled images:", folder_row(self.folder_edit, "Labelled folder", self))
        self.start_button = QPushButton("Evaluate")
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.error = InlineError()
        self.report_view = EvalReportView()
        controls = QHBoxLayout()
        controls.addWidget(self.progress, 1)
        controls.addWidget(self.start_button)
        controls.addWidget(self.stop_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(controls)
        for widget in (self.status, self.error):
            layout.addWidget(widget)
        layout.addWidget(self.report_view, 1)
        layout.addWidget(self._bottom_buttons())
        self._make_enter_start()
        self._update_buttons()

    def _bottom_buttons(self) -> QDialogButtonBox:
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.addButton("Save Report…", QDialogButtonBox.ButtonRole.ActionRole)
        self.save_button.setToolTip(
            "Save precision, recall, F1 and support per class, and the confusion matrix, as CSV"
        )
        self.save_button.clicked.connect(self.save_report)
        return buttons

    def _make_enter_start(self) -> None:
        """Enter anywhere runs Evaluate, and nothing else.

        A dialog's push buttons are 'auto default': the one with the focus takes Enter.
        Starting a run disables the folder field, the focus moves on to a button, and
        the same Enter used to click it too (Stop: an empty, 'stopped' report).
        """
        for button in self.findChildren(QPushButton):
            button.setAutoDefault(False)
        self.start_button.setDefault(True)

    def _model_changed(self) -> None:
        name = self.model_name
        self.setWindowTitle(f"Evaluate {name}" if name else "Evaluate")
        if not self.runner.running:
            self.status.setText(
                f"Class folder names must be among {name}'s classes." if name else ""
            )

    def _on_choices(self, choices: list[ModelChoice]) -> None:
        """The list from disk: select the model asked for, or say why it is not there."""
        wanted = self.selector.wanted_model()
        self._listed = True
        self.selector.set_choices(choices)
        current = self.selector.current_model()
        if current is not None:
            self.selector.select_model(current)  # settled: forget a wish the list cannot meet
        if wanted and wanted != current:
            self.error.setText(
                f"{wanted} cannot be evaluated as it is (no weights); choose a model."
            )
        self._model_changed()

    def start(self) -> None:
        text = self.folder_edit.text().strip()
        if not self.model_name:
            self.error.setText("Choose a model first.")
            return
        if not text or not Path(text).is_dir():
            self.error.setText(f"{text or 'No folder given'}: not a folder.")
            return
        folder = Path(text)
        self.error.clear()
        self._show_report(None)
        self._report_source = (self.model_name, folder)
        self.progress.setValue(0)
        self.runner.start(evaluation_job(self.model_name, folder, self.runtime))
        self._update_buttons()

    def stop(self) -> None:
        """Stop after the current batch; the images done so far are still reported."""
        self.runner.request_stop()
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping…")

    def save_report(self) -> None:
        """Ask where, then write the report's per-class metrics and confusion matrix as CSV.

        Two small files, written on the GUI thread: a few kilobytes even for 1000 classes.
        """
        if self.report is None:
            return
        model, folder = self._report_source
        suggested = folder.parent / report_file_name(folder, model)
        path = self.ask_path(self, str(suggested))
        if not path:
            return
        try:
            metrics, confusion = write_report_csv(self.report, path)
        except UserError as error:
            self.error.setText(user_message(error))
            return
        self.error.clear()
        self.status.setText(
            f"Report saved: {metrics.name} and {confusion.name} in {metrics.parent}"
        )

    def _update_buttons(self) -> None:
        running = self.runner.running
        self.start_button.setEnabled(not running and bool(self.folder_edit.text().strip()))
        self.stop_button.setEnabled(running)
        self.save_button.setEnabled(not running and self.report is not None)
        for widget in (self.folder_edit, self.selector):
            widget.setEnabled(not running)

    def _show_report(self, report: EvalReport | None) -> None:
        self.report = report
        self.report_view.set_report(report)

    def _on_item(self, event: EvaluationEvent) -> None:
        match event:
            case Status(message):
                self.status.setText(message)
                self.progress.setRange(0, 0)
            case EvalProgress():
                self._on_progress(event)
            case EvalReport():
                self._show_report(event)
            case _:
                raise unknown_event(event)

    def _on_progress(self, item: EvalProgress) -> None:
        self.progress.setRange(0, max(1, item.total))
        self.progress.setValue(item.done)
        self.status.setText(
            f"{item.done} / {item.total} images · {item.images_per_second:.0f} images/s · "
            f"about {format_duration(item.eta_seconds)} left"
        )

    def _on_failed(self, message: str) -> None:
        self.error.setText(message)

    def _on_finished(self, _completed: bool) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if self.report else 0)
        self.status.setText(
            "Stopped: partial results." if self.report and self.report.cancelled else ""
        )
        self._update_buttons()

    def _shutdown(self) -> None:
        """Closed: stop and join the evaluation, the model listing and the thumbnail decodes."""
        self.runner.shutdown()
        self.lister.shutdown()
        self.report_view.shutdown()
