"""The model list both front ends show: zoo architectures with their weights, library models."""

from __future__ import annotations

import pytest

from resnet_desktop.app.models import (
    WeightsState,
    library_choices,
    list_model_choices,
    unchecked_choices,
)
from resnet_desktop.core.library import LibraryModel
from resnet_desktop.core.weights import imagenet_weights_path
from resnet_desktop.core.zoo import SPECS, get_spec


def test_every_model_is_listed_with_the_state_of_its_weights(tiny_model: str):
    cached = imagenet_weights_path(get_spec("resnet18"))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")
    choices = {choice.name: choice for choice in list_model_choices()}
    labels = {name: choice.label for name, choice in choices.items()}
    assert labels["resnet18"] == "ResNet-18 — ImageNet (cached)"
    assert labels["resnet50"] == "ResNet-50 — ImageNet (download needed)"
    assert labels["cifar_resnet20"] == "CIFAR ResNet-20 (32x32) — needs weights file"
    assert labels[tiny_model] == "tiny — library (CIFAR ResNet-20 (32x32), 10 classes)"
    assert len(labels) == len(SPECS) + 1
    assert [name for name, choice in choices.items() if choice.ready] == ["resnet18", tiny_model]


def test_before_the_disk_is_read_the_zoo_is_listed_unchecked():
    states = {choice.name: choice.state for choice in unchecked_choices()}
    assert states["resnet50"] == WeightsState.UNCHECKED
    assert states["cifar_resnet20"] == WeightsState.NEEDS_FILE
    assert list(states) == list(SPECS)


def test_library_models_of_an_unknown_architecture_are_left_out(tmp_path):
    def model(name: str, architecture: str) -> LibraryModel:
        spec = get_spec("cifar_resnet20")
        return LibraryModel(name, architecture, ("a", "b"), spec.preprocess, "", tmp_path)

    choices = library_choices([model("mine", "cifar_resnet20"), model("future", "vit_h_14")])
    assert [(c.name, c.state) for c in choices] == [("mine", WeightsState.LIBRARY)]


def test_the_download_sizes_shown_are_torchvisions():
    """The welcome panel's sizes (known without torch) agree with torchvision's metadata."""
    from resnet_desktop.app.getting_started import DOWNLOAD_MB
    from resnet_desktop.core.weights import _weights_enum

    with_weights = {name for name, spec in SPECS.items() if spec.has_builtin_weights}
    assert set(DOWNLOAD_MB) == with_weights
    for name, size in DOWNLOAD_MB.items():
        assert size == pytest.approx(_weights_enum(SPECS[name]).meta["_file_size"], abs=0.05)
