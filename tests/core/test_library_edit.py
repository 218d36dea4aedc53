"""Renaming a library model and its classes keeps everything else about it."""

from __future__ import annotations

import pytest
import torch

from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.zoo import CIFAR10_CLASSES


@pytest.fixture
def library(tiny_weights) -> ModelLibrary:
    library = ModelLibrary()
    library.import_file(tiny_weights, "cifar_resnet20", CIFAR10_CLASSES, "first")
    return library


def test_rename_moves_the_weights_and_keeps_the_metadata(library):
    before = library.get("first")
    weights = library.load_state_dict("first")
    renamed = library.rename("first", "second")
    assert renamed.name == "second" and "first" not in library
    assert [m.name for m in library.list()] == ["second"]
    assert renamed.source_sha256 == before.source_sha256 and renamed.created == before.created
    files = sorted(p.name for p in library.root.iterdir() if p.name != ".lock")
    assert files == ["second.json", "second.safetensors"]
    reloaded = library.load_state_dict("second")
    assert all(torch.equal(reloaded[key], weights[key]) for key in weights)
    assert load_model("second").class_names == list(CIFAR10_CLASSES)


def test_rename_refuses_a_taken_or_reserved_name(library, tiny_weights):
    library.import_file(tiny_weights, "cifar_resnet20", CIFAR10_CLASSES, "other")
    with pytest.raises(LibraryError, match="already exists"):
        library.rename("first", "other")
    with pytest.raises(LibraryError, match="built-in architecture"):
        library.rename("first", "resnet50")
    with pytest.raises(LibraryError, match="no model named"):
        library.rename("missing", "fine")
    assert {m.name for m in library.list()} == {"first", "other"}


def test_class_names_are_replaced_one_for_one(library):
    names = [f"kind {index}" for index in range(10)]
    assert library.set_class_names("first", names).class_names == tuple(names)
    assert load_model("first").class_names == names
    with pytest.raises(LibraryError, match="has 10 classes; 9 names"):
        library.set_class_names("first", names[:9])
    with pytest.raises(LibraryError, match="unique"):
        library.set_class_names("first", ["same"] * 10)
    assert library.get("first").class_names == tuple(names)
