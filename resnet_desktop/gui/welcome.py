"""The welcome state above the results: shown while the selected model cannot classify.

On a first start the default model's ImageNet weights are not downloaded yet; offline,
classifying could only fail. The panel says so before the user tries, and offers each
way to get a model (:mod:`resnet_desktop.app.getting_started`) as a button. It follows
the model selector itself, so the window only places it and connects the buttons.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QWidget

from resnet_desktop.app.getting_started import Way, headline, needs_a_model, ways_out
from resnet_desktop.app.models import ModelChoice
from resnet_desktop.gui.model_selector import ModelSelector


class WelcomePanel(QFrame):
    """What the selected model still needs, and a button for each way to get it.

    Signals:
        downloadRequested(object): download this ModelSpec's ImageNet weights.
        importRequested(): import a weights file for the selected model's architecture.
        fineTuneRequested(): open the fine-tuning wizard.
    """

    downloadRequested = Signal(object)
    importRequested = Signal()
    fineTuneRequested = Signal()

    def __init__(self, selector: ModelSelector, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("welcomePanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.selector = selector
        self.title = QLabel(self, objectName="welcomeTitle")
        self.title.setWordWrap(True)
        self.grid = QGridLayout(self)
        self.grid.setColumnStretch(1, 1)
        self.grid.addWidget(self.title, 0, 0, 1, 2)
        self.buttons: dict[Way, QPushButton] = {}
        selector.currentIndexChanged.connect(self.refresh)
        selector.choicesChanged.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        """Show the ways out for the selected model, or hide when it can classify."""
        choice = self.selector.current_choice()
        self.setVisible(needs_a_model(choice))
        if choice is not None and needs_a_model(choice):
            self._show(choice)

    def _show(self, choice: ModelChoice) -> None:
        self.title.setText(f"<b>{headline(choice)}</b>")
        while self.grid.count() > 1:  # everything but the title
            item = self.grid.takeAt(1)
            if item.widget():
                item.widget().deleteLater()
        self.buttons = {}
        for row, way in enumerate(ways_out(choice), start=1):
            button = QPushButton(way.button, self, objectName=f"welcome_{way.way.name.lower()}")
            button.clicked.connect(lambda _checked=False, w=way.way: self._clicked(w))
            text = QLabel(way.text, self)
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.grid.addWidget(button, row, 0, Qt.AlignmentFlag.AlignTop)
            self.grid.addWidget(text, row, 1)
            self.buttons[way.way] = button

    def _clicked(self, way: Way) -> None:
        choice = self.selector.current_choice()
        if way is Way.DOWNLOAD and choice is not None:
            self.downloadRequested.emit(choice.spec)
        elif way is Way.IMPORT:
            self.importRequested.emit()
        elif way is Way.FINE_TUNE:
            self.fineTuneRequested.emit()
