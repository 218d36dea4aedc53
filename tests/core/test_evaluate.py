"""Metrics and ``evaluate`` on labelled folders, through the core and the command line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from resnet_desktop.cli import main
from resnet_desktop.commands import evaluate as evaluate_command
from resnet_desktop.core.evaluate import (
    EvalEvent,
    EvalProgress,
    EvalReport,
    EvaluationError,
    accuracy_of,
    build_report,
    class_metrics,
    confusion_csv_path,
    confusion_matrix,
    evaluate,
    labelled_images,
    write_report_csv,
)
from resnet_desktop.core.runtime import RuntimeOptions
from tests.helpers import colour_model, write_class_folders

# colour_model's classes are red, green, blue: not the sorted folder order, on purpose.


def test_confusion_matrix_precision_and_recall():
    true = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 2, 2]
    confusion = confusion_matrix(true, predicted, 4)
    assert confusion == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert accuracy_of(confusion) == pytest.approx(4 / 6)
    metrics = class_metrics(confusion, ["a", "b", "c", "d"])
    assert [(m.precision, m.recall, m.support) for m in metrics] == [
        (1.0, pytest.approx(2 / 3), 3),
        (0.5, 0.5, 2),
        (0.5, 1.0, 1),
        (0.0, 0.0, 0),
    ]
    assert accuracy_of(confusion_matrix([], [], 2)) == 0.0


def test_report_lists_misclassified_images_and_is_json_safe():
    paths = [Path(f"/x/{i}.png") for i in range(4)]
    report = build_report(["cat", "dog"], [0, 0, 1, 1], [0, 1, 1, 0], [0.9, 0.6, 0.8, 0.7], paths)
    assert report.total == 4 and report.accuracy == 0.5
    assert [(m.path.name, m.true_label, m.predicted_label, m.probability)
            for m in report.misclassified] == [("1.png", "cat", "dog", 0.6),
                                               ("3.png", "dog", "cat", 0.7)]  # fmt: skip
    data = json.loads(json.dumps(report.to_dict(max_misclassified=1)))
    assert data["misclassified_count"] == 2 and len(data["misclassified"]) == 1
    assert data["per_class"][1] == {"name": "dog", "precision": 0.5, "recall": 0.5, "support": 2}


def test_labelled_images_map_folders_to_the_model_class_indices(tmp_path: Path):
    write_class_folders(tmp_path, 2)
    write_class_folders(tmp_path / ".trash", 1)
    items = labelled_images(tmp_path, ["red", "green", "blue", "unused"])
    assert [(p.parent.name, label) for p, label in items] == [
        ("blue", 2), ("blue", 2), ("green", 1), ("green", 1), ("red", 0), ("red", 0),
    ]  # fmt: skip


def test_folders_that_are_not_classes_of_the_model_are_an_error(tmp_path: Path):
    write_class_folders(tmp_path, 1, {"red": (200, 0, 0), "cyan": (0, 200, 200), "pink": (1, 2, 3)})
    with pytest.raises(EvaluationError, match="cyan, pink") as error:
        labelled_images(tmp_path, ["red", "green", "blue"])
    assert "red, green, blue" in str(error.value)


def test_evaluate_counts_mistakes_and_skips_unreadable_files(tmp_path: Path):
    write_class_folders(tmp_path, 4)
    shutil.copy(tmp_path / "blue" / "000.png", tmp_path / "red" / "really_blue.png")
    (tmp_path / "green" / "broken.png").write_bytes(b"not an image")
    items = list(evaluate(colour_model(), tmp_path, RuntimeOptions(precision="fp32", batch_size=5)))
    assert all(isinstance(i, EvalProgress) for i in items[:-1]) and len(items) == 4  # 14 files
    assert all(isinstance(i, EvalEvent) for i in items)
    report = items[-1]
    assert isinstance(report, EvalReport) and not report.cancelled
    assert report.class_names == ["red", "green", "blue"]
    assert report.total == 13 and report.accuracy == pytest.approx(12 / 13)
    assert report.confusion == [[4, 0, 1], [0, 4, 0], [0, 0, 4]]
    assert [(m.path.name, m.true_label, m.predicted_label) for m in report.misclassified] == [
        ("really_blue.png", "red", "blue")
    ]
    assert [e.path.name for e in report.errors] == ["broken.png"]
    assert [m.support for m in report.per_class] == [5, 4, 4]


def test_evaluate_can_be_cancelled(tmp_path: Path):
    write_class_folders(tmp_path, 10)
    seen: list[object] = []
    runtime = RuntimeOptions(batch_size=4)
    for item in evaluate(colour_model(), tmp_path, runtime, should_stop=lambda: bool(seen)):
        seen.append(item)
    report = seen[-1]
    assert len(seen) == 2 and isinstance(report, EvalReport)
    assert report.cancelled and 0 < report.total < 30


def test_cli_evaluate_prints_accuracy_table_and_confusion(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate_command, "load_model", lambda *_, **__: colour_model())
    write_class_folders(tmp_path, 3)
    assert main(["evaluate", str(tmp_path), "--model", "colours", "--precision", "fp32"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 100.00% (9 of 9 images)" in out
    assert "confusion matrix" in out and "misclassified: 0" in out
    assert "  0. red" in out and "blue" in out


def test_cli_evaluate_exit_codes(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate_command, "load_model", lambda *_, **__: colour_model())
    write_class_folders(tmp_path, 2)
    (tmp_path / "red" / "broken.png").write_bytes(b"junk")
    assert main(["evaluate", str(tmp_path), "--model", "colours"]) == 3
    assert "unreadable (not counted): 1" in capsys.readouterr().out
    (tmp_path / "cyan").mkdir()
    assert main(["evaluate", str(tmp_path), "--model", "colours"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: folder names that are not classes") and "Traceback" not in err


def test_cli_evaluate_unknown_model(tmp_path: Path, capsys):
    write_class_folders(tmp_path, 1)
    assert main(["evaluate", str(tmp_path), "--model", "no-such-model"]) == 1
    assert "error: unknown model" in capsys.readouterr().err


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_report_csv_holds_per_class_metrics_and_the_confusion_matrix(tmp_path: Path):
    names = ["cat", "=dog", "bird"]  # a name a spreadsheet would run as a formula
    report = build_report(names, [0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2])
    metrics_path, confusion_path = write_report_csv(report, tmp_path / "out" / "report.csv")
    assert metrics_path == tmp_path / "out" / "report.csv"
    assert (
        confusion_path
        == confusion_csv_path(metrics_path)
        == tmp_path / "out" / ("report-confusion.csv")
    )
    rows = read_csv(metrics_path)
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert [row[0] for row in rows[1:4]] == ["cat", "'=dog", "bird"]
    cat = [float(value) for value in rows[1][1:4]]
    assert cat == pytest.approx([1.0, 2 / 3, 0.8], abs=1e-6)  # F1 = 2PR / (P + R)
    assert rows[2][1:] == ["0.500000", "0.500000", "0.500000", "2"]
    assert rows[4][1:] == ["0.666667"] * 3 + ["6"]  # all images: the accuracy, 4 of 6
    confusion = read_csv(confusion_path)
    assert confusion[0][1:] == ["cat", "'=dog", "bird"]
    assert [row[1:] for row in confusion[1:]] == [["2", "1", "0"], ["0", "1", "1"], ["0", "0", "1"]]
    assert sorted(p.name for p in metrics_path.parent.iterdir()) == [
        "report-confusion.csv",
        "report.csv",
    ]  # no temporary files left


def test_f1_of_a_class_never_predicted_nor_present_is_zero():
    (metrics,) = class_metrics([[0]], ["empty"])
    assert metrics.f1 == 0.0


def test_report_csv_refuses_image_names_and_folders(tmp_path: Path):
    report = build_report(["a", "b"], [0, 1], [0, 1])
    with pytest.raises(EvaluationError, match="image file name"):
        write_report_csv(report, tmp_path / "photo.jpg")
    (tmp_path / "taken-confusion.csv").mkdir()
    with pytest.raises(EvaluationError, match="is a folder"):
        write_report_csv(report, tmp_path / "taken.csv")
    assert not (tmp_path / "taken.csv").exists()


def test_cli_evaluate_saves_the_report(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(evaluate_command, "load_model", lambda *_, **__: colour_model())
    folder = write_class_folders(tmp_path / "images", 2)
    out = tmp_path / "report.csv"
    assert main(["evaluate", str(folder), "--model", "colours", "--report", str(out)]) == 0
    assert "report saved:" in capsys.readouterr().err
    assert [row[0] for row in read_csv(out)[1:4]] == ["red", "green", "blue"]
    assert read_csv(out)[-1][-1] == "6"
    assert len(read_csv(confusion_csv_path(out))) == 4


def test_cli_evaluate_refuses_a_bad_report_target_before_running(tmp_path: Path, capsys):
    loaded: list[object] = []
    folder = write_class_folders(tmp_path / "images", 1)
    args = ["evaluate", str(folder), "--model", "colours", "--report", str(tmp_path / "x.png")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate_command, "load_model", lambda *a, **k: loaded.append(a))
        assert main(args) == 1
    assert not loaded and "not writing --report" in capsys.readouterr().err
