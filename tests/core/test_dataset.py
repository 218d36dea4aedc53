"""The pre-flight scan and the split: class order, broken and degenerate folders, duplicates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from resnet_desktop.core.dataset import (
    DatasetError,
    DatasetScan,
    ScanEvent,
    ScanProgress,
    ScanStage,
    load_scan,
    scan_dataset,
    split_dataset,
)
from tests.helpers import CLASS_COLOURS, write_class_folders


def _colour(name: str, rgb: tuple[int, int, int]) -> dict:
    return {name: rgb}


def test_classes_are_plainly_sorted_folders_and_hidden_folders_are_ignored(tmp_path: Path):
    colours = {"b": (0, 0, 200), "B": (200, 0, 0), "c10": (0, 200, 0), "c9": (90, 90, 90)}
    write_class_folders(tmp_path, 6, colours)
    write_class_folders(tmp_path / ".hidden", 6)
    nested = tmp_path / "c9" / "more"
    nested.mkdir()
    shutil.copy(tmp_path / "b" / "000.png", nested / "x.png")
    scan = load_scan(tmp_path)
    assert scan.class_names == ["B", "b", "c10", "c9"]
    assert scan.counts() == {"B": 6, "b": 6, "c10": 6, "c9": 7}  # nested image found
    assert all(scan.class_names[s.label] == s.path.relative_to(tmp_path).parts[0]
               for s in scan.samples)  # fmt: skip
    assert [g.classes for g in scan.duplicates] == [("b", "c9")]
    assert scan.nested == {"c9": ["more"]}
    assert scan.warnings()[0].startswith("class folders hold sub-folders of images: c9 (more)")


def test_one_class_is_an_error(tmp_path: Path):
    write_class_folders(tmp_path, 6, _colour("only", (1, 2, 3)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="at least 2 class"):
        load_scan(tmp_path)


def test_no_class_folders_at_all_is_an_error(tmp_path: Path):
    write_class_folders(tmp_path, 3)
    for image in (tmp_path / "red").iterdir():
        image.rename(tmp_path / f"loose_{image.name}")
    shutil.rmtree(tmp_path / "green")
    shutil.rmtree(tmp_path / "blue")
    (tmp_path / "red").rmdir()
    with pytest.raises(DatasetError, match="found none"):
        load_scan(tmp_path)


def test_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(DatasetError, match="not a folder"):
        load_scan(tmp_path / "nope")


def test_corrupt_files_are_listed_with_a_reason_and_skipped(tmp_path: Path):
    write_class_folders(tmp_path, 6)
    (tmp_path / "red" / "broken.png").write_bytes(b"this is not a png")
    (tmp_path / "red" / "empty.jpg").write_bytes(b"")
    scan = load_scan(tmp_path)
    assert sorted(p.path.name for p in scan.unreadable) == ["broken.png", "empty.jpg"]
    assert all(p.reason and "\n" not in p.reason for p in scan.unreadable)
    assert scan.counts()["red"] == 6
    assert all(s.path.name not in ("broken.png", "empty.jpg") for s in scan.samples)
    assert any("2 unreadable" in w for w in scan.warnings())


def test_small_imbalanced_and_empty_classes_are_reported(tmp_path: Path):
    write_class_folders(tmp_path, {"red": 60, "green": 3, "blue": 20})
    (tmp_path / "purple").mkdir()
    (tmp_path / "grey").mkdir()
    (tmp_path / "grey" / "broken.png").write_bytes(b"garbage")
    scan = load_scan(tmp_path)
    assert scan.class_names == ["blue", "green", "red"]  # empty classes are excluded
    assert scan.empty_classes == ["grey", "purple"]
    assert scan.small_classes == ["green"]
    assert scan.imbalance_ratio == pytest.approx(20.0)
    text = "\n".join(scan.warnings())
    assert "grey, purple" in text and "green (3)" in text and "imbalance" in text


def test_balanced_dataset_has_no_warnings(tmp_path: Path):
    scan = load_scan(write_class_folders(tmp_path, 8))
    assert scan.warnings() == [] and scan.duplicates == [] and scan.unreadable == []


def test_loose_images_in_the_root_are_counted_and_ignored(tmp_path: Path):
    write_class_folders(tmp_path, 5)
    shutil.copy(tmp_path / "red" / "000.png", tmp_path / "loose.png")
    scan = load_scan(tmp_path)
    assert scan.loose_files == 1 and len(scan.samples) == 15
    assert any("not in a class folder" in w for w in scan.warnings())


def test_split_is_stratified_seeded_and_keeps_a_validation_image_per_class(tmp_path: Path):
    write_class_folders(tmp_path, {"red": 50, "green": 2, "blue": 7})
    write_class_folders(tmp_path, 1, _colour("grey", (90, 90, 90)), seed=1)
    scan = load_scan(tmp_path)
    split = split_dataset(scan, 0.2, seed=3)
    names = split.class_names
    assert names == ["blue", "green", "grey", "red"]
    assert split.val_counts == [1, 1, 0, 10]  # round(7*0.2)=1, at least 1, single image, 20%
    assert split.train_counts == [6, 1, 1, 40]
    assert {s.path for s in split.train}.isdisjoint({s.path for s in split.val})
    assert split_dataset(scan, 0.2, seed=3).val == split.val
    assert split_dataset(scan, 0.2, seed=4).val != split.val
    assert all(names[s.label] == s.path.parent.name for s in split.train + split.val)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_bad_validation_fraction_is_an_error(tmp_path: Path, fraction: float):
    scan = load_scan(write_class_folders(tmp_path, 5))
    with pytest.raises(DatasetError, match="between 0 and 1"):
        split_dataset(scan, fraction)


def test_identical_files_stay_on_one_side_of_the_split(tmp_path: Path):
    write_class_folders(tmp_path, 20)
    for index in range(5):  # five images with three copies each
        for copy in range(2):
            shutil.copy(
                tmp_path / "red" / f"{index:03d}.png", tmp_path / "red" / f"c{index}{copy}.png"
            )
    shutil.copy(tmp_path / "blue" / "000.png", tmp_path / "green" / "stray.png")
    scan = load_scan(tmp_path)
    assert len(scan.duplicates) == 6
    conflicts = [g for g in scan.duplicates if g.conflicting]
    assert len(conflicts) == 1 and conflicts[0].classes == ("blue", "green")
    assert any("different classes" in w for w in scan.warnings())
    for seed in range(5):
        split = split_dataset(scan, 0.3, seed)
        train_hashes = {s.sha256 for s in split.train}
        assert not train_hashes & {s.sha256 for s in split.val}
        assert split.leaked_duplicates == 0


def test_separate_validation_folder(tmp_path: Path):
    train = write_class_folders(tmp_path / "train", 6)
    val = write_class_folders(tmp_path / "val", {"red": 2, "green": 0, "blue": 3}, seed=5)
    shutil.copy(train / "red" / "000.png", val / "red" / "leak.png")
    scan = load_scan(train, val)
    split = split_dataset(scan, 0.5)  # the fraction does not apply
    assert split.val_fraction is None
    assert split.class_names == ["blue", "green", "red"]
    assert split.train_counts == [6, 6, 6] and split.val_counts == [3, 0, 3]
    assert scan.missing_in_val == ["green"]
    assert split.leaked_duplicates == 1
    assert any("without validation images: green" in w for w in scan.warnings())


def test_validation_class_missing_from_training_is_an_error(tmp_path: Path):
    train = write_class_folders(tmp_path / "train", 5)
    val = write_class_folders(tmp_path / "val", 2, {**CLASS_COLOURS, "cyan": (0, 200, 200)})
    with pytest.raises(DatasetError, match="cyan"):
        load_scan(train, val)


def test_scan_reports_progress_and_can_be_cancelled(tmp_path: Path):
    write_class_folders(tmp_path, 10)
    items = list(scan_dataset(tmp_path))
    assert all(isinstance(i, ScanEvent) for i in items)
    assert isinstance(items[-1], DatasetScan) and not items[-1].cancelled
    checking = [i for i in items if isinstance(i, ScanProgress) and i.stage == "checking"]
    assert checking and checking[-1].done == checking[-1].total == 30
    assert {i.stage for i in items[:-1]} <= set(ScanStage)
    cancelled = list(scan_dataset(tmp_path, should_stop=lambda: True))
    assert len(cancelled) == 1 and cancelled[0].cancelled
    with pytest.raises(DatasetError, match="cancelled"):
        split_dataset(cancelled[0])


def test_a_folder_of_split_folders_is_reported_as_nested(tmp_path: Path):
    """train/ and val/, each of class folders, chosen as the dataset: 'two classes'."""
    for split, seed in (("train", 0), ("val", 1)):
        write_class_folders(tmp_path / split, 5, seed=seed)
    scan = load_scan(tmp_path)
    assert scan.class_names == ["train", "val"]  # accepted: it is a warning, not an error
    assert scan.nested == {"train": sorted(CLASS_COLOURS), "val": sorted(CLASS_COLOURS)}
    warning = scan.warnings()[0]
    assert "train (blue, green, red), val (blue, green, red)" in warning
    assert f"choose {tmp_path / 'train'} to train on" in warning
    assert f"{tmp_path / 'val'} as the validation folder" in warning


def test_flat_class_folders_are_not_nested(tmp_path: Path):
    write_class_folders(tmp_path, 5)
    (tmp_path / "red" / "empty sub-folder").mkdir()
    scan = load_scan(tmp_path)
    assert scan.nested == {} and not scan.warnings()
