"""Which models can classify, and the state of their weights: one list for both front ends.

The window's selector and ``resnet-desktop models list --all`` show the same states.
Finding them reads the disk (the torch hub cache, the library's JSON files), so the
window calls :func:`list_model_choices` in a worker and shows :func:`unchecked_choices`
until it answers.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.weights import imagenet_weights_cached
from resnet_desktop.core.zoo import SPECS, ModelSpec, Preprocess


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
    # A library model's own preprocessing, read with its entry (in the lister's worker).
    own_preprocess: Preprocess | None = None

    @property
    def spec(self) -> ModelSpec:
        return SPECS[self.architecture]

    @property
    def preprocess(self) -> Preprocess:
        """How the model's input is prepared: the library model's own, or the architecture's."""
        return self.own_preprocess or self.spec.preprocess

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


def zoo_choices() -> list[ModelChoice]:
    """Every zoo architecture with the state of its weights (reads the torch hub cache)."""
    choices = []
    for spec in SPECS.values():
        if not spec.has_builtin_weights:
            state = WeightsState.NEEDS_FILE
        else:
            state = WeightsState.CACHED if imagenet_weights_cached(spec) else WeightsState.DOWNLOAD
        choices.append(zoo_choice(spec, state))
    return choices


def library_choices(models: Iterable[LibraryModel]) -> list[ModelChoice]:
    """The library's models whose architecture this version knows."""
    return [
        ModelChoice(
            model.name,
            f"{model.name} — library ({SPECS[model.architecture].title}, "
            f"{len(model.class_names)} classes)",
            WeightsState.LIBRARY,
            model.architecture,
            model.preprocess,
        )
        for model in models
        if model.architecture in SPECS
    ]


def list_model_choices() -> list[ModelChoice]:
    """Every zoo architecture with its weights' state, then the library's models (reads disk)."""
    return zoo_choices() + library_choices(ModelLibrary().list())
