"""A model's catalog identity: the same before and after loading, hashed once per file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resnet_desktop.app import identity as identity_mod
from resnet_desktop.app.identity import identity_for, identity_of, weights_sha256
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.weights import file_sha256, imagenet_weights_path
from resnet_desktop.core.zoo import SPECS


def test_a_library_model_has_the_same_identity_before_and_after_loading(tiny_model: str):
    before = identity_for(tiny_model)
    loaded = load_model(tiny_model)
    assert before is not None and before == identity_of(loaded)
    assert before.name == tiny_model and len(before.class_names) == 10


def test_a_named_weights_file_is_hashed_and_random_weights_have_no_identity(tiny_weights):
    named = identity_of(load_model("cifar_resnet20", tiny_weights), tiny_weights)
    assert named is not None and named.weights_sha256 == file_sha256(tiny_weights)
    assert identity_of(load_model("cifar_resnet20", "random"), "random") is None


def test_models_whose_weights_are_not_on_disk_have_no_identity():
    assert identity_for("resnet18") is None  # ImageNet weights not downloaded
    assert identity_for("cifar_resnet20") is None  # no weights of its own
    assert identity_for("no such model") is None


def test_a_cached_imagenet_file_gives_the_torchvision_class_names(tmp_path: Path):
    path = imagenet_weights_path(SPECS["resnet18"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"stand-in for the weights")
    found = identity_for("resnet18")
    assert found is not None and found.weights_sha256 == file_sha256(path)
    assert len(found.class_names) == 1000 and found.preprocess == SPECS["resnet18"].preprocess


def test_each_file_is_hashed_once_until_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    hashed: list[Path] = []

    def counting(path: Path) -> str:
        hashed.append(path)
        return file_sha256(path)

    monkeypatch.setattr(identity_mod, "file_sha256", counting)
    path = tmp_path / "w.pth"
    path.write_bytes(b"one")
    first = weights_sha256(path)
    assert weights_sha256(path) == first and len(hashed) == 1
    path.write_bytes(b"two")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert weights_sha256(path) != first and len(hashed) == 2
