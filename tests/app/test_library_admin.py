"""What Manage Models says about each library model."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_desktop.app.library_admin import describe_source, summarise
from resnet_desktop.core.library import LibraryModel
from resnet_desktop.core.zoo import Preprocess


def model(**fields) -> LibraryModel:
    values = {
        "name": "pets",
        "architecture": "resnet18",
        "class_names": ("cat", "dog"),
        "preprocess": Preprocess(crop=224, resize=256),
        "created": "2026-01-02T03:04:05+00:00",
        "weights_path": Path("pets.safetensors"),
        **fields,
    }
    return LibraryModel(**values)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"source_sha256": "ab" * 32}, "imported weights file"),
        ({}, "unknown"),
        ({"base_weights": "ResNet18_Weights.IMAGENET1K_V1"}, "fine-tuned from ImageNet weights"),
        ({"base_weights": "library:cats"}, "fine-tuned from library model “cats”"),
        ({"base_weights": "file:base.pth"}, "fine-tuned from the file base.pth"),
        ({"base_weights": "random", "training": {"epochs": 3}}, "fine-tuned from a random start"),
        ({"training": {"epochs": 3}}, "fine-tuned from unknown weights"),
    ],
)
def test_the_source_says_where_the_weights_came_from(fields, expected):
    assert describe_source(model(**fields)) == expected


def test_accuracy_and_threshold_are_shown_only_when_valid():
    good = summarise(model(metrics={"accuracy": 0.9, "ood": {"method": "msp", "threshold": 0.4}}))
    assert (good.accuracy, good.threshold) == (0.9, 0.4)
    bad = summarise(model(metrics={"accuracy": "high", "ood": {"method": "msp", "threshold": 7}}))
    assert (bad.accuracy, bad.threshold) == (None, None)
    assert summarise(model()).architecture == "ResNet-18"
    assert summarise(model(architecture="vit_h")).architecture == "vit_h"
    assert summarise(model()).created.startswith("2026-01-0")
