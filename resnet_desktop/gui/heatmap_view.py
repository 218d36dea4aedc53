""" "Why this label?": the detail panel's heatmap, in place of the preview while it is on.

A checkable button turns it on; the heatmap is then of the row's top-1 class, or of the
class last clicked in the probability bars. It is computed in a worker
(:class:`~resnet_desktop.app.explain.Explainer`), with the model that gave the row its
labels, and only when the row, the class or the model changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QImage, QMouseEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from resnet_desktop.app.explain import Explainer, ExplainRequest, ExplainResult
from resnet_desktop.gui.workers import JobRunner

if TYPE_CHECKING:
    from PIL import Image

    from resnet_desktop.core.catalog_view import ViewRow
    from resnet_desktop.gui.detail_panel import ProbabilityBars, ScaledImage

BUTTON_TEXT = "Why this label?"
PHOTO_TEXT = "Back to the Photo"
NOT_CLASSIFIED = "Classify the image first (F5) to see why it got its label."


class HeatmapView(QWidget):
    """The button and caption; the heatmap itself is shown in ``image``.

    Args:
        preview: the photo's widget, hidden while the heatmap shows in its place.
        image: an empty image widget, laid out where the preview is.
        bars: the top-k bars; a click on one asks for that class's heatmap.

    Signals:
        shown(object): the ExplainResult now on screen (for tests and scripting).
    """

    shown = Signal(object)

    def __init__(
        self,
        preview: QWidget,
        image: ScaledImage,
        bars: ProbabilityBars,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("heatmapView")
        self.preview, self.image, self.bars = preview, image, bars
        self.button = QPushButton(BUTTON_TEXT, self)
        self.button.setObjectName("heatmapButton")
        self.button.setCheckable(True)
        self.button.setToolTip(
            "Colour the parts of the image that made the model choose this class "
            "(Grad-CAM). Click a class in the bars above for its own heatmap."
        )
        self.caption = QLabel(self)
        self.caption.setWordWrap(True)
        self._build_layout()
        self.image.hide()
        self._explainer = Explainer()
        self._runner = JobRunner(self)
        self._row: ViewRow | None = None
        self._model: str | None = None  # the model whose result the row shows
        self._label: str | None = None  # the class clicked; None: the top-1
        self._wanted: ExplainRequest | None = None  # asked for, or on screen
        self.button.toggled.connect(self._toggled)
        self._enable_button()
        self._runner.item.connect(self._show_result)
        self._runner.failed.connect(self.caption.setText)
        bars.installEventFilter(self)

    def _build_layout(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.caption)

    # --- inputs -------------------------------------------------------------------------

    def show_row(self, row: ViewRow | None, model: str | None) -> None:
        """The detail panel shows ``row``, classified by ``model``: a new file resets the class."""
        if row is None or self._row is None or row.path != self._row.path:
            self._label = None
        self._row, self._model = row, model
        self._update()
        self._enable_button()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A click on one of the bars chooses its class (and turns the heatmap on)."""
        if watched is self.bars and event.type() == QEvent.Type.MouseButtonPress:
            assert isinstance(event, QMouseEvent)
            bars = self.bars.bars()
            index = int(event.position().y()) // self.bars.ROW_HEIGHT
            if 0 <= index < len(bars):
                self.show_class(bars[index][0])
                return True
        return super().eventFilter(watched, event)

    def show_class(self, label: str) -> None:
        """Show the heatmap of ``label`` for the current row."""
        self._label = label
        if self.button.isChecked():
            self._update()
        else:
            self.button.setChecked(True)

    def forget_model(self, *_changed: object) -> None:
        """The library changed: load the model afresh for the next heatmap.

        The heatmap on screen stays: it was made with the weights the row's labels were.
        """
        self._explainer.forget()

    def shutdown(self) -> None:
        """Wait for a heatmap being computed (closing the window)."""
        self._runner.shutdown()

    # --- state ----------------------------------------------------------------------------

    def _toggled(self, on: bool) -> None:
        self.button.setText(PHOTO_TEXT if on else BUTTON_TEXT)
        self.preview.setVisible(not on)
        self.image.setVisible(on)
        self.bars.setCursor(Qt.CursorShape.PointingHandCursor if on else Qt.CursorShape.ArrowCursor)
        if not on:
            self._runner.abandon()
            self._wanted = None
            self.caption.clear()
        self._update()
        self._enable_button()

    def _enable_button(self) -> None:
        """Usable on a classified row; while on, it still turns the photo back on."""
        self.button.setEnabled(self.button.isChecked() or self._request() is not None)

    def _update(self) -> None:
        if not self.button.isChecked():
            return
        request = self._request()
        if request is None:
            self._runner.abandon()
            self._wanted = None
            self.image.set_image(None, "No image selected" if self._row is None else "")
            self.caption.setText(NOT_CLASSIFIED if self._row is not None else "")
        elif request != self._wanted:
            self._wanted = request
            what = f"“{request.label}”" if request.label else "the top class"
            self.caption.setText(f"Computing the heatmap of {what}…")
            self._runner.start(self._explainer.job(request))

    def _request(self) -> ExplainRequest | None:
        row = self._row
        if row is None or row.prediction is None or not row.prediction.ok or self._model is None:
            return None
        return ExplainRequest(self._model, row.path, self._label)

    def _show_result(self, result: ExplainResult) -> None:
        explanation = result.explanation
        self.image.set_image(to_qimage(explanation.overlay), "Cannot show the heatmap")
        self.caption.setText(
            f"Heatmap of “{explanation.label}” ({explanation.probability:.1%}): red where "
            "the image raised this class's score. Click a class above for its own."
        )
        self.shown.emit(result)


def to_qimage(image: Image.Image) -> QImage:
    """An RGB Pillow image as a QImage that owns a copy of the pixels."""
    data = image.convert("RGB").tobytes()
    return QImage(
        data, image.width, image.height, 3 * image.width, QImage.Format.Format_RGB888
    ).copy()
