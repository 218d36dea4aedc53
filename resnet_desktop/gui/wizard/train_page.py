"""The wizard's fourth page: training with live curves, progress, a log and Stop."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeAlias

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from resnet_desktop.app.finetune import FineTuneState, ProgressEstimate, TrainingProgress
from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.weights import describe_base_weights
from resnet_desktop.core.dataset import DatasetSplit
from resnet_desktop.core.events import Status, unknown_event
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.ood import DEFAULT_ACCEPT
from resnet_desktop.core.train_config import (
    BatchProgress,
    EpochReport,
    FitEvent,
    FitResult,
    Phase,
    StageProgress,
    TrainConfig,
)
from resnet_desktop.gui.charts import TRAIN_COLOR, VAL_COLOR, LineChart
from resnet_desktop.gui.evaluation_view import percent
from resnet_desktop.gui.widgets import InlineError
from resnet_desktop.gui.workers import Job, JobRunner

# What the training job yields: a status line while the base model loads, then fit()'s.
TrainingEvent: TypeAlias = Status | FitEvent

PROGRESS_STEPS = 1000


def training_job(model: str, weights: str | None, split: DatasetSplit, config: TrainConfig) -> Job:
    """Load the base model, then fine-tune it; yields a Status, then fit()'s events."""

    def job(should_stop: Callable[[], bool]) -> Iterator[TrainingEvent]:
        yield Status("Loading the base model…")
        from resnet_desktop.core.trainer import fit

        base = load_model(model, weights, should_stop=should_stop)
        described = describe_base_weights(base, weights)
        yield from fit(base, split, config, should_stop, base_weights=described)

    return job


def _speed_and_time_left(estimate: ProgressEstimate) -> str:
    """The run's average speed (one phase's swings from 100 to 30,000 images/s) and time left."""
    if estimate.eta_seconds is None or estimate.images_per_second is None:
        return "estimating time left…"
    return (
        f"{estimate.images_per_second:.0f} images/s · "
        f"about {format_duration(estimate.eta_seconds)} left"
    )


def epoch_line(report: EpochReport) -> str:
    best = "  ★ best" if report.is_best else ""
    return (
        f"Epoch {report.epoch}/{report.epochs}: "
        f"train loss {report.train_loss:.4f}, accuracy {percent(report.train_accuracy)} · "
        f"validation loss {report.val_loss:.4f}, accuracy {percent(report.val_accuracy)} · "
        f"lr {report.lr:.3g} · {report.seconds:.1f} s{best}"
    )


def result_text(result: FitResult) -> str:
    """One or two sentences on how the run ended and what will be saved."""
    if not result.savable:
        ending = result.error or "training stopped before an epoch finished"
        return f"Nothing to save: {ending}. Go Back to change the settings, or Train again."
    best = result.history[result.best_epoch - 1] if result.best_epoch else None
    kept = (
        f"the best epoch ({best.epoch}, validation accuracy {percent(best.val_accuracy)}) is kept"
        if best
        else "the trained weights are kept"
    )
    if result.error:
        text = f"Training ended early: {result.error}. {kept.capitalize()}."
    elif result.cancelled:
        text = f"Stopped after {len(result.history)} epoch(s); {kept}."
    elif result.stopped_early:
        text = f"Stopped early at epoch {len(result.history)}: no more progress; {kept}."
    else:
        text = f"Done: {kept}."
    if result.skipped:
        text += f" {len(result.skipped)} file(s) could not be decoded and were skipped."
    if result.ood is not None:
        text += (
            f" Images scoring below {result.ood.threshold:.3g} will read “unknown” "
            f"({DEFAULT_ACCEPT:.0%} of the validation images score higher; Manage Models "
            "changes it)."
        )
    return text


class TrainPage(QWizardPage):
    """Runs fit() with live curves, progress, a log and Stop; Next once there is a model."""

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Training")
        self.setSubTitle("Stop keeps the best epoch so far. Back stops and discards the run.")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self._progress: TrainingProgress | None = None
        self._build()

    def _build(self) -> None:
        self.loss_chart = LineChart("Loss")
        self.accuracy_chart = LineChart("Accuracy", y_format=lambda v: f"{v:.0%}", y_range=(0, 1))
        for chart in (self.loss_chart, self.accuracy_chart):
            chart.add_series("train", "training", TRAIN_COLOR)
            chart.add_series("val", "validation", VAL_COLOR)
        charts = QSplitter(Qt.Orientation.Horizontal)
        charts.addWidget(self.loss_chart)
        charts.addWidget(self.accuracy_chart)
        self.progress = QProgressBar(maximum=PROGRESS_STEPS)
        self.status = QLabel()
        self.result_label = QLabel(wordWrap=True)
        self.result_label.setObjectName("trainResult")
        self.error = InlineError()
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(10_000)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop)
        self.restart_button = QPushButton("Train again")
        self.restart_button.clicked.connect(self.start)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.stop_button)
        buttons.addWidget(self.restart_button)
        vertical = QSplitter(Qt.Orientation.Vertical)
        vertical.addWidget(charts)
        vertical.addWidget(self.log)
        vertical.setSizes([320, 140])
        layout = QVBoxLayout(self)
        layout.addWidget(vertical, 1)
        layout.addLayout(buttons)
        for widget in (self.status, self.result_label, self.error):
            layout.addWidget(widget)

    def first_field(self) -> QWidget | None:
        """No field to fill in here: the wizard's own choice of focus is fine."""
        return None

    def initializePage(self) -> None:
        self.start()

    def start(self) -> None:
        """(Re)start training with the state's settings."""
        config = self.state.config
        self._reset(config.epochs if config and config.epochs else 1)
        try:
            split = self.state.split()
        except ValueError as error:  # DatasetError: a bad split
            self._on_failed(str(error))
            return
        if config is None or self.state.model_name is None:
            self._on_failed("choose a model and the training options first")
            return
        self._progress = TrainingProgress(config.epochs or 1, len(split.train), len(split.val))
        self.runner.start(training_job(self.state.model_name, self.state.weights, split, config))
        self._set_running(True)

    def _reset(self, epochs: int) -> None:
        self.state.result = None
        for chart in (self.loss_chart, self.accuracy_chart):
            chart.clear()
            chart.set_x_max(epochs)
        self.log.clear()
        self.progress.setValue(0)
        for label in (self.status, self.result_label, self.error):
            label.clear()

    def stop(self) -> None:
        """Finish within a batch; the best epoch so far is kept."""
        self.runner.request_stop()
        self.stop_button.setEnabled(False)
        self.status.setText("Stopping…")

    def _set_running(self, running: bool) -> None:
        self.stop_button.setEnabled(running)
        self.restart_button.setEnabled(not running)
        self.completeChanged.emit()

    def _on_item(self, event: TrainingEvent) -> None:
        match event:
            case Status(message):
                self.status.setText(message)
                self.progress.setRange(0, 0)
            case StageProgress():
                self._on_stage(event)
            case BatchProgress():
                self._on_batch(event)
            case EpochReport():
                self._on_epoch(event)
            case FitResult():
                self._on_result(event)
            case _:
                raise unknown_event(event)

    def _on_stage(self, item: StageProgress) -> None:
        self.progress.setRange(0, max(0, item.total))
        self.progress.setValue(item.done)
        counts = f": {item.done} / {item.total}" if item.total else "…"
        self.status.setText(f"{item.stage.capitalize()}{counts}")

    def _on_batch(self, item: BatchProgress) -> None:
        if self._progress is None:
            return
        estimate = self._progress.update(item)
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(round(estimate.fraction * PROGRESS_STEPS))
        phase = "training" if item.phase == Phase.TRAIN else "validating"
        self.status.setText(
            f"Epoch {item.epoch}/{item.epochs} · {phase} {item.done}/{item.total} · "
            f"loss {item.loss:.4f} · {_speed_and_time_left(estimate)}"
        )

    def _on_epoch(self, report: EpochReport) -> None:
        self.loss_chart.append("train", report.epoch, report.train_loss)
        self.loss_chart.append("val", report.epoch, report.val_loss)
        self.accuracy_chart.append("train", report.epoch, report.train_accuracy)
        self.accuracy_chart.append("val", report.epoch, report.val_accuracy)
        self.log.appendPlainText(epoch_line(report))

    def _on_result(self, result: FitResult) -> None:
        self.state.result = result
        text = result_text(result)
        target = self.error if result.error or not result.savable else self.result_label
        target.setText(text)
        self.log.appendPlainText(text)

    def _on_failed(self, message: str) -> None:
        self.error.setText(f"Training failed: {message}")
        self.log.appendPlainText(f"Error: {message}")

    def _on_finished(self, _completed: bool) -> None:
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(PROGRESS_STEPS if self.state.result else 0)
        self.status.clear()
        self._set_running(False)

    def isComplete(self) -> bool:
        result = self.state.result
        return not self.runner.running and result is not None and result.savable

    def cleanupPage(self) -> None:
        """Back: stop the run and forget it (the settings are about to change).

        Abandoned, not joined: the run ends at its next batch on its own thread while the
        window stays responsive (a full-training batch can take seconds on a CPU), and
        nothing more is reported from it. Closing the wizard joins it.
        """
        self.runner.abandon()
        self.state.result = None
        self._set_running(False)

    def shutdown(self) -> None:
        self.runner.shutdown()
