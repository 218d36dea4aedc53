"""The gallery's pane: its bar (review, group by label, thumbnail size), the keys a
reviewer has, a type-ahead box for labels, and the grid itself."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QStringListModel, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QCompleter,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.app.review import SHORTCUT_KEYS
from resnet_desktop.gui.results_model import ResultsModel
from resnet_desktop.gui.review_gallery import DEFAULT_TILE, MAX_TILE, MIN_TILE, GalleryView

TILE_STEP = 16
REVIEW_HINT = "Enter accept · Backspace undo · or type a label"


class LabelBox(QLineEdit):
    """Type-ahead for a label: completes the model's class names; Esc gives up.

    Signals:
        confirmed(str): Enter on the text, or a completion picked from the list.
        cancelled(): Esc.
    """

    confirmed = Signal(str)
    cancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("labelBox")
        self.setPlaceholderText("Label…")
        self.names = QStringListModel(self)
        completer = QCompleter(self.names, self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.setCompleter(completer)
        completer.activated.connect(self.confirmed)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        popup = self.completer().popup()
        if event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if popup.isVisible() and popup.currentIndex().isValid():
                event.ignore()  # Enter on a completion chosen in the list: the completer's
            else:
                self.confirmed.emit(self.text())
        else:
            super().keyPressEvent(event)


class GalleryPane(QWidget):
    """The gallery and its controls.

    Signals:
        reviewToggled(bool), groupToggled(bool): the bar's check boxes.
        tileChanged(int): the thumbnail size slider moved.
        labelTyped(str): a label typed into the box and confirmed with Enter.
    """

    reviewToggled = Signal(bool)
    groupToggled = Signal(bool)
    tileChanged = Signal(int)
    labelTyped = Signal(str)

    def __init__(self, model: ResultsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("galleryPane")
        self.view = GalleryView(model, self)
        self.review_box = QCheckBox("&Review", self, objectName="reviewBox")
        self.review_box.setToolTip(
            "Least sure first; digits, Enter or a typed name label the current image"
        )
        self.group_box = QCheckBox("&Group by label", self, objectName="groupBox")
        self.size_slider = QSlider(Qt.Orientation.Horizontal, self, objectName="tileSlider")
        self.size_slider.setRange(MIN_TILE, MAX_TILE)
        self.size_slider.setSingleStep(TILE_STEP)
        self.size_slider.setPageStep(TILE_STEP * 4)
        self.size_slider.setValue(DEFAULT_TILE)
        self.size_slider.setMaximumWidth(160)
        self.size_slider.setToolTip("Thumbnail size")
        self.keys_label = QLabel(self, objectName="reviewKeys")
        self.keys_label.setWordWrap(True)
        self.keys_label.setTextFormat(Qt.TextFormat.PlainText)
        self.label_box = LabelBox(self)
        self.label_box.hide()
        self._lay_out()
        self.review_box.toggled.connect(self._review_toggled)
        self.group_box.toggled.connect(self.groupToggled)
        self.size_slider.valueChanged.connect(self._tile_changed)
        self.view.typed.connect(self.start_typing)
        self.label_box.confirmed.connect(self._typed)
        self.label_box.cancelled.connect(self.stop_typing)

    def _lay_out(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.review_box)
        bar.addWidget(self.group_box)
        bar.addStretch(1)
        size = QLabel("Size", self)
        size.setBuddy(self.size_slider)
        bar.addWidget(size)
        bar.addWidget(self.size_slider)
        keys = QHBoxLayout()
        keys.addWidget(self.keys_label, 1)
        keys.addWidget(self.label_box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addLayout(keys)
        layout.addWidget(self.view, 1)

    def _review_toggled(self, on: bool) -> None:
        self.view.reviewing = on
        self.keys_label.setVisible(on)
        if not on:
            self.stop_typing()
        self.reviewToggled.emit(on)

    def _tile_changed(self, value: int) -> None:
        self.view.set_tile(value)
        self.tileChanged.emit(value)

    def show_keys(self, labels: Sequence[str]) -> None:
        """Say which label each digit gives now, and the other keys."""
        pairs = [f"{key} {label}" for key, label in zip(SHORTCUT_KEYS, labels, strict=False)]
        self.keys_label.setText("   ".join([*pairs, REVIEW_HINT]) if pairs else REVIEW_HINT)

    def set_class_names(self, names: Sequence[str]) -> None:
        self.label_box.names.setStringList(list(names))

    def start_typing(self, text: str) -> None:
        """A letter typed in the grid opens the label box with it."""
        self.label_box.show()
        self.label_box.setText(text)
        self.label_box.setFocus()
        self.label_box.completer().setCompletionPrefix(text)
        self.label_box.completer().complete()

    def stop_typing(self) -> None:
        self.label_box.clear()
        self.label_box.hide()
        self.view.setFocus()

    def _typed(self, text: str) -> None:
        if not self.label_box.isVisible():  # a completion's activation after Enter
            return
        self.stop_typing()
        if text.strip():
            self.labelTyped.emit(text)
