"""Augmentation: random-resized crops of files and pad-crop-flip of uint8 batches."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_desktop.core import augment, imaging
from resnet_desktop.core.augment import augmented_input, pad_crop_flip


def write_gradient(path: Path, size: tuple[int, int] = (60, 40)) -> Path:
    """A grey image that brightens from left to right, so a flip is visible."""
    row = np.linspace(0, 255, size[0]).astype(np.uint8)
    Image.fromarray(np.stack([np.tile(row, (size[1], 1))] * 3, axis=-1)).save(path)
    return path


def test_augmented_input_is_a_seeded_random_crop_or_its_mirror(tmp_path: Path):
    path = write_gradient(tmp_path / "gradient.png")
    outputs = [augmented_input(path, 16, 16, seed) for seed in range(20)]
    assert all(isinstance(o, np.ndarray) and o.shape == (16, 16, 3) for o in outputs)
    assert all(o.dtype == np.uint8 and o.flags.c_contiguous for o in outputs)
    assert np.array_equal(outputs[3], augmented_input(path, 16, 16, 3))
    assert any(not np.array_equal(outputs[0], o) for o in outputs[1:])
    slopes = {np.sign(int(o[8, -1, 0]) - int(o[8, 0, 0])) for o in outputs}
    assert slopes == {-1, 1}  # plain and mirrored crops both occur


def test_augmented_input_gives_a_reason_for_a_broken_file(tmp_path: Path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image at all")
    reason = augmented_input(path, 16, 16, 0)
    assert reason == "not an image, or an image format that is not supported"


def test_a_bug_in_our_code_is_a_row_saying_so_and_is_logged(tmp_path: Path, monkeypatch, caplog):
    path = write_gradient(tmp_path / "gradient.png")

    def broken_resize(*args, **kwargs):
        raise RuntimeError("resampler broke")

    monkeypatch.setattr(Image.Image, "resize", broken_resize)
    reason = augmented_input(path, 16, 16, 0)
    assert reason == f"{imaging.BUG_REASON} (RuntimeError: resampler broke)"
    assert [r.exc_info is not None and str(path) in r.getMessage() for r in caplog.records] == [
        True
    ]


@pytest.mark.parametrize("size", [(60, 40), (40, 60), (33, 33)])
def test_random_crop_boxes_stay_inside_the_image(size: tuple[int, int]):
    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = augment._random_crop_box(size, rng)
        assert 0 <= left < right <= size[0] and 0 <= top < bottom <= size[1]
        area = (right - left) * (bottom - top) / (size[0] * size[1])
        assert augment.RRC_SCALE[0] * 0.8 <= area <= 1.0


def test_random_crop_box_of_a_sliver_is_its_centre_square():
    """No box of the allowed area and aspect ratio fits 7x500: torchvision's fallback."""
    assert augment._random_crop_box((7, 500), random.Random(0)) == (0, 246, 7, 253)


def test_pad_crop_flip_gives_shifted_or_mirrored_crops():
    images = torch.arange(6 * 8 * 8 * 3, dtype=torch.int32).remainder(251).to(torch.uint8)
    images = images.view(6, 8, 8, 3) + 1  # no zero pixels, so padding is recognisable
    out = pad_crop_flip(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (0, 0, 1, 1, 1, 1))
    flipped = 0
    for original, crop in zip(padded, out, strict=True):
        candidates = [original[y : y + 8, x : x + 8] for y in range(3) for x in range(3)]
        plain = any(torch.equal(crop, c) for c in candidates)
        mirror = any(torch.equal(crop, c.flip(1)) for c in candidates)
        assert plain or mirror
        flipped += mirror and not plain
    assert 0 < flipped < 6
