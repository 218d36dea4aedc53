"""A dataset from labelled files (a person's corrections), alone or with a class folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_desktop.core.catalog import Catalog, ModelIdentity, RunInfo
from resnet_desktop.core.dataset import DatasetError, DatasetScan, last_scan, split_dataset
from resnet_desktop.core.labelled_data import scan_labelled
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess
from tests.helpers import give_person_label, write_class_folders

ORIGIN = Path("/catalogs/results.sqlite3")
RUN = RunInfo("cpu", "fp32", "torch")


def loose_images(tmp_path: Path, per_class: int = 4) -> list[tuple[Path, str]]:
    """Images in one mixed folder (as a person's photos are), each with its true label."""
    write_class_folders(tmp_path / "made", per_class, {"dark": (20, 20, 20), "light": (230,) * 3})
    mixed = tmp_path / "photos"
    mixed.mkdir()
    labelled = []
    for path in sorted((tmp_path / "made").rglob("*.png")):
        target = mixed / f"{path.parent.name}-{path.name}"
        path.rename(target)
        labelled.append((target, path.parent.name))
    return labelled


def test_labelled_files_alone_make_a_dataset_rooted_at_their_catalog(tmp_path: Path):
    labelled = loose_images(tmp_path)
    scan = last_scan(scan_labelled(labelled, origin=ORIGIN, keep=["light", "grey", "dark"]))
    assert scan.class_names == ["dark", "light"] and scan.dropped_classes == ["grey"]
    assert "which the new model will not know: grey" in " ".join(scan.warnings())
    assert scan.counts() == {"dark": 4, "light": 4}
    assert scan.root == ORIGIN and scan.labelled_from == ORIGIN and scan.labelled == 8
    assert {sample.path for sample in scan.samples} == {path for path, _ in labelled}
    split = split_dataset(scan, 0.25, seed=0)
    assert len(split.train) == 6 and len(split.val) == 2


def test_a_persons_label_wins_over_the_folder_a_file_lies_in(tmp_path: Path):
    folder = write_class_folders(tmp_path / "train", 5)
    moved = folder / "red" / "000.png"
    extra = loose_images(tmp_path / "more", 2)
    scan = last_scan(scan_labelled([(moved, "blue"), *extra], folder, origin=ORIGIN))
    assert scan.root == folder and scan.labelled == 5
    assert scan.counts() == {"blue": 6, "dark": 2, "green": 5, "light": 2, "red": 4}
    where = {sample.path: scan.class_names[sample.label] for sample in scan.samples}
    assert where[Path(moved)] == "blue" and len(where) == len(scan.samples)


def test_unreadable_labelled_files_are_reported_not_counted(tmp_path: Path):
    labelled = loose_images(tmp_path, 3)
    broken = tmp_path / "photos" / "broken.png"
    broken.write_bytes(b"not a png")
    gone = tmp_path / "photos" / "deleted.png"
    scan = last_scan(scan_labelled([*labelled, (broken, "dark"), (gone, "light")], origin=ORIGIN))
    assert {problem.path for problem in scan.unreadable} == {broken, gone}
    assert scan.labelled == 6 and scan.counts() == {"dark": 3, "light": 3}


def test_labels_of_one_class_cannot_train(tmp_path: Path):
    labelled = [(path, "dark") for path, _ in loose_images(tmp_path, 2)]
    with pytest.raises(DatasetError, match=r"at least 2 class.*4 images labelled by a person"):
        last_scan(scan_labelled(labelled, origin=ORIGIN))


def test_a_stopped_scan_is_cancelled(tmp_path: Path):
    events = list(scan_labelled(loose_images(tmp_path, 2), origin=ORIGIN, should_stop=lambda: True))
    assert isinstance(events[-1], DatasetScan) and events[-1].cancelled


# ------------------------------------------------------------------------------ the catalog


def identity(name: str, classes: tuple[str, ...]) -> ModelIdentity:
    return ModelIdentity(name, "0" * 64, classes, Preprocess(crop=32, resize=None))


def test_the_catalog_gives_the_labels_meant_for_a_model(tmp_path: Path):
    paths = [tmp_path / f"{n}.jpg" for n in range(6)]
    for path in paths:
        path.write_bytes(b"x")
    pets = identity("pets", ("cat", "dog"))
    pets_v2 = ModelIdentity("pets", "1" * 64, ("cat", "dog"), pets.preprocess)
    same_classes = identity("other-pets", ("cat", "dog"))
    unrelated = identity("vehicles", ("car", "bus"))
    where = tmp_path / "catalog.sqlite3"
    with Catalog.open(where) as catalog:
        ids = [catalog.model_id(m) for m in (pets, pets_v2, same_classes, unrelated)]
        catalog.record_batch(ids[0], [Prediction(p, ("cat",), (0.9,), (0,)) for p in paths], RUN)
    give_person_label(where, paths[0], "dog", ids[1])  # for another version of the model
    give_person_label(where, paths[1], "cat", ids[2])  # same classes
    give_person_label(where, paths[2], "bus", ids[3])  # another model's
    give_person_label(where, paths[3], "dog")  # for no model, one of its classes
    give_person_label(where, paths[4], "pony")  # for no model, not one of its classes
    give_person_label(where, paths[5], "cat", ids[0])
    give_person_label(where, paths[5], "hamster", ids[0])  # the latest label wins
    with Catalog.open(where, read_only=True) as catalog:
        labelled = dict(catalog.labelled_for(pets))
        assert catalog.classified_by(pets) == sorted(paths)
        assert catalog.classified_by(pets_v2) == []
    assert labelled == {paths[0]: "dog", paths[1]: "cat", paths[3]: "dog", paths[5]: "hamster"}


def test_real_photos_labelled_by_a_person_train_a_head(shared, tmp_path: Path):
    """40 CIFAR-10 test photos as a person's labels: cifar_resnet20's head learns cat vs dog."""
    from resnet_desktop.core.model_loader import load_model
    from resnet_desktop.core.runtime import RuntimeOptions
    from resnet_desktop.core.trainer import FitResult, TrainConfig, fit

    test = shared("data/cifar10-test")
    weights = shared("weights/cifar10-resnet/resnet20-12fca82f.th")
    labelled = [
        (path, name) for name in ("cat", "dog") for path in sorted((test / name).glob("*.jpg"))[:40]
    ]
    scan = last_scan(scan_labelled(labelled, origin=ORIGIN))
    assert scan.counts() == {"cat": 40, "dog": 40} and scan.labelled == 80
    config = TrainConfig(strategy="head", runtime=RuntimeOptions(device="cpu", precision="fp32"))
    result = list(fit(load_model("cifar_resnet20", weights), split_dataset(scan, 0.25), config))[-1]
    assert isinstance(result, FitResult) and result.report is not None
    assert result.dataset["labelled"] == 80 and result.dataset["root"] == str(ORIGIN)
    assert result.report.accuracy >= 0.75  # cat vs dog on 20 held-out photos
