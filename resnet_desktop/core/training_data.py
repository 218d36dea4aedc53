"""Turning a dataset split into training batches: image sources, feeders, batch sizes.

Inputs travel as uint8 NHWC batches and are normalised on the device, as in the
predictor. Small images (CIFAR's 32x32) are decoded once into one uint8 tensor and
augmented on the whole batch (pad, crop, flip); larger ones are decoded per batch in a
thread pool a few batches ahead (random-resized crop + flip per file), which bounds
memory; :mod:`~resnet_desktop.core.augment` does both augmentations. A file that fails
to decode is recorded once and skipped. The head strategy's cached backbone features
are served by :class:`FeatureFeeder`.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import numpy as np
import torch

from resnet_desktop.core.augment import augmented_input, pad_crop_flip
from resnet_desktop.core.dataset import Sample
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.predictor import decode_or_reason
from resnet_desktop.core.prefetch import batches_ahead
from resnet_desktop.core.train_config import Stage, StageProgress, TrainingError, is_small_input
from resnet_desktop.core.zoo import Preprocess

PREFETCH_BATCHES = 2  # batches decoded ahead of the network when streaming
MEMORY_BUDGET = 1 << 30  # bytes of decoded uint8 images kept in memory at most
FEATURE_CHUNK_ROWS = 4096  # cached features gathered at once (a batch at least)

StopCheck = Callable[[], bool]
Item = TypeVar("Item")
Value = TypeVar("Value")


# ------------------------------------------------------------------------- batch size


@dataclass
class BatchSize:
    """A batch size that halves after a CUDA out-of-memory error."""

    value: int
    last: int = 0  # length of the latest batch, which may be shorter than ``value``

    def halve(self) -> None:
        failed = min(self.value, self.last or self.value)
        if failed == 1:
            raise TrainingError(
                "out of GPU memory even with one image per batch; choose a smaller model, "
                "the 'head' strategy, or the CPU"
            )
        self.value = failed // 2
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class BatchSizes:
    """Images per training step, per inference batch, and per validation batch."""

    train: BatchSize
    infer: BatchSize  # through the backbone: decoded images, or images to cache features of
    val: BatchSize  # ``infer`` itself for images; larger on cached features


def retrying(
    make: Callable[[], Generator[Item, None, Value]],
    size: BatchSize,
    on_retry: Callable[[], None] | None = None,
) -> Generator[Item, None, Value]:
    """Run the phase ``make()``; on CUDA out-of-memory halve ``size`` and run it again.

    ``on_retry`` clears what the failed attempt left behind (gradients) first.
    """
    while True:
        try:
            return (yield from make())
        except torch.OutOfMemoryError:
            if on_retry is not None:
                on_retry()
            size.halve()


# ------------------------------------------------------------------------- image sources


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

    def fits_in_memory(self, augmented: bool) -> bool:
        """Small inputs always (augmented on tensors); large ones only when not augmented."""
        crop = self.preprocess.crop
        fits = len(self.samples) * crop * crop * 3 <= MEMORY_BUDGET
        return fits and (is_small_input(self.preprocess) or not augmented)

    def load(self, stop: StopCheck) -> Iterator[StageProgress]:
        """Decode every sample once into memory (small inputs); progress per batch."""
        images: list[np.ndarray] = []
        kept: list[int] = []
        done, total = 0, len(self.samples)
        for batch in self.batches(list(range(total)), 256, stop):
            images.extend(batch.images.numpy())
            kept.extend(batch.indices.tolist())
            done += batch.requested
            yield StageProgress(Stage.LOADING_IMAGES, done, total)
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
        calls = [self._decode_call(index, seeds, position) for position, index in enumerate(order)]
        carried = 0
        for start, decoded in batches_ahead(pool, calls, batch_size, PREFETCH_BATCHES, stop):
            chunk = order[start : start + batch_size]
            carried += len(chunk)
            batch = self._assemble(chunk, decoded, carried)
            if batch is not None:
                carried = 0
                yield batch

    def _decode_call(
        self, index: int, seeds: Sequence[int] | None, position: int
    ) -> Callable[[], np.ndarray | str]:
        path = self.samples[index].path
        if seeds is None:
            return functools.partial(decode_or_reason, path, self.preprocess)
        min_size = self.preprocess.resize or self.preprocess.crop
        crop = self.preprocess.crop
        return functools.partial(augmented_input, path, crop, min_size, seeds[position])

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
    """Cached features in shuffled batches.

    The rows are gathered a chunk of many batches at a time, and the batches are views
    into it: each tensor operation of a tiny head's step costs a thread-pool round trip
    that can dwarf its arithmetic on a busy CPU, so a step should need as few as it can.
    """

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
        order = torch.randperm(len(self), generator=self.generator) if train else None
        per_chunk = batch_size * max(1, FEATURE_CHUNK_ROWS // batch_size)
        for start in range(0, len(self), per_chunk):
            chunk = self._chunk(order, slice(start, start + per_chunk))
            for batch in zip(*(column.split(batch_size) for column in chunk), strict=True):
                if stop():
                    return
                yield batch

    def _chunk(
        self, order: torch.Tensor | None, span: slice
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Rows ``span`` of ``order`` (gathered), or of the stored order (views)."""
        if order is None:
            return self.features[span], self.labels[span], self.indices[span]
        rows = order[span]
        on_device = rows.to(self.features.device)
        return self.features[on_device], self.labels[on_device], self.indices[rows]


class Feeders(NamedTuple):
    train: Feeder
    val: Feeder


def image_feeders(
    train: ImageSource,
    val: ImageSource,
    normalize: Normalizer,
    augment: bool,
    seed: int,
    stop: StopCheck,
) -> Generator[StageProgress, None, Feeders | None]:
    """Feeders that decode images; those that fit are loaded into memory first.

    Returns None when stopped while loading.
    """
    for source, augmented in ((train, augment), (val, False)):
        if source.fits_in_memory(augmented):
            yield from source.load(stop)
            if stop():
                return None
    if train.memory is not None and not train.usable:
        raise TrainingError("none of the training images could be decoded")
    return Feeders(
        ImageFeeder(train, normalize, augment, seed), ImageFeeder(val, normalize, False, seed + 1)
    )
