"""``resnet-desktop sort`` end to end, over a real catalog and a library model's identity."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from resnet_desktop.app.sorting import load_identity, prepare_sort, stored_inputs
from resnet_desktop.cli import main
from resnet_desktop.commands import sort as sort_command
from resnet_desktop.core import catalog as catalog_mod
from resnet_desktop.core.catalog import Catalog, ModelIdentity, RunInfo, file_signature
from resnet_desktop.core.errors import REMEDY_SORT_COPY_OR_LINK, UserError
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.sort_journal import PREFIX, read_journal
from resnet_desktop.core.sorting import FileFailed
from resnet_desktop.core.zoo import CIFAR10_CLASSES, Preprocess
from tests.helpers import press_ctrl_c

RUN = RunInfo("cpu", "fp32", "torch")


def write_images(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"photo_{number:02d}.jpg"
        path.write_bytes(b"jpeg bytes %d" % number * (number + 1))
        paths.append(path)
    return paths


def top(path: Path, label: str, probability: float) -> Prediction:
    index = CIFAR10_CLASSES.index(label)
    other = (index + 1) % len(CIFAR10_CLASSES)
    rest = 1.0 - probability
    return Prediction(path, (label, CIFAR10_CLASSES[other]), (probability, rest), (index, other))


def give_label(catalog_path: Path, path: Path, label: str) -> None:
    """A label a person gave, stored as the review window will (no API writes them yet)."""
    with sqlite3.connect(catalog_path) as db:
        image = db.execute("SELECT id FROM images WHERE path = ?", (os.fsencode(path),)).fetchone()
        db.execute(
            "INSERT INTO person_labels (image_id, label, created_at) VALUES (?, ?, 'now')",
            (image[0], label),
        )


@pytest.fixture
def identity(tiny_model: str) -> ModelIdentity:
    return load_identity(tiny_model)


@pytest.fixture
def photos(tmp_path: Path, identity: ModelIdentity) -> Iterator[tuple[list[Path], Path]]:
    """Eight photos: six classified (one unsure, one unreadable), one labelled, one not."""
    paths = write_images(tmp_path / "photos", 8)
    catalog_path = tmp_path / "catalog.sqlite3"
    with Catalog.open(catalog_path) as catalog:
        model = catalog.model_id(identity)
        catalog.record_batch(
            model,
            [
                top(paths[0], "cat", 0.9),
                top(paths[1], "cat", 0.8),
                top(paths[2], "dog", 0.95),
                top(paths[3], "ship", 0.3),  # unsure
                Prediction(paths[4], error="cannot identify image file"),
                top(paths[5], "dog", 0.7),
                top(paths[6], "truck", 0.99),
            ],
            RUN,
        )
    give_label(catalog_path, paths[5], "horse")  # a person's label wins
    yield paths, catalog_path  # paths[7] was never classified


def sort_args(tmp_path: Path, catalog_path: Path, model: str, *extra: str) -> list[str]:
    return [
        "sort",
        str(tmp_path / "photos"),
        "--model",
        model,
        "--into",
        str(tmp_path / "sorted"),
        "--catalog",
        str(catalog_path),
        *extra,
    ]


def placed(dest: Path) -> dict[str, str]:
    """Relative path -> content of every file sorted into ``dest`` (journals aside)."""
    return {
        str(path.relative_to(dest)): path.read_bytes().decode()
        for path in sorted(dest.rglob("*"))
        if path.is_file() and not path.name.startswith(PREFIX)
    }


# ------------------------------------------------------------------------------ the catalog


def test_person_labels_come_back_in_order_latest_first(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(catalog_mod, "CHUNK", 3)  # several chunks
    paths = write_images(tmp_path / "photos", 7)
    file = tmp_path / "catalog.sqlite3"
    with Catalog.open(file) as catalog:
        model = catalog.model_id(ModelIdentity("m", "a" * 64, ("x",), Preprocess(32, None)))
        catalog.record_batch(model, [Prediction(p, ("x",), (1.0,), (0,)) for p in paths], RUN)
    give_label(file, paths[1], "first")
    give_label(file, paths[1], "second")
    give_label(file, paths[5], "other")
    with Catalog.open(file, read_only=True) as catalog:
        labels = list(catalog.person_labels([*reversed(paths), tmp_path / "unknown.jpg"]))
    assert labels == [
        (paths[6], None),
        (paths[5], "other"),
        *[(p, None) for p in reversed(paths[2:5])],
        (paths[1], "second"),
        (paths[0], None),
        (tmp_path / "unknown.jpg", None),
    ]


def test_results_and_labels_follow_a_moved_file(tmp_path: Path):
    paths = write_images(tmp_path / "photos", 4)
    file = tmp_path / "catalog.sqlite3"
    identity = ModelIdentity("m", "a" * 64, ("x", "y"), Preprocess(32, None))
    with Catalog.open(file) as catalog:
        model = catalog.model_id(identity)
        catalog.record_batch(model, [Prediction(p, ("y",), (0.7,), (1,)) for p in paths], RUN)
    give_label(file, paths[0], "x")
    befores = [file_signature(p) for p in paths]
    moved_to = [tmp_path / "sorted" / f"{n}.jpg" for n in range(4)]
    moved_to[0].parent.mkdir()
    moved_to[3].write_bytes(b"a file once here")
    with Catalog.open(file) as catalog:
        catalog.record_batch(model, [Prediction(moved_to[3], error="stale")], RUN)
    for old, new in zip(paths, moved_to, strict=True):
        os.replace(old, new)
    befores[2] = befores[2]._replace(mtime_ns=1)  # as if changed before it was moved
    with Catalog.open(file) as catalog:
        assert catalog.moved(zip(paths, moved_to, befores, strict=True)) == 3
        results = dict(catalog.results_for([*paths, *moved_to], model, 1))
        labels = dict(catalog.person_labels(moved_to))
    assert [results[p] for p in paths] == [None] * 4
    assert [results[p] is not None for p in moved_to] == [True, True, False, True]
    assert results[moved_to[3]].labels == ("y",)  # the stale record was replaced
    assert labels == {moved_to[0]: "x", moved_to[1]: None, moved_to[2]: None, moved_to[3]: None}


# ------------------------------------------------------------------------------ planning


def test_the_plan_reads_results_labels_and_what_is_missing(tmp_path: Path, photos, identity):
    paths, catalog_path = photos
    plan = prepare_sort(
        [tmp_path / "photos"], identity, tmp_path / "sorted",
        decider=Decider(0.5, from_confidence=True), catalog_path=catalog_path,
    )  # fmt: skip
    assert {p.source.name: p.folder for p in plan.placements} == {
        "photo_00.jpg": "cat",
        "photo_01.jpg": "cat",
        "photo_02.jpg": "dog",
        "photo_03.jpg": "unknown",
        "photo_05.jpg": "horse",
        "photo_06.jpg": "truck",
    }
    assert plan.unreadable == (paths[4],) and plan.not_classified == (paths[7],)


def test_a_changed_file_has_no_result_to_sort_by(tmp_path: Path, photos, identity):
    paths, catalog_path = photos
    paths[0].write_bytes(b"another picture now")
    with Catalog.open(catalog_path, read_only=True) as catalog:
        first = next(stored_inputs(catalog, identity, paths))
    assert first.label is None and first.error is None


def test_without_a_catalog_nothing_is_classified(tmp_path: Path, identity):
    write_images(tmp_path / "photos", 2)
    plan = prepare_sort([tmp_path / "photos"], identity, tmp_path / "sorted",
                        catalog_path=tmp_path / "none.sqlite3")  # fmt: skip
    assert plan.placements == () and len(plan.not_classified) == 2


def test_models_without_recorded_results_are_refused(tmp_path: Path):
    with pytest.raises(UserError, match="random weights"):
        load_identity("cifar_resnet20", "random")
    with pytest.raises(UserError, match="not on this machine"):
        load_identity("resnet18")  # its ImageNet weights were never downloaded here
    with pytest.raises(UserError, match="no built-in weights"):
        load_identity("cifar_resnet20")


# ------------------------------------------------------------------------------ the command


def test_dry_run_prints_the_plan_and_touches_nothing(tmp_path: Path, photos, tiny_model, capsys):
    _, catalog_path = photos
    args = sort_args(tmp_path, catalog_path, tiny_model, "--threshold", "0.5", "--dry-run")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "6 images would be copied into" in out
    assert [line.split()[:2] for line in out.splitlines()[1:6]] == [
        ["cat/", "2"],
        ["dog/", "1"],
        ["horse/", "1"],
        ["truck/", "1"],
        ["unknown/", "1"],
    ]
    assert "1 labelled by a person" in out and "confidence under 50%" in out
    assert "1 image not classified yet" in out and "resnet-desktop predict" in out
    assert "could not read" in out
    assert not (tmp_path / "sorted").exists()


def test_move_then_undo_through_the_command(tmp_path: Path, photos, tiny_model, identity, capsys):
    paths, catalog_path = photos
    before = {p.name: p.read_bytes().decode() for p in paths}
    args = sort_args(tmp_path, catalog_path, tiny_model, "--move", "--threshold", "0.5")
    assert main(args) == 3  # two images were left where they are
    dest = tmp_path / "sorted"
    assert placed(dest) == {
        f"{folder}/{name}": before[name]
        for folder, name in [
            ("cat", "photo_00.jpg"),
            ("cat", "photo_01.jpg"),
            ("dog", "photo_02.jpg"),
            ("unknown", "photo_03.jpg"),
            ("horse", "photo_05.jpg"),
            ("truck", "photo_06.jpg"),
        ]
    }
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == [
        "photo_04.jpg",
        "photo_07.jpg",
    ]
    out = capsys.readouterr().out
    assert "moved 6 files in" in out and "cat 2, dog 1, horse 1, truck 1, unknown 1" in out
    (journal,) = dest.glob(f"{PREFIX}*")
    assert f"undo with: resnet-desktop sort --undo {journal}" in out

    with Catalog.open(catalog_path, read_only=True) as catalog:  # results went along
        moved = sorted(p for p in dest.rglob("*.jpg"))
        assert all(item.label is not None for item in stored_inputs(catalog, identity, moved))
        assert dict(catalog.person_labels(moved))[dest / "horse" / "photo_05.jpg"] == "horse"

    assert main(["sort", "--undo", str(journal), "--catalog", str(catalog_path)]) == 0
    assert "put back 6 files" in capsys.readouterr().out
    assert {p.name: p.read_bytes().decode() for p in paths} == before
    assert placed(dest) == {} and read_journal(journal).undo == "done"
    again = prepare_sort([tmp_path / "photos"], identity, dest, catalog_path=catalog_path)
    assert len(again.placements) == 6 and again.not_classified == (paths[7],)


def test_ctrl_c_stops_after_a_file_and_the_same_command_finishes(
    tmp_path: Path, photos, tiny_model, monkeypatch, capsys
):
    _, catalog_path = photos
    real_run_sort = sort_command.run_sort

    def interrupted_after_two(*args, **kwargs):
        for number, event in enumerate(real_run_sort(*args, **kwargs)):
            yield event
            if number == 3:  # the third file is done: Ctrl+C
                press_ctrl_c()

    monkeypatch.setattr(sort_command, "run_sort", interrupted_after_two)
    args = sort_args(tmp_path, catalog_path, tiny_model, "--link")
    assert main(args) == 130
    out = capsys.readouterr().out
    assert "interrupted after 3 of 6 files" in out and "linked 3 files" in out
    monkeypatch.setattr(sort_command, "run_sort", real_run_sort)
    (journal,) = (tmp_path / "sorted").glob(f"{PREFIX}*")
    moving = sort_args(tmp_path, catalog_path, tiny_model, "--move")
    assert main(moving) == 1  # another mode: the command line says which flag finishes it
    said = capsys.readouterr().err.strip()
    assert said.endswith(
        "holds an unfinished sort by link, so run it again with --link to finish it, "
        f"or undo it with `resnet-desktop sort --undo {journal}`"
    )
    assert main(args) == 3
    out = capsys.readouterr().out
    assert "continuing the unfinished sort" in out and "3 images already placed" in out
    assert len(placed(tmp_path / "sorted")) == 6
    assert len(list((tmp_path / "sorted").glob(f"{PREFIX}*"))) == 1


def test_a_file_that_cannot_be_moved_names_the_flags_that_sort_it(tmp_path: Path):
    """A symbolic link is not moved; the failure names the command line's flags."""
    link = tmp_path / "link.jpg"
    report = sort_command._SortReport()
    failed = FileFailed(link, f"{link} is a symbolic link and was not moved", 1, 1, 0.1,
                        REMEDY_SORT_COPY_OR_LINK)  # fmt: skip
    report.follow([failed])
    assert report.problems[0].endswith(
        "was not moved, so sort it with --copy or --link, or sort the file it points to"
    )


def test_everything_already_sorted_exits_0(tmp_path: Path, photos, tiny_model, capsys):
    paths, catalog_path = photos
    for path in (paths[4], paths[7]):
        path.unlink()  # only classified images remain
    args = sort_args(tmp_path, catalog_path, tiny_model)
    assert main(args) == 0
    assert main(args) == 0  # again: every file is already there
    out = capsys.readouterr().out
    assert "copied 0 files" in out and "6 were already there" in out
    assert len(placed(tmp_path / "sorted")) == 6


@pytest.mark.parametrize(
    "extra",
    [
        ["--undo", "journal.jsonl"],  # with PATH and the others
        ["--threshold", "half"],
        ["--copy", "--move"],
    ],
)
def test_wrong_argument_mixes_exit_2(tmp_path: Path, extra: list[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(sort_args(tmp_path, tmp_path / "c.sqlite3", "m", *extra))
    assert exit_info.value.code == 2


def test_a_threshold_out_of_the_scores_range_is_refused(tmp_path, photos, tiny_model, capsys):
    _, catalog_path = photos
    assert main(sort_args(tmp_path, catalog_path, tiny_model, "--threshold", "1.5")) == 1
    assert "msp threshold must be in [0.0, 1.0]" in capsys.readouterr().err
    give_setup(tiny_model, "knn", -0.5)
    assert main(sort_args(tmp_path, catalog_path, tiny_model, "--threshold", "0.5")) == 1
    assert "knn threshold must be in [-2.0, 0.0]" in capsys.readouterr().err
    assert not (tmp_path / "sorted").exists()


def give_setup(name: str, method: str, threshold: float) -> None:
    """A library model with an "unknown" setup in its metadata, as fine-tuning makes one."""
    path = ModelLibrary().root / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metrics"]["ood"] = {"method": method, "threshold": threshold, "k": None}
    if method == "knn":
        data["metrics"]["ood"]["k"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("threshold", [None, "0.75"])
def test_a_model_with_its_own_threshold_sorts_as_the_decision_column_reads(
    tmp_path: Path, identity, tiny_model, threshold, capsys
):
    """Its OOD score, not its confidence, says unknown; --threshold replaces its own."""
    paths = write_images(tmp_path / "photos", 4)
    catalog_path = tmp_path / "catalog.sqlite3"
    scored = [("cat", 0.99, 0.2), ("dog", 0.3, 0.9), ("ship", 0.95, 0.6), ("cat", 0.4, 0.8)]
    with Catalog.open(catalog_path) as catalog:
        model = catalog.model_id(identity)
        predictions = [
            dataclasses.replace(top(path, label, confidence), ood_score=score)
            for path, (label, confidence, score) in zip(paths, scored, strict=True)
        ]
        catalog.record_batch(model, predictions, RUN)
    give_setup(tiny_model, "msp", 0.5)
    given = ["--threshold", threshold] if threshold else []
    csv_path = tmp_path / "results.csv"
    results = ["results", str(tmp_path / "photos"), "--model", tiny_model, "--catalog",
               str(catalog_path), "--csv", str(csv_path), "--top-k", "1", *given]  # fmt: skip
    assert main(results) == 0
    with csv_path.open(encoding="utf-8") as file:
        decisions = {Path(row["path"]).name: row["decision"] for row in csv.DictReader(file)}
    assert main(sort_args(tmp_path, catalog_path, tiny_model, *given)) == 0
    out = capsys.readouterr().out
    sorted_into = {Path(name).name: Path(name).parent.name for name in placed(tmp_path / "sorted")}
    assert sorted_into == decisions
    expected_unknown = {"photo_00.jpg"} | ({"photo_02.jpg"} if threshold else set())
    assert {name for name, folder in sorted_into.items() if folder == "unknown"} == (
        expected_unknown
    )
    wanted = f"a score under the model's 'unknown' threshold ({threshold or 0.5})"
    assert wanted in out


def test_missing_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sort", "photos"])
    assert exit_info.value.code == 2
    assert "missing --model, --into" in capsys.readouterr().err


def test_undo_of_a_missing_journal_is_a_user_error(tmp_path: Path, capsys):
    assert main(["sort", "--undo", str(tmp_path / "nothing.jsonl")]) == 1
    assert "cannot read the sort journal" in capsys.readouterr().err
