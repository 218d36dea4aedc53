"""Retraining from a person's corrections: the use case and ``finetune --from-corrections``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resnet_desktop.app.corrections import find_corrections, old_results, training_folder
from resnet_desktop.app.sorting import load_identity
from resnet_desktop.cli import main
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.library import ModelLibrary
from tests.helpers import give_person_label, write_class_folders

TRAIN = ["--strategy", "head", "--epochs", "3", "--device", "cpu", "--seed", "0"]


@pytest.fixture
def reviewed(tmp_path: Path, capsys) -> tuple[Path, Path, list[Path]]:
    """A model trained on colour folders, its results on other photos, three corrected."""
    train = write_class_folders(tmp_path / "train", 8)
    argv = ["finetune", str(train), "--model", "cifar_resnet20", "--weights", "random",
            "--name", "colours", *TRAIN]  # fmt: skip
    assert main(argv) == 0
    photos = write_class_folders(tmp_path / "photos", 4, seed=1)
    catalog = tmp_path / "catalog.sqlite3"
    assert main(["predict", str(photos), "--model", "colours", "--catalog", str(catalog)]) == 0
    identity = load_identity("colours")
    with Catalog.open(catalog) as store:
        model = store.model_id(identity)
    corrected = [photos / name for name in ("red/000.png", "blue/001.png", "red/002.png")]
    for path, label in zip(corrected, ["Red", "blue", "purple"], strict=True):
        give_person_label(catalog, path, label, model)
    capsys.readouterr()
    return train, catalog, corrected


def test_corrections_are_the_models_labels_spelled_as_its_classes(reviewed):
    train, catalog, corrected = reviewed
    found = find_corrections("colours", catalog_path=catalog)
    assert dict(found.labelled) == dict(zip(corrected, ["red", "blue", "purple"], strict=True))
    assert found.counts() == {"blue": 1, "purple": 1, "red": 1}
    assert found.training_folder == train == training_folder("colours")
    assert len(old_results(found.identity, catalog)) == 12


def test_a_training_folder_that_is_gone_is_not_offered(reviewed):
    train, catalog, _ = reviewed
    shutil.rmtree(train)
    assert find_corrections("colours", catalog_path=catalog).training_folder is None


def test_no_corrections_is_a_clear_error(tmp_path: Path, tiny_model: str):
    with pytest.raises(UserError, match="nobody has labelled images for tiny yet"):
        find_corrections(tiny_model, catalog_path=tmp_path / "none.sqlite3")


def test_cli_retrains_on_corrections_and_the_folder_then_reruns(reviewed, capsys):
    train, catalog, _ = reviewed
    argv = ["finetune", "--from-corrections", "--model", "colours", "--name", "colours-2",
            "--catalog", str(catalog), "--rerun", *TRAIN]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3 images labelled by a person for colours: blue 1, purple 1, red 1" in out
    assert f"with the training folder {train}" in out
    assert "saved as 'colours-2'" in out and "classified 12 of 12 images again" in out
    entry = ModelLibrary().get("colours-2")
    assert entry.class_names == ("blue", "green", "purple", "red")
    dataset = entry.training["dataset"]
    assert dataset["labelled"] == 3 and dataset["root"] == str(train)
    assert sum(dataset["train_counts"]) + sum(dataset["val_counts"]) == 24 + 3 - 0
    assert dataset["labelled_from"] == str(catalog)
    new = load_identity("colours-2")
    with Catalog.open(catalog, read_only=True) as store:
        assert len(store.classified_by(new)) == 12


def test_cli_labels_only_and_misuse(reviewed, capsys):
    _, catalog, _ = reviewed
    argv = ["finetune", "--from-corrections", "--labels-only", "--model", "colours",
            "--name", "fixes", "--catalog", str(catalog), *TRAIN]  # fmt: skip
    assert main(argv) == 1  # three labels, each its own class: nothing to validate on
    err = capsys.readouterr().err
    assert "error: " in err and "Traceback" not in err
    assert main(["finetune", "--model", "colours", "--name", "x", "--rerun"]) == 1
    assert "give the DATASET folder, or --from-corrections" in capsys.readouterr().err
