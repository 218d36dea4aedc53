"""Reviewing: keys to labels, labels through the listing's thread, and into CSV files."""

from __future__ import annotations

from pathlib import Path

import pytest

from resnet_desktop.app.listing import (
    AddPaths,
    CopyRows,
    Counted,
    ExportCsv,
    Exported,
    ListingSession,
    ShowQuery,
    TableQuery,
)
from resnet_desktop.app.review import (
    LabelRefused,
    PersonLabelChanged,
    SetPersonLabel,
    UndoHistory,
    UndoPersonLabel,
    accepted_label,
    label_for_key,
    shortcut_labels,
    typed_label,
)
from resnet_desktop.cli import main
from resnet_desktop.core.catalog import Catalog, LabelError
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import CIFAR10_CLASSES
from tests.app.test_listing import TEN, _paths, _record
from tests.gui.imagefiles import write_noise_images

CAT = Prediction(Path("a.jpg"), ("cat", "dog"), (0.6, 0.3), (3, 5))


def test_digits_give_a_small_models_classes_and_a_large_ones_top_k():
    assert shortcut_labels(CIFAR10_CLASSES, CAT) == tuple(CIFAR10_CLASSES)
    assert label_for_key("1", shortcut_labels(CIFAR10_CLASSES, None)) == "airplane"
    assert label_for_key("0", CIFAR10_CLASSES) == "truck"  # the tenth
    many = tuple(f"class {n}" for n in range(1000))
    assert shortcut_labels(many, CAT) == ("cat", "dog")
    assert label_for_key("2", ("cat", "dog")) == "dog"
    assert label_for_key("3", ("cat", "dog")) is None
    assert label_for_key("x", ("cat",)) is None
    assert shortcut_labels(many, Prediction(Path("b.jpg"), error="broken")) == ()


def test_typing_names_a_class_case_aside_or_a_new_label():
    assert typed_label("  CAT ", CIFAR10_CLASSES) == "cat"
    assert typed_label("shopping basket", CIFAR10_CLASSES) == "shopping basket"
    with pytest.raises(LabelError):
        typed_label("  ", CIFAR10_CLASSES)
    assert accepted_label(CAT) == "cat"
    assert accepted_label(None) is None


def test_the_undo_history_gives_back_the_newest_first_and_is_bounded():
    history = UndoHistory(depth=2)
    for number in range(3):
        history.push(number, Path(f"{number}.jpg"))
    assert [history.pop(), history.pop(), history.pop()] == [
        (2, Path("2.jpg")),
        (1, Path("1.jpg")),
        None,
    ]


@pytest.fixture
def session(tmp_path: Path):
    opened, _ = ListingSession.open(tmp_path / "catalog.sqlite3")
    yield opened
    opened.close()


def test_labels_go_through_the_listing_and_the_export_gets_their_column(session, tmp_path):
    file = tmp_path / "catalog.sqlite3"
    paths = _paths(6)
    _record(file, TEN, paths)
    list(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]))
    target = tmp_path / "out.csv"
    list(session.serve([ExportCsv(target, False)]))
    assert "label_by_person" not in target.read_text(encoding="utf-8")  # none yet

    events = list(
        session.serve([SetPersonLabel(paths[1], "ten_3"), SetPersonLabel(paths[1], "=x")])
    )
    changes = [event for event in events if isinstance(event, PersonLabelChanged)]
    assert [(c.path, c.label, c.delta) for c in changes] == [
        (paths[1], "ten_3", 1),
        (paths[1], "=x", 0),
    ]
    assert [e.counts.labelled for e in events if isinstance(e, Counted)] == [1]

    assert next(session.serve([ExportCsv(target, False)])) == Exported(target, 6)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0].endswith(",error,label_by_person")
    assert lines[2].endswith(",'=x") and lines[1].endswith(",")  # a formula stays text

    view = next(session.serve([ShowQuery(TableQuery("ten", TEN, top_k=1))]))
    copied = next(session.serve([CopyRows(view.generation, ((0, 2),))])).text.splitlines()
    assert copied[0] == "path,label_1,prob_1,error,label_by_person"
    assert [line.rsplit(",", 1)[1] for line in copied[1:]] == ["", "'=x", ""]
    copied = next(session.serve([CopyRows(view.generation, ((3, 3),))])).text.splitlines()
    assert copied[0] == "path,label_1,prob_1,error"  # no label among the rows copied

    undone = list(session.serve([UndoPersonLabel(changes[1].number, paths[1])]))
    assert undone == [PersonLabelChanged(paths[1], "ten_3", None, 0)]
    undone = list(session.serve([UndoPersonLabel(changes[0].number, paths[1])]))
    assert undone[0] == PersonLabelChanged(paths[1], None, None, -1)
    assert undone[1].counts.labelled == 0
    assert isinstance(
        next(session.serve([UndoPersonLabel(changes[0].number, paths[1])])), LabelRefused
    )
    assert isinstance(next(session.serve([SetPersonLabel(paths[2], "\n")])), LabelRefused)


def test_results_csv_has_the_person_column_only_when_a_person_labelled(
    tmp_path, tiny_weights: Path, capsys
):
    images = write_noise_images(tmp_path / "imgs", 4)
    model = ["--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    fast = ["--device", "cpu", "--precision", "fp32", "--engine", "torch"]
    assert main(["predict", str(tmp_path / "imgs"), *model, *fast]) == 0
    out = tmp_path / "out.csv"
    assert main(["results", str(tmp_path / "imgs"), *model, "--csv", str(out)]) == 0
    assert "label_by_person" not in out.read_text(encoding="utf-8")

    with Catalog.open() as catalog:
        catalog.set_person_label(images[2], "ship")
    assert main(["results", str(tmp_path / "imgs"), *model, "--csv", str(out)]) == 0
    rows = out.read_text(encoding="utf-8").splitlines()
    assert rows[0].endswith(",error,label_by_person")
    by_path = {row.split(",")[0]: row.rsplit(",", 1)[1] for row in rows[1:]}
    assert by_path == {str(path): "ship" if path == images[2] else "" for path in images}
    capsys.readouterr()
    assert main(["results", str(images[2]), *model]) == 0
    assert capsys.readouterr().out.rstrip().endswith("\tlabel_by_person: ship")
