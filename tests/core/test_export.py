"""The CSV writer: columns, spreadsheet safety, exact paths, atomic replacement."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest

from resnet_desktop.core.export import (
    csv_header,
    csv_target_problem,
    csv_text,
    terminal_safe,
    write_csv,
)
from resnet_desktop.core.predictor import Prediction


def _read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_header_names_every_rank():
    assert csv_header(2) == ["path", "label_1", "prob_1", "label_2", "prob_2", "error"]


def test_rows_hold_probabilities_and_errors(tmp_path: Path):
    good = Prediction(tmp_path / "a.jpg", ("cat", "dog"), (0.75, 0.25), (3, 5))
    bad = Prediction(tmp_path / "b.jpg", error="truncated image\nsecond line")
    out = tmp_path / "out.csv"
    assert write_csv(out, [good, bad], top_k=2) == 2
    rows = _read(out)
    assert rows[1] == [str(tmp_path / "a.jpg"), "cat", "0.750000", "dog", "0.250000", ""]
    assert rows[2] == [str(tmp_path / "b.jpg"), "", "", "", "", "truncated image second line"]


def test_decision_comes_before_the_extra_columns(tmp_path: Path):
    """A model with a threshold and a person's labels: both columns, in a fixed order."""
    sure = Prediction(tmp_path / "a.jpg", ("cat",), (0.9,), (0,))
    unsure = Prediction(tmp_path / "b.jpg", ("dog",), (0.2,), (1,))
    text = csv_text(
        [(sure, ("cat",)), (unsure, ("",))],
        top_k=1,
        extra=("label_by_person",),
        decide=lambda p: p.labels[0] if p.probs[0] >= 0.5 else "unknown",
    )
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["path", "label_1", "prob_1", "error", "decision", "label_by_person"]
    assert [row[4:] for row in rows[1:]] == [["cat", "cat"], ["unknown", ""]]


def test_fewer_classes_than_k_leave_cells_empty(tmp_path: Path):
    row = csv_text([Prediction(tmp_path / "a.png", ("x",), (1.0,), (0,))], top_k=3)
    assert list(csv.reader(io.StringIO(row, newline="")))[1][3:] == ["", "", "", "", ""]


@pytest.mark.parametrize("label", ["=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"])
def test_formula_cells_are_neutralised(tmp_path: Path, label: str):
    text = csv_text([Prediction(tmp_path / "a.png", (label,), (0.5,), (0,))], top_k=1)
    assert list(csv.reader(io.StringIO(text, newline="")))[1][1] == "'" + label


def test_utf8_names_round_trip_exactly(tmp_path: Path):
    name = tmp_path / 'été, "quoted"\nline 日本.jpg'
    text = csv_text([Prediction(name, ("a",), (0.5,), (0,))], top_k=1)
    assert list(csv.reader(io.StringIO(text, newline="")))[1][0] == str(name)


def test_undecodable_bytes_become_visible_escapes(tmp_path: Path):
    name = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.jpg"))
    out = tmp_path / "out.csv"
    write_csv(out, [Prediction(name, error="x")], top_k=1)
    assert _read(out)[1][0].endswith("caf\\xe9.jpg")


@pytest.mark.skipif(os.sep == "\\", reason="a backslash separates folders on Windows")
def test_a_real_byte_and_its_escape_text_are_written_differently(tmp_path: Path):
    byte = Path(os.fsdecode(os.fsencode(tmp_path) + b"/\xff.jpg"))
    text = tmp_path / "\\xff.jpg"
    backslash = tmp_path / "a\\b.jpg"
    rows = _read_text(csv_text([Prediction(p, error="x") for p in (byte, text, backslash)], 1))
    assert [row[0] for row in rows[1:]] == [
        f"{tmp_path}/\\xff.jpg",
        f"{tmp_path}/\\\\xff.jpg",
        f"{tmp_path}/a\\\\b.jpg",
    ]


def _read_text(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2Jcleared", "\\x1b[2Jcleared"),
        ("bell\x07\x9b", "bell\\x07\\x9b"),
        ("tab\tnew\nline", "tab\\x09new\\x0aline"),
        ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
        ("été 日本", "été 日本"),
    ],
)
def test_terminal_safe_escapes_what_a_terminal_acts_on(text, shown):
    assert terminal_safe(text) == shown


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("in.png", "is one of the images to classify"),
        ("other.JPG", "is an image file name"),
        ("photo", "is an image file"),
        ("results.csv", ""),
        ("notes", ""),
    ],
)
def test_csv_targets_that_would_destroy_an_image(tmp_path: Path, target, problem):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "in.png")
    Image.new("RGB", (4, 4)).save(tmp_path / "photo", "JPEG")
    (tmp_path / "notes").write_text("text", encoding="utf-8")
    found = csv_target_problem(tmp_path / target, [tmp_path / "in.png"])
    assert (problem in found) and bool(found) == bool(problem)


def test_relative_paths_are_written_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    text = csv_text([Prediction(Path("img.png"), error="x")], top_k=1)
    assert list(csv.reader(io.StringIO(text, newline="")))[1][0] == str(tmp_path / "img.png")


def test_failed_export_keeps_the_old_file(tmp_path: Path):
    out = tmp_path / "out.csv"
    out.write_text("old contents", encoding="utf-8")

    def predictions():
        yield Prediction(tmp_path / "a.png", ("a",), (1.0,), (0,))
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_csv(out, predictions(), top_k=1)
    assert out.read_text(encoding="utf-8") == "old contents"
    assert os.listdir(tmp_path) == ["out.csv"]
