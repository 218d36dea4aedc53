"""Turning a dataset split into training batches: decoding, augmentation, feature caches.

Inputs travel as uint8 NHWC batches and are normalised on the device, as in the
predictor. Small images (CIFAR's 32x32) are decoded once into one uint8 tensor and
augmented on the whole batch (pad, crop, flip); larger ones are decoded per batch in a
thread pool a few batches ahead (random-resized crop + flip per file), which bounds
memory. A file that fails to decode is recorded once and skipped.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from resnet_desktop.core import imaging
from resnet_desktop.core.dataset import Sample
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.predictor import decode_or_reason
from resnet_desktop.core.train_config import StageProgress, is_small_input
from resnet_desktop.core.zoo import Preprocess

PREFETCH_BATCHES = 2  # batches decoded ahead of the network when streaming
RRC_SCALE = (0.25, 1.0)  # RandomResizedCrop area range: milder than 0.08 for fine-tuning
RRC_RATIO = (3 / 4, 4 / 3)

StopCheck = Callable[[], bool]


# ------------------------------------------------------------------------- image sources


def augmented_input(path: Path, crop: int, min_size: int, seed: int) -> np.ndarray | str:
    """RandomResizedCrop + horizontal flip of one file, or why it cannot be decoded."""
    from PIL import Image

    try:
        image = imaging.open_image(path, min_size=min_size)
    except imaging.DecodeError as error:  # the only exception open_image raises
        return str(error)
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


@dataclass
class Batch:
    images: torch.Tensor  # uint8 NHWC on the CPU
    labels: torch.Tensor
    indices: torch.Tensor  # positions in the source's sample list
    requested: int  # samples this batch covers, failed ones included (progress)


class ImageSource:
    """Decoded network inputs for a list of samples; decode failures are recorded once."""

    def __init__(
        self,
        samples: Sequence[Sample],
        preprocess: Preprocess,
        workers: int,
        skipped: dict[Path, str],
    ) -> None:
        self.samples = list(samples)
        self.preprocess = preprocess
        self.workers = workers
        self.skipped = skipped
        self.memory: tuple[torch.Tensor, torch.Tensor] | None = None  # (images, indices)

    @property
    def usable(self) -> int:
        if self.memory is not None:
            return len(self.memory[1])
        return sum(1 for sample in self.samples if sample.path not in self.skipped)

    def load(self, stop: StopCheck) -> Iterator[StageProgress]:
        """Decode every sample once into memory (small inputs); progress per batch."""
        images: list[np.ndarray] = []
        kept: list[int] = []
        done, total = 0, len(self.samples)
        for batch in self.batches(list(range(total)), 256, stop):
            images.extend(batch.images.numpy())
            kept.extend(batch.indices.tolist())
            done += batch.requested
            yield StageProgress("loading images", done, total)
        if not stop():
            crop = self.preprocess.crop
            stacked = np.stack(images) if images else np.zeros((0, crop, crop, 3), np.uint8)
            self.memory = (torch.from_numpy(stacked), torch.tensor(kept, dtype=torch.long))

    def batches(
        self,
        order: Sequence[int],
        batch_size: int,
        stop: StopCheck,
        augment_seeds: Sequence[int] | None = None,
    ) -> Iterator[Batch]:
        """uint8 batches in ``order``; per-file seeds turn on RandomResizedCrop + flip."""
        if self.memory is not None:
            yield from self._memory_batches(order, batch_size)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="train-decode") as pool:
            try:
                yield from self._decoded_batches(pool, order, batch_size, stop, augment_seeds)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _memory_batches(self, order: Sequence[int], batch_size: int) -> Iterator[Batch]:
        assert self.memory is not None
        images, indices = self.memory
        position = {int(index): row for row, index in enumerate(indices)}
        rows = torch.tensor([position[i] for i in order if i in position], dtype=torch.long)
        labels = torch.tensor([s.label for s in self.samples], dtype=torch.long)
        for chunk in rows.split(batch_size):
            chosen = indices[chunk]
            yield Batch(images[chunk], labels[chosen], chosen, len(chunk))

    def _decoded_batches(
        self,
        pool: ThreadPoolExecutor,
        order: Sequence[int],
        batch_size: int,
        stop: StopCheck,
        seeds: Sequence[int] | None,
    ) -> Iterator[Batch]:
        pending: deque[Future[np.ndarray | str]] = deque()
        ahead = batch_size * (PREFETCH_BATCHES + 1)
        submitted = carried = 0
        for begin in range(0, len(order), batch_size):
            while submitted < min(len(order), begin + ahead):
                pending.append(self._submit(pool, order[submitted], seeds, submitted))
                submitted += 1
            chunk = order[begin : begin + batch_size]
            decoded = [pending.popleft().result() for _ in chunk]
            if stop():
                return
            carried += len(chunk)
            batch = self._assemble(chunk, decoded, carried)
            if batch is not None:
                carried = 0
                yield batch

    def _submit(
        self, pool: ThreadPoolExecutor, index: int, seeds: Sequence[int] | None, position: int
    ) -> Future[np.ndarray | str]:
        path = self.samples[index].path
        if seeds is None:
            return pool.submit(decode_or_reason, path, self.preprocess)
        min_size = self.preprocess.resize or self.preprocess.crop
        return pool.submit(augmented_input, path, self.preprocess.crop, min_size, seeds[position])

    def _assemble(
        self, chunk: Sequence[int], decoded: list[np.ndarray | str], requested: int
    ) -> Batch | None:
        good: list[int] = []
        arrays: list[np.ndarray] = []
        for index, item in zip(chunk, decoded, strict=True):
            if isinstance(item, str):
                self.skipped.setdefault(self.samples[index].path, item)
            else:
                good.append(index)
                arrays.append(item)
        if not good:
            return None
        labels = [self.samples[i].label for i in good]
        return Batch(
            torch.from_numpy(np.stack(arrays)),
            torch.tensor(labels, dtype=torch.long),
            torch.tensor(good, dtype=torch.long),
            requested,
        )


def pad_crop_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """CIFAR augmentation on a uint8 NHWC batch: zero-pad by crop/8, random crop, flip.

    One gather does the crop and the flip of the whole batch, without a per-image loop.
    """
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


# ------------------------------------------------------------------------- feeders


class Feeder:
    """Batches of (network input, labels, sample indices) on the device."""

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(
        self, batch_size: int, train: bool, stop: StopCheck
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        raise NotImplementedError


class ImageFeeder(Feeder):
    def __init__(
        self, source: ImageSource, normalize: Normalizer, augment: bool, seed: int
    ) -> None:
        self.source = source
        self.normalize = normalize
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = random.Random(seed)
        self.small = is_small_input(source.preprocess)

    def __len__(self) -> int:
        return self.source.usable

    def batches(
        self, batch_size: int, train: bool, stop: StopCheck
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        count = len(self.source.samples)
        order = torch.randperm(count, generator=self.generator).tolist() if train else range(count)
        augment = train and self.augment
        seeds = [self.rng.getrandbits(32) for _ in order] if augment and not self.small else None
        device = self.normalize.device
        for batch in self.source.batches(list(order), batch_size, stop, seeds):
            images = (
                pad_crop_flip(batch.images, self.generator)
                if augment and self.small
                else batch.images
            )
            if device.type == "cuda":
                images = images.pin_memory()
            yield self.normalize(images), batch.labels.to(device), batch.indices


class FeatureFeeder(Feeder):
    def __init__(
        self, features: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, seed: int
    ) -> None:
        self.features, self.labels, self.indices = features, labels, indices
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.indices)

    def batches(
        self, batch_size: int, train: bool, stop: StopCheck
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        order = (
            torch.randperm(len(self), generator=self.generator)
            if train
            else torch.arange(len(self))
        )
        for rows in order.split(batch_size):
            if stop():
                return
            on_device = rows.to(self.features.device)
            yield self.features[on_device], self.labels[on_device], self.indices[rows]
