"""The panel beside the table: a larger preview of the selected image and its top-k as bars."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QImage, QPainter, QPalette, QPixmap, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from resnet_desktop.core.catalog_view import ViewRow
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.gui.file_facts_view import FileFactsLabel
from resnet_desktop.gui.heatmap_view import HeatmapView

PREVIEW_SIZE = 480  # decoded size of the preview; the label scales it down to fit
NO_SELECTION = "No image selected"


class ProbabilityBars(QWidget):
    """A horizontal bar per class: label, a bar as long as its probability, the percentage."""

    ROW_HEIGHT = 22
    LABEL_WIDTH = 130
    PERCENT_WIDTH = 52
    SPACING = 6

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("probabilityBars")
        self._bars: list[tuple[str, float]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_probabilities(self, labels: Sequence[str], probs: Sequence[float]) -> None:
        self._bars = list(zip(labels, probs, strict=True))
        self.updateGeometry()
        self.update()

    def bars(self) -> list[tuple[str, float]]:
        return list(self._bars)

    def sizeHint(self) -> QSize:
        return QSize(320, max(1, len(self._bars)) * self.ROW_HEIGHT)

    def minimumSizeHint(self) -> QSize:
        return QSize(self.LABEL_WIDTH + self.PERCENT_WIDTH + 40, self.sizeHint().height())

    def paintEvent(self, event: Any) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for number, (label, prob) in enumerate(self._bars):
            self._paint_row(painter, number * self.ROW_HEIGHT, label, prob)
        painter.end()

    def _paint_row(self, painter: QPainter, top: int, label: str, prob: float) -> None:
        palette = self.palette()
        height = self.ROW_HEIGHT - 4
        bar_left = self.LABEL_WIDTH + self.SPACING
        bar_space = max(0, self.width() - bar_left - self.PERCENT_WIDTH - self.SPACING)
        text_flags = Qt.AlignmentFlag.AlignVCenter
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        elided = self.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight, self.LABEL_WIDTH)
        painter.drawText(0, top, self.LABEL_WIDTH, height, text_flags, elided)
        track = QRectF(bar_left, top + 3, bar_space, height - 6)
        painter.fillRect(track, palette.color(QPalette.ColorRole.AlternateBase))
        filled = QRectF(track.left(), track.top(), track.width() * min(max(prob, 0.0), 1.0), 0)
        filled.setHeight(track.height())
        painter.fillRect(filled, palette.color(QPalette.ColorRole.Highlight))
        right = Qt.AlignmentFlag.AlignRight | text_flags
        percent_left = bar_left + bar_space + self.SPACING
        painter.drawText(percent_left, top, self.PERCENT_WIDTH, height, right, f"{prob:.1%}")


class ScaledImage(QLabel):
    """A label that shows a pixmap scaled to fit, rescaled when the label is resized."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._pixmap = QPixmap()
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 120)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)

    def set_image(self, image: QImage | None, placeholder: str = "") -> None:
        """Show ``image``, or ``placeholder`` text when there is none."""
        self._pixmap = QPixmap() if image is None or image.isNull() else QPixmap.fromImage(image)
        if self._pixmap.isNull():
            self.setText(placeholder)  # also clears a previous pixmap
        else:
            self._rescale()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            return
        mode = Qt.TransformationMode.SmoothTransformation
        fitted = self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, mode)
        self.setPixmap(fitted)


class DetailPanel(QWidget):
    """Shows one row: preview (decoded by whoever answers previewNeeded), name, result.

    Signals:
        previewNeeded(object): the Path whose preview should be decoded off the GUI thread;
            answer with :meth:`set_preview`.
    """

    previewNeeded = Signal(object)
    rowShown = Signal(object, object)  # the row (or None) now shown, and its model's name

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("detailPanel")
        self.path: Path | None = None
        self.preview = ScaledImage(self)
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.facts = FileFactsLabel(self)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.bars = ProbabilityBars(self)
        layout = QVBoxLayout(self)
        shown = ((self.preview, 1), (self.title, 0), (self.facts, 0), (self.status, 0))
        for widget, stretch in shown:
            layout.addWidget(widget, stretch)
        layout.addWidget(self.bars)
        self.preview.set_image(None, NO_SELECTION)
        self.heatmap = HeatmapView(self.preview, ScaledImage(self), self.bars, self)
        layout.insertWidget(1, self.heatmap.image, 1)  # in the preview's place, shown instead
        layout.addWidget(self.heatmap)
        self.rowShown.connect(self.heatmap.show_row)
        self.show_row(None)

    def show_row(
        self, row: ViewRow | None, results_known: bool = True, model: str | None = None
    ) -> None:
        """Show ``row`` (None: nothing selected); asks for the preview when the file changes.

        Without ``results_known`` (the selected model's results are still on their way)
        the row's result is not shown, whoever it belongs to. ``model`` made the result.
        """
        new_path = None if row is None else row.path
        if new_path != self.path:
            self.path = new_path
            self.preview.set_image(None, "Loading preview…" if new_path else NO_SELECTION)
            if new_path is not None:
                self.previewNeeded.emit(new_path)
        self.facts.show_path(new_path)
        self.title.setText("" if row is None else f"<b>{escape(row.path.name)}</b>")
        self.title.setToolTip("" if row is None else str(row.path))
        prediction = row.prediction if row is not None and results_known else None
        self.status.setText(_status_text(row, prediction, results_known))
        ok = prediction is not None and prediction.ok
        labels, probs = (prediction.labels, prediction.probs) if ok else ((), ())
        self.bars.set_probabilities(labels, probs)
        self.rowShown.emit(row, model if results_known else None)

    def set_preview(self, path: Path, image: QImage) -> None:
        """A decoded preview arrived; ignored unless it is still the selected file's."""
        if path == self.path:
            self.preview.set_image(image, "Cannot show this image")


def _status_text(row: ViewRow | None, prediction: Prediction | None, known: bool) -> str:
    if row is None:
        return ""
    if not known:
        return "Loading results…"
    if prediction is None:
        return "Not classified yet"
    return "" if prediction.ok else f"Could not classify: {prediction.error}"
