"""Words about folders and files: scan reports, file labels, the detail panel's facts."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from resnet_desktop.app.file_facts import describe, facts_job, format_size
from resnet_desktop.app.file_names import FileNames
from resnet_desktop.app.scan_report import ScanSummary
from resnet_desktop.core.imaging import FileFacts, ScanTally, file_facts, scan_images


def test_a_scan_counts_what_it_skips(tmp_path: Path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".cache").mkdir()
    for name in ("a.txt", "sub/b.TXT", "c", "d.pdf", ".e.jpg", ".cache/f.jpg"):
        (tmp_path / name).write_text("x")
    (tmp_path / "g.jpg").write_bytes(b"x")
    tally = ScanTally()
    assert list(scan_images([tmp_path], tally=tally)) == [tmp_path / "g.jpg"]
    assert tally.not_images == Counter({".txt": 2, "": 1, ".pdf": 1})
    assert tally.hidden == 2  # .e.jpg and the .cache folder (not what is inside)


def test_a_file_named_on_its_own_that_is_not_an_image_is_counted(tmp_path: Path):
    (tmp_path / "notes.md").write_text("x")
    tally = ScanTally()
    assert list(scan_images([tmp_path / "notes.md"], tally=tally)) == []
    assert tally.not_images == Counter({".md": 1})


@pytest.mark.parametrize(
    ("found", "tally", "message"),
    [
        (0, ScanTally(), "No images found in /p: it is empty"),
        (0, ScanTally(Counter({".txt": 3}), 1), "No images found in /p: 4 files skipped: "
         "3 not images (.txt), 1 hidden"),
        (0, ScanTally(Counter({".a": 5, ".b": 4, ".c": 3, ".d": 2, "": 1})),
         "No images found in /p: 15 files skipped: 15 not images (.a, .b, .c, .d, …)"),
        (0, ScanTally(unreadable=2), "No images found in /p: 2 folders could not be read"),
        (1, ScanTally(), "1 image added"),
        (7, ScanTally(Counter({"": 1})), "7 images added; 1 file skipped: 1 not images "
         "(no extension)"),
    ],
)  # fmt: skip
def test_scan_summaries_say_what_was_found_and_skipped(found, tally, message):
    assert ScanSummary((Path("/p"),), found, tally).message() == message


def test_file_labels_are_relative_to_the_opened_folders():
    names = FileNames()
    photo = Path("/home/me/photos/2023/0008.jpg")
    assert names.label(photo) == "0008.jpg"  # nothing opened: the name
    names.set_roots([Path("/home/me/photos")])
    assert names.label(photo) == "2023/0008.jpg"
    names.add_root(Path("/home/me/scans"))
    assert names.label(photo) == "photos/2023/0008.jpg"  # two folders: which one
    assert names.label(Path("/elsewhere/x.jpg")) == "x.jpg"
    names.add_root(Path("/home/me/scans"))
    assert len(names.roots) == 2


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 bytes"), (999, "999 bytes"), (1000, "1.0 KB"), (2_400_000, "2.4 MB"),
     (3 * 10**12, "3.0 TB")],
)  # fmt: skip
def test_sizes_read_as_a_file_manager_shows_them(size: int, text: str):
    assert format_size(size) == text


def test_facts_of_a_rotated_photo_are_upright(tmp_path: Path):
    from PIL import Image

    path = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90°
    Image.new("RGB", (60, 40)).save(path, exif=exif)
    os.utime(path, (0, 1_700_000_000))
    facts = file_facts(path)
    assert facts.dimensions == (40, 60)
    assert facts.size == path.stat().st_size
    assert describe(facts).startswith(f"{format_size(facts.size)} · 40 × 60 px · 2023-11-")


def test_facts_of_a_broken_or_missing_file(tmp_path: Path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    assert file_facts(broken).dimensions is None
    assert describe(FileFacts(10, 0.0, None)).count("·") == 1  # size and date only
    [(path, text)] = list(facts_job(tmp_path / "gone.jpg")(lambda: False))
    assert path == tmp_path / "gone.jpg"
    assert text == "Cannot read the file: No such file or directory"
