"""The model selector: every zoo architecture and library model, with the state of its weights.

Finding that state reads the disk (the torch hub cache, the library's JSON files), so
:func:`list_model_choices` runs in a worker; until its answer arrives the selector lists
the zoo's architectures by title, which needs nothing but the model table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QSizePolicy, QWidget

from resnet_desktop.core.zoo import SPECS, ModelSpec


class WeightsState(enum.Enum):
    UNCHECKED = "unchecked"  # ImageNet weights, not looked for yet
    CACHED = "cached"  # ImageNet weights on disk
    DOWNLOAD = "download"  # ImageNet weights to download
    NEEDS_FILE = "needs file"  # no built-in weights: the user must bring a file
    LIBRARY = "library"  # a model of the user's library


@dataclass(frozen=True)
class ModelChoice:
    name: str  # what load_model takes
    label: str  # what the selector shows
    state: WeightsState
    architecture: str

    @property
    def spec(self) -> ModelSpec:
        return SPECS[self.architecture]

    @property
    def ready(self) -> bool:
        """Whether classifying can start without fetching or importing weights first."""
        return self.state in (WeightsState.CACHED, WeightsState.LIBRARY)


_SUFFIXES = {
    WeightsState.UNCHECKED: "ImageNet",
    WeightsState.CACHED: "ImageNet (cached)",
    WeightsState.DOWNLOAD: "ImageNet (download needed)",
    WeightsState.NEEDS_FILE: "needs weights file",
}


def zoo_choice(spec: ModelSpec, state: WeightsState) -> ModelChoice:
    return ModelChoice(spec.name, f"{spec.title} — {_SUFFIXES[state]}", state, spec.name)


def unchecked_choices() -> list[ModelChoice]:
    """The zoo without looking at the disk."""
    return [
        zoo_choice(
            spec, WeightsState.UNCHECKED if spec.has_builtin_weights else WeightsState.NEEDS_FILE
        )
        for spec in SPECS.values()
    ]


def list_model_choices() -> list[ModelChoice]:
    """Every zoo architecture with its weights' state, then the library's models (reads disk)."""
    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.weights import imagenet_weights_cached

    choices = []
    for spec in SPECS.values():
        if not spec.has_builtin_weights:
            state = WeightsState.NEEDS_FILE
        else:
            state = WeightsState.CACHED if imagenet_weights_cached(spec) else WeightsState.DOWNLOAD
        choices.append(zoo_choice(spec, state))
    for model in ModelLibrary().list():
        if model.architecture in SPECS:
            title = SPECS[model.architecture].title
            label = f"{model.name} — library ({title}, {len(model.class_names)} classes)"
            choices.append(ModelChoice(model.name, label, WeightsState.LIBRARY, model.architecture))
    return choices


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
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
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
