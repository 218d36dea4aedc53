"""The status bar's permanent part: model, device, catalog, counts and the progress bar.

A temporary message is drawn left of the permanent fields and cut off where they begin,
and a field squeezed below its width is cut mid-word. So the fields that matter least
(the catalog, the model the toolbar shows too, the device) step aside while the bar is
too narrow for them and the message, and the whole message is the bar's tooltip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QWidget

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.core.predictor import BatchResult
from resnet_desktop.core.runtime import ResolvedRuntime

LABEL_MARGIN = 8
MESSAGE_PADDING = 24  # the bar's own margins around a temporary message
FIELD_SPACING = 10  # the bar's layout spacing and frame around each permanent field
SIZE_GRIP = 24


class StatusPanel:
    """Widgets added to ``bar``; the progress bar's text carries rate and ETA during a run."""

    def __init__(self, bar: QStatusBar) -> None:
        self.bar = bar
        self.model_label = QLabel(bar, objectName="modelLabel")
        self.device_label = QLabel(bar, objectName="deviceLabel")
        self.catalog_label = QLabel(bar, objectName="catalogLabel")
        self.counts_label = QLabel(bar, objectName="countsLabel")
        self.progress = QProgressBar(bar, objectName="progressBar")
        self.progress.setMinimumWidth(160)
        self.progress.setMaximumWidth(340)
        self.progress.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.progress.setTextVisible(True)
        self.device_label.setToolTip("What Classify runs as; change it in Edit → Preferences…")
        labels = (self.model_label, self.device_label, self.catalog_label, self.counts_label)
        for label in labels:
            label.setContentsMargins(LABEL_MARGIN, 0, LABEL_MARGIN, 0)
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.progress)
        self.optional = (self.catalog_label, self.model_label, self.device_label)
        bar.messageChanged.connect(self.fit)
        self._refit = _OnResize(bar, self.fit)
        self.show_counts(0, 0, 0)
        self.idle("Ready")

    def fit(self) -> None:
        """Hide the fields shown elsewhere too (catalog, model, device, in that order)
        while the bar is too narrow for them and the temporary message, if any."""
        message = self.bar.currentMessage()
        self.bar.setToolTip(message)
        shown = (self.counts_label, *self.optional)
        needed = self.progress.minimumWidth() + SIZE_GRIP + FIELD_SPACING
        needed += sum(label.sizeHint().width() + FIELD_SPACING for label in shown)
        if message:
            needed += self.bar.fontMetrics().horizontalAdvance(message) + MESSAGE_PADDING
        for label in self.optional:
            too_wide = needed > self.bar.width()
            label.setVisible(not too_wide)
            if too_wide:
                needed -= label.sizeHint().width() + FIELD_SPACING

    def show_model(self, name: str | None) -> None:
        self.model_label.setText(f"Model: {name}" if name else "No model")
        self.fit()

    def show_device(self, runs_as: str) -> None:
        """What the current choices will run as (``cpu (bf16, PyTorch, batch 256)``)."""
        self.device_label.setText(f"Device: {runs_as}")
        self.fit()

    def show_run_device(self, runtime: ResolvedRuntime) -> None:
        """What the run in progress really uses (after any fallback)."""
        self.device_label.setText(f"Device: {runtime.describe()}")
        self.fit()

    def show_catalog(self, path: Path, temporary: bool) -> None:
        """The catalog results are recorded in; a temporary one is said to be one."""
        if temporary:
            self.catalog_label.setText("Catalog: temporary")
            self.catalog_label.setToolTip(
                f"Results are kept in {path} until the window closes. Choose a catalog "
                "to keep them: File → Open Catalog… or New Catalog…"
            )
        else:
            self.catalog_label.setText(f"Catalog: {path.name}")
            self.catalog_label.setToolTip(f"Results are recorded in {path}")
        self.fit()

    def show_counts(self, total: int, done: int, failed: int) -> None:
        self.counts_label.setText(f"{total} images · {done} done · {failed} failed")
        self.fit()

    def busy(self, text: str) -> None:
        """An indefinite bar: work whose size is not known yet."""
        self.progress.setRange(0, 0)
        self.progress.setFormat(text)

    def start(self, total: int, text: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress.setFormat(text)

    def show_batch(self, batch: BatchResult) -> None:
        """Progress of a run from its latest BatchResult: count, images/s and ETA."""
        self.progress.setValue(batch.done)
        self.progress.setFormat(
            f"%v / %m · {batch.images_per_second:.0f} img/s · "
            f"ETA {format_duration(batch.eta_seconds)}"
        )

    def stopping(self) -> None:
        """Stop was asked: say so on the bar until the work has ended (finish or idle)."""
        self.progress.setFormat("Stopping…")

    def reset(self) -> None:
        """Nothing listed any more: no count or run result of before stays on the bar."""
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready")

    def finish(self, completed: bool) -> None:
        self.progress.setRange(0, max(1, self.progress.maximum()))
        if completed:
            self.progress.setValue(self.progress.maximum())
        self.progress.setFormat("Done" if completed else "Stopped")

    def idle(self, text: str) -> None:
        """Leave a busy state (a scan ended) without hiding a run's final text."""
        if self.progress.maximum() == 0:
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(text)


class _OnResize(QObject):
    """Calls ``callback`` after each resize of ``watched``."""

    def __init__(self, watched: QWidget, callback: Callable[[], object]) -> None:
        super().__init__(watched)
        self.callback = callback
        watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self.callback()
        return False
