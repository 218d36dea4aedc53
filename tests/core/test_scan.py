"""Scanning: sorted, streamed, each file once, and nothing on disk can make it hang."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PIL import Image

from resnet_desktop.core.imaging import has_image_extension, open_image, scan_images

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX links and FIFOs")


def touch(root: Path, *relatives: str) -> list[Path]:
    """Create empty files (scanning never reads them) and return their paths."""
    paths = []
    for relative in relatives:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        paths.append(path)
    return paths


def scan(*paths: str | os.PathLike[str], **kwargs) -> list[Path]:
    return list(scan_images(paths, **kwargs))


def test_sorted_depth_first_recursive(tmp_path):
    touch(
        tmp_path,
        "b.jpg",
        "a.png",
        "notes.txt",
        "m/z.gif",
        "m/deep/x.webp",
        "m/c.tif",
        "c.bmp",
        "n/only.tiff",
    )
    assert scan(tmp_path) == [
        tmp_path / relative
        for relative in (
            "a.png",
            "b.jpg",
            "c.bmp",
            "m/c.tif",
            "m/deep/x.webp",
            "m/z.gif",
            "n/only.tiff",
        )
    ]


def test_extensions_in_any_case(tmp_path):
    expected = touch(tmp_path, "A.JPG", "B.Jpeg", "C.PNG", "D.WebP", "E.TIFF")
    touch(tmp_path, "F.JPG.txt", "G", "H.jpgx", "I.PSD")
    assert scan(tmp_path) == expected


def test_has_image_extension():
    assert has_image_extension("photo.JPeG")
    assert has_image_extension("/a.b/photo.webp")
    assert not has_image_extension("photo.jpg.txt")
    assert not has_image_extension(".jpg")  # a hidden file named "jpg", not an extension


def test_paths_are_absolute(tmp_path, monkeypatch):
    (expected,) = touch(tmp_path, "album/one.jpg")
    monkeypatch.chdir(tmp_path)
    assert scan("album") == [expected]
    assert scan(Path("album") / "one.jpg") == [expected]
    assert all(path.is_absolute() for path in scan("."))


def test_hidden_files_and_folders_are_skipped(tmp_path):
    expected = touch(tmp_path, "sub/seen.png", "visible.jpg")
    touch(tmp_path, ".hidden.jpg", ".cache/thumb.jpg", "sub/.git/objects/x.png")
    assert scan(tmp_path) == expected


def test_hidden_paths_named_explicitly_are_taken(tmp_path):
    hidden_file, in_hidden_folder = touch(tmp_path, ".secret.jpg", ".album/a.jpg")
    assert scan(hidden_file) == [hidden_file]
    assert scan(tmp_path / ".album") == [in_hidden_folder]


def test_explicit_file_needs_an_image_extension(tmp_path):
    image, text = touch(tmp_path, "a.JPG", "a.txt")
    assert scan(image, text) == [image]


def test_arguments_keep_their_order(tmp_path):
    first, second = touch(tmp_path, "z/late.jpg", "a/early.jpg")
    assert scan(tmp_path / "z", tmp_path / "a") == [first, second]


def test_each_file_once(tmp_path):
    a, b = touch(tmp_path, "a.jpg", "sub/b.jpg")
    assert scan(a, a) == [a]
    assert scan(a, tmp_path) == [a, b]
    assert scan(tmp_path, a, tmp_path / "sub", tmp_path) == [a, b]


def test_missing_path_raises_before_anything_is_yielded(tmp_path):
    touch(tmp_path, "a.jpg")
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        scan_images([tmp_path, missing])  # at the call, not at the first next()


def test_missing_paths_are_counted(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"gone1 \(and 1 more\)"):
        scan(tmp_path / "gone1", tmp_path / "gone2")


@posix_only
@pytest.mark.timeout(10)
def test_symlink_loop_terminates(tmp_path):
    (image,) = touch(tmp_path, "a/b/photo.jpg")
    (tmp_path / "a/b/up").symlink_to(tmp_path / "a")
    (tmp_path / "a/self").symlink_to(".")
    assert scan(tmp_path) == [image]


@posix_only
def test_symlinked_folder_keeps_its_path_and_is_walked_once(tmp_path):
    (image,) = touch(tmp_path, "real/photo.jpg")
    (tmp_path / "alias").symlink_to(tmp_path / "real")
    # "alias" sorts before "real": the file is listed once, under the path found first.
    assert scan(tmp_path) == [tmp_path / "alias" / "photo.jpg"]
    assert scan(tmp_path / "real", tmp_path / "alias") == [image]


@posix_only
def test_symlinked_file_is_listed_once(tmp_path):
    (image,) = touch(tmp_path, "photo.jpg")
    (tmp_path / "link.jpg").symlink_to(image)
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "gone.jpg")
    assert scan(tmp_path) == [tmp_path / "link.jpg"]


@posix_only
@pytest.mark.timeout(10)
def test_fifo_is_skipped_without_hanging(tmp_path):
    (image,) = touch(tmp_path, "a.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    assert scan(tmp_path) == [image]
    assert scan(tmp_path / "pipe.jpg") == []


@pytest.mark.skipif(sys.platform != "linux", reason="Linux stores any bytes as a file name")
def test_non_utf8_name_is_found_and_decodes(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.jpg"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(raw, format="JPEG")
    (found,) = scan(tmp_path)
    assert os.fsencode(found) == raw
    assert open_image(found).size == (8, 8)


def test_unreadable_folder_is_skipped(tmp_path, monkeypatch, caplog):
    a, _, c = touch(tmp_path, "a/1.jpg", "b/2.jpg", "c/3.jpg")
    real_scandir = os.scandir

    def scandir(path):
        if os.path.basename(path) == "b":
            raise PermissionError(13, "Permission denied", path)
        return real_scandir(path)

    # Root may read any folder whatever its mode, so simulate the refusal.
    monkeypatch.setattr(os, "scandir", scandir)
    assert scan(tmp_path) == [a, c]
    assert "Permission denied" in caplog.text


def test_results_stream_before_the_walk_ends(tmp_path):
    touch(tmp_path, *(f"{folder}/photo.jpg" for folder in "abcdefgh"))
    polls = 0

    def count_polls() -> bool:
        nonlocal polls
        polls += 1
        return False

    iterator = scan_images([tmp_path], should_stop=count_polls)
    assert next(iterator) == tmp_path / "a/photo.jpg"
    assert polls == 3  # the argument, the root folder, folder "a"; not all eight


def test_should_stop_stops_between_folders(tmp_path):
    touch(tmp_path, *(f"{folder}/photo.jpg" for folder in "abcdefgh"))
    polls = 0

    def stop_after_four() -> bool:
        nonlocal polls
        polls += 1
        return polls > 4

    found = scan(tmp_path, should_stop=stop_after_four)
    assert found == [tmp_path / f"{folder}/photo.jpg" for folder in "ab"]


def test_should_stop_at_once_yields_nothing(tmp_path):
    touch(tmp_path, "a.jpg")
    assert scan(tmp_path, should_stop=lambda: True) == []


@pytest.mark.shared
def test_imagenet_samples_are_all_found(shared):
    folder = shared("data/imagenet-samples")
    found = scan(folder)
    assert len(found) == 1000
    assert found == sorted(found)
    assert found[0].name == min(os.listdir(folder))
