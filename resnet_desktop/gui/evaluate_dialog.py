"""The Evaluate dialog: how well a model does on a labelled folder (one sub-folder per class)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeAlias

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
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
from resnet_desktop.core.evaluate import EvalEvent, EvalProgress, EvalReport, evaluate
from resnet_desktop.core.events import Status, unknown_event
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.evaluation_view import EvalReportView
from resnet_desktop.gui.widgets import InlineError, folder_row
from resnet_desktop.gui.workers import Job, JobRunner

# What the evaluation job yields: a status line while the model loads, then evaluate()'s.
EvaluationEvent: TypeAlias = Status | EvalEvent


def evaluation_job(model_name: str, folder: Path, runtime: RuntimeOptions) -> Job:
    """Load the model, then classify the folder; yields a Status, then evaluate()'s events."""

    def job(should_stop: Callable[[], bool]) -> Iterator[EvaluationEvent]:
        yield Status("Loading the model…")
        model = load_model(model_name, should_stop=should_stop)
        yield from evaluate(model, folder, runtime, should_stop=should_stop)

    return job


class EvaluateDialog(QDialog):
    """Runs core.evaluate on a folder in the background and shows the EvalReport.

    Stop keeps what was classified so far (a partial report); closing stops and joins.
    ``runtime`` is the main window's device, precision, engine and batch size.
    """

    def __init__(
        self,
        model_name: str | None,
        parent: QWidget | None = None,
        runtime: RuntimeOptions = RuntimeOptions(),
    ) -> None:
        super().__init__(parent)
        self.model_name = model_name or ""
        self.runtime = runtime
        self.report: EvalReport | None = None
        self.setWindowTitle(f"Evaluate {self.model_name}" if model_name else "Evaluate")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self.finished.connect(self._shutdown)
        self._build()
        self.resize(820, 640)

    def _build(self) -> None:
        self.folder_edit = QLineEdit(placeholderText="A folder with one sub-folder per class")
        self.folder_edit.textChanged.connect(self._update_buttons)
        self.folder_edit.returnPressed.connect(self.start)
        form = QFormLayout()
        form.addRow("Labelled images:", folder_row(self.folder_edit, "Labelled folder", self))
        self.start_button = QPushButton("Evaluate")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.stop_button = QPushButton("Stop", enabled=False)
        self.stop_button.clicked.connect(self.stop)
        self.progress = QProgressBar()
        self.status = QLabel(f"Class folder names must be among {self.model_name}'s classes.")
        self.error = InlineError()
        self.report_view = EvalReportView()
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
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
        layout.addWidget(close)
        self._update_buttons()

    def start(self) -> None:
        text = self.folder_edit.text().strip()
        if not self.model_name:
            self.error.setText("Choose a model in the main window first.")
            return
        if not text or not Path(text).is_dir():
            self.error.setText(f"{text or 'No folder given'}: not a folder.")
            return
        folder = Path(text)
        self.error.clear()
        self.report = None
        self.report_view.set_report(None)
        self.progress.setValue(0)
        self.runner.start(evaluation_job(self.model_name, folder, self.runtime))
        self._update_buttons()

    def stop(self) -> None:
        """Stop after the current batch; the images done so far are still reported."""
        self.runner.request_stop()
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping…")

    def _update_buttons(self) -> None:
        running = self.runner.running
        self.start_button.setEnabled(not running and bool(self.folder_edit.text().strip()))
        self.stop_button.setEnabled(running)
        self.folder_edit.setEnabled(not running)

    def _on_item(self, event: EvaluationEvent) -> None:
        match event:
            case Status(message):
                self.status.setText(message)
                self.progress.setRange(0, 0)
            case EvalProgress():
                self._on_progress(event)
            case EvalReport():
                self.report = event
                self.report_view.set_report(event)
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
        """Closed: stop and join the evaluation and the thumbnail decodes."""
        self.runner.shutdown()
        self.report_view.shutdown()
