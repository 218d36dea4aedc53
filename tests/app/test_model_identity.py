"""A model's catalog identity from its metadata: the same as after loading, or refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resnet_desktop.app import model_identity
from resnet_desktop.app.model_identity import ModelArgs, identify_model
from resnet_desktop.core.catalog import ModelIdentity
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import ModelLoadError, load_model
from resnet_desktop.core.weights import file_sha256, imagenet_weights_path
from resnet_desktop.core.zoo import CIFAR10_CLASSES, get_spec


@pytest.fixture
def classes(tmp_path: Path) -> Path:
    path = tmp_path / "classes.txt"
    path.write_text("\n".join(f"kind {n}" for n in range(10)), encoding="utf-8")
    return path


def loaded_identity(args: ModelArgs, weights_file: Path) -> ModelIdentity:
    loaded = load_model(args.name, args.weights, args.classes)
    return ModelIdentity.of(loaded, file_sha256(weights_file))


def test_a_library_model_is_known_from_its_metadata(tiny_model, monkeypatch, classes):
    weights = ModelLibrary().get(tiny_model).weights_path
    for args in (ModelArgs(tiny_model), ModelArgs(tiny_model, classes=classes)):
        expected = loaded_identity(args, weights)
        with monkeypatch.context() as patch:
            patch.setattr(model_identity, "load_model", _refuse)
            identified = identify_model(args)
        assert identified.identity == expected
        assert ModelIdentity.of(identified.load(), expected.weights_sha256) == expected


def test_a_weights_file_with_classes_is_known_from_metadata(tiny_weights, classes, monkeypatch):
    args = ModelArgs("cifar_resnet20", tiny_weights, classes)
    expected = loaded_identity(args, tiny_weights)
    monkeypatch.setattr(model_identity, "load_model", _refuse)
    assert identify_model(args).identity == expected


def test_a_weights_file_without_classes_is_loaded_once(tiny_weights, monkeypatch):
    loads = []
    monkeypatch.setattr(
        model_identity, "load_model", lambda *a, **k: loads.append(a) or load_model(*a, **k)
    )
    identified = identify_model(ModelArgs("cifar_resnet20", tiny_weights))
    assert identified.identity.class_names == tuple(CIFAR10_CLASSES)
    assert identified.identity.weights_sha256 == file_sha256(tiny_weights)
    identified.load()
    assert len(loads) == 1


def test_cached_imagenet_weights_are_known_without_loading(monkeypatch):
    import torch

    from resnet_desktop.core.networks import build_network

    spec = get_spec("resnet18")
    target = imagenet_weights_path(spec)
    target.parent.mkdir(parents=True)
    torch.manual_seed(1)
    torch.save(build_network(spec).state_dict(), target)
    expected = loaded_identity(ModelArgs("resnet18"), target)
    monkeypatch.setattr(model_identity, "load_model", _refuse)
    assert identify_model(ModelArgs("resnet18"), download=False).identity == expected


def test_imagenet_weights_not_cached_are_not_downloaded_to_read_results():
    with pytest.raises(UserError, match="not on this machine"):
        identify_model(ModelArgs("resnet18"), download=False)


def test_random_weights_have_no_identity():
    identified = identify_model(ModelArgs("cifar_resnet20", "random"))
    assert identified.identity is None and identified.load().name == "cifar_resnet20"


def test_weights_changed_after_they_were_hashed_are_refused(tiny_weights, classes):
    identified = identify_model(ModelArgs("cifar_resnet20", tiny_weights, classes))
    copy = tiny_weights.with_name("copy.pth")
    copy.write_bytes(tiny_weights.read_bytes())
    os.replace(copy, tiny_weights)  # the same bytes, but another file than the one hashed
    with pytest.raises(ModelLoadError, match="changed while"):
        identified.load()


def test_a_missing_weights_file_is_the_loaders_clear_error(tmp_path, classes):
    with pytest.raises(ModelLoadError, match="does not exist"):
        identify_model(ModelArgs("cifar_resnet20", tmp_path / "none.pth", classes))


def _refuse(*args, **kwargs):
    raise AssertionError("the network was built")
