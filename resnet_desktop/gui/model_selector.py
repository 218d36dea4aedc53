"""The model selector: every zoo architecture and library model, with the state of its weights.

The list comes from :mod:`resnet_desktop.app.models`; until the window's worker has read
the states from disk, the selector lists the zoo's architectures by title.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from resnet_desktop.app.models import ModelChoice, unchecked_choices

MIN_CONTENTS_LENGTH = 30  # characters of the current entry shown
POPUP_MARGIN = 24  # room for the list's scroll bar


class ModelSelector(QComboBox):
    """A combo box of ModelChoices; the item data is the model name.

    Signals:
        choicesChanged(): the list was replaced (after a refresh).
    """

    choicesChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelSelector")
        self.setToolTip("The model that classifies the images")
        # As wide as about 30 characters, not the longest entry: Classify stays in the
        # toolbar of a small window. The list opens as wide as its entries.
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CONTENTS_LENGTH)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self._choices: list[ModelChoice] = []
        self._wanted: str | None = None
        self.activated.connect(self._forget_wanted)
        self.set_choices(unchecked_choices())

    def _forget_wanted(self) -> None:
        """The user picked a model: a selection still pending from before no longer applies."""
        self._wanted = None

    def set_choices(self, choices: list[ModelChoice]) -> None:
        """Replace the list, keeping the selection (or selecting the one asked for)."""
        wanted = self._wanted or self.current_model()
        self.blockSignals(True)
        self.clear()
        self._choices = list(choices)
        for choice in self._choices:
            self.addItem(choice.label, choice.name)
        self.blockSignals(False)
        self.view().setMinimumWidth(self.view().sizeHintForColumn(0) + POPUP_MARGIN)
        if not (wanted and self.select_model(wanted)):
            self.setCurrentIndex(0 if self._choices else -1)
        self.choicesChanged.emit()

    def select_model(self, name: str) -> bool:
        """Select ``name``; if it is not listed yet, select it when the next list comes."""
        index = self.findData(name)
        if index < 0:
            self._wanted = name
            return False
        self._wanted = None
        self.setCurrentIndex(index)
        return True

    def current_choice(self) -> ModelChoice | None:
        index = self.currentIndex()
        return self._choices[index] if 0 <= index < len(self._choices) else None

    def current_model(self) -> str | None:
        choice = self.current_choice()
        return None if choice is None else choice.name

    def wanted_model(self) -> str | None:
        """The model to remember: one still waiting to be listed, else the current one."""
        return self._wanted or self.current_model()

    def choice(self, name: str) -> ModelChoice | None:
        return next((choice for choice in self._choices if choice.name == name), None)
