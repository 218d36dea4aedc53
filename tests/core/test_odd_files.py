"""Real data through the whole CLI: odd encodings of a photo keep its label, broken
files become error rows, and the run goes on."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from resnet_desktop.cli import main

WEIGHTS = "weights/cifar10-resnet/resnet20-12fca82f.th"
SOURCE = "data/cifar10-test/horse/0000.jpg"


def _variants(photo: Image.Image, folder: Path) -> None:
    """The same 32x32 photo stored in every way the decoder must understand."""
    photo.save(folder / "plain.png")
    photo.save(folder / "UPPER.JPG", quality=95)
    photo.save(folder / "bitmap.bmp")
    photo.save(folder / "lossless.webp", lossless=True)
    photo.save(folder / "scan.tiff")
    photo.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    photo.convert("RGBA").save(folder / "alpha.png")
    photo.quantize(256).save(folder / "palette.gif")
    big = photo.resize((256, 256), Image.Resampling.LANCZOS)
    big.save(folder / "large.jpg", quality=95)
    sixteen = Image.fromarray(np.asarray(photo.convert("L")).astype(np.uint16) * 257)
    sixteen.save(folder / "sixteen_bit_gray.png")
    rotated = photo.rotate(90, expand=True)  # stored sideways, EXIF says: turn it back
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated.save(folder / "exif_rotated.jpg", exif=exif, quality=95)
    frames = [photo, Image.new("RGB", photo.size, (0, 0, 255))]
    frames[0].save(folder / "animated.gif", save_all=True, append_images=frames[1:])


def _broken(folder: Path, photo_bytes: bytes) -> set[str]:
    (folder / "truncated.jpg").write_bytes(photo_bytes[: len(photo_bytes) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("these are not pixels", encoding="utf-8")
    Image.new("RGB", (40, 40)).save(folder / "document.jpg", "PDF")
    return {"truncated.jpg", "empty.png", "notes.jpg", "document.jpg"}


def test_odd_encodings_keep_the_label_and_broken_files_are_error_rows(shared, tmp_path: Path):
    source = shared(SOURCE)
    with Image.open(source) as image:
        photo = image.convert("RGB")
    folder = tmp_path / "odd"
    folder.mkdir()
    _variants(photo, folder)
    broken = _broken(folder, source.read_bytes())
    out = tmp_path / "out.csv"
    code = main(["predict", str(folder), "--model", "cifar_resnet20", "--weights",
                 str(shared(WEIGHTS)), "--precision", "fp32", "--csv", str(out)])  # fmt: skip
    assert code == 3
    with open(out, encoding="utf-8", newline="") as handle:
        rows = {Path(row["path"]).name: row for row in csv.DictReader(handle)}
    assert {name for name, row in rows.items() if row["error"]} == broken
    labels = {name: row["label_1"] for name, row in rows.items() if not row["error"]}
    assert len(labels) == 12
    assert labels == dict.fromkeys(labels, "horse")
