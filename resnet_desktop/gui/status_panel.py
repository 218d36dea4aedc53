"""The status bar's permanent part: model, device, catalog, counts and the progress bar."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.core.predictor import BatchResult
from resnet_desktop.core.runtime import ResolvedRuntime
from resnet_desktop.gui.run_options import DEVICE_TITLES

LABEL_MARGIN = 8


class StatusPanel:
    """Widgets added to ``bar``; the progress bar's text carries rate and ETA during a run."""

    def __init__(self, bar: QStatusBar) -> None:
        self.model_label = QLabel(bar, objectName="modelLabel")
        self.device_label = QLabel(bar, objectName="deviceLabel")
        self.catalog_label = QLabel(bar, objectName="catalogLabel")
        self.counts_label = QLabel(bar, objectName="countsLabel")
        self.progress = QProgressBar(bar, objectName="progressBar")
        self.progress.setMinimumWidth(340)
        self.progress.setTextVisible(True)
        labels = (self.model_label, self.device_label, self.catalog_label, self.counts_label)
        for label in labels:
            label.setContentsMargins(LABEL_MARGIN, 0, LABEL_MARGIN, 0)
            bar.addPermanentWidget(label)
        bar.addPermanentWidget(self.progress)
        self.show_counts(0, 0, 0)
        self.idle("Ready")

    def show_model(self, name: str | None) -> None:
        self.model_label.setText(f"Model: {name}" if name else "No model")

    def show_device(self, device: str, best: str | None) -> None:
        """``device`` as chosen; for Auto, the device it means once torch has told us."""
        title = DEVICE_TITLES.get(device, device)
        resolved = f" ({DEVICE_TITLES.get(best, best)})" if device == "auto" and best else ""
        self.device_label.setText(f"Device: {title}{resolved}")

    def show_run_device(self, runtime: ResolvedRuntime) -> None:
        self.device_label.setText(f"Device: {runtime.describe()}")

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

    def show_counts(self, total: int, done: int, failed: int) -> None:
        self.counts_label.setText(f"{total} images · {done} done · {failed} failed")

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
