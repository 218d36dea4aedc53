"""Training-time augmentation: random-resized crops of files, pad-crop-flip of batches.

Large inputs are augmented per file while they decode (torchvision's RandomResizedCrop
and a horizontal flip, resampling only the cropped region); whole-image inputs such as
CIFAR's 32x32 are augmented on the uint8 batch at once. torch is imported inside
:func:`pad_crop_flip`, like the other non-network core modules.
"""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resnet_desktop.core import imaging

if TYPE_CHECKING:
    import torch

RRC_SCALE = (0.25, 1.0)  # RandomResizedCrop area range: milder than 0.08 for fine-tuning
RRC_RATIO = (3 / 4, 4 / 3)


def augmented_input(path: Path, crop: int, min_size: int, seed: int) -> np.ndarray | str:
    """RandomResizedCrop + horizontal flip of one file, or why it cannot be decoded."""
    return imaging.array_or_reason(functools.partial(_augment, path, crop, min_size, seed), path)


def _augment(path: Path, crop: int, min_size: int, seed: int) -> np.ndarray:
    from PIL import Image

    image = imaging.open_image(path, min_size=min_size)
    rng = random.Random(seed)
    box = _random_crop_box(image.size, rng)
    resized = image.resize((crop, crop), Image.Resampling.BILINEAR, box, reducing_gap=3.0)
    array = np.asarray(resized, dtype=np.uint8)
    return np.ascontiguousarray(array[:, ::-1]) if rng.random() < 0.5 else np.array(array)


def _random_crop_box(size: tuple[int, int], rng: random.Random) -> tuple[float, ...]:
    """torchvision's RandomResizedCrop box: random area and aspect ratio, else the centre."""
    width, height = size
    area = width * height
    log_ratio = (math.log(RRC_RATIO[0]), math.log(RRC_RATIO[1]))
    for _ in range(10):
        target = area * rng.uniform(*RRC_SCALE)
        ratio = math.exp(rng.uniform(*log_ratio))
        w = round(math.sqrt(target * ratio))
        h = round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left = rng.randint(0, width - w)
            top = rng.randint(0, height - h)
            return (left, top, left + w, top + h)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return (left, top, left + side, top + side)


def pad_crop_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """CIFAR augmentation on a uint8 NHWC batch: zero-pad by crop/8, random crop, flip.

    One gather does the crop and the flip of the whole batch, without a per-image loop.
    """
    import torch
    import torch.nn.functional as F

    n, height, width, _ = images.shape
    pad = max(1, height // 8)
    padded = F.pad(images, (0, 0, pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
    flip = torch.rand(n, 1, generator=generator) < 0.5
    cols = torch.arange(width).expand(n, width)
    cols = torch.where(flip, width - 1 - cols, cols) + dx
    rows = torch.arange(height).expand(n, height) + dy
    return padded[torch.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
