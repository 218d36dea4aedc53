"""Fine-tuning a zoo or library network on a folder-per-class dataset.

:func:`fit` is a generator in the shape of torchvision's reference scripts (a small
train-one-epoch and evaluate pair) that yields progress and per-epoch reports and ends
with one :class:`FitResult`, so the command line and the GUI's worker drive it the same
way. Three strategies:

* ``head``: the backbone is frozen, so its features are computed once (no augmentation)
  and cached; each epoch then trains only the new linear head, which takes milliseconds.
* ``last``: the last stage of the backbone and the head train; frozen batch norm layers
  stay in eval mode so their running statistics keep the pretrained values.
* ``full``: everything trains.

Inputs travel as uint8 NHWC batches and are normalised on the device
(:class:`~resnet_desktop.core.device.Normalizer`), as in the predictor. Small images
(CIFAR's 32x32) are decoded once into one uint8 tensor; large ones are decoded per batch
in a thread pool a few batches ahead, which bounds memory.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from resnet_desktop.core import imaging
from resnet_desktop.core.dataset import DatasetSplit, FileProblem, Sample
from resnet_desktop.core.device import Normalizer, autocast, resolve_device, resolve_precision
from resnet_desktop.core.evaluate import EvalReport, build_report
from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.networks import head_of, replace_head
from resnet_desktop.core.predictor import decode_or_reason
from resnet_desktop.core.zoo import ModelSpec, Preprocess

STRATEGIES = ("head", "last", "full")
OPTIMIZERS = ("adamw", "sgd")
PROGRESS_INTERVAL = 0.2  # seconds between BatchProgress items
MEMORY_BUDGET = 1 << 30  # bytes of decoded uint8 images kept in memory at most
PREFETCH_BATCHES = 2  # batches decoded ahead of the network when streaming
CLASS_WEIGHT_RATIO = 2.0  # auto class weighting from this max/min count ratio on
RRC_SCALE = (0.25, 1.0)  # RandomResizedCrop area range: milder than 0.08 for fine-tuning
RRC_RATIO = (3 / 4, 4 / 3)

StopCheck = Callable[[], bool]


class TrainingError(ValueError):
    """Training cannot run as asked; the message is for the user."""


# ------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; ``None`` means the default for the strategy and input size."""

    strategy: str = "head"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    optimizer: str | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    warmup_epochs: float | None = None
    augment: bool = True
    class_weighted: bool | None = None
    patience: int | None = None
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    workers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# The head trains on fixed features: a convex problem where epochs cost milliseconds, so
# many epochs of AdamW without label smoothing. Deeper strategies follow the usual
# fine-tuning recipes: a short warm-up, cosine decay, label smoothing 0.1.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "head": dict(epochs=100, lr=3e-3, batch_size=64, optimizer="adamw", weight_decay=1e-4,
                 label_smoothing=0.0, warmup_epochs=0.0, patience=0),
    "last": dict(epochs=15, lr=1e-3, batch_size=64, optimizer="adamw", weight_decay=0.05,
                 label_smoothing=0.1, warmup_epochs=1.0, patience=5),
    "full": dict(epochs=20, lr=1e-3, batch_size=64, optimizer="adamw", weight_decay=0.05,
                 label_smoothing=0.1, warmup_epochs=1.0, patience=5),
}  # fmt: skip
_SMALL_INPUT_DEFAULTS: dict[str, dict[str, Any]] = {
    "head": {},
    "last": dict(epochs=30, batch_size=128),
    "full": dict(epochs=30, batch_size=128, optimizer="sgd", lr=0.05, weight_decay=5e-4),
}  # fmt: skip


def _is_small(preprocess: Preprocess) -> bool:
    """Whole-image inputs such as CIFAR's 32x32: pad-and-crop augmentation, kept in memory."""
    return preprocess.resize is None and preprocess.crop <= 64


def default_config(strategy: str, preprocess: Preprocess) -> TrainConfig:
    """Every setting filled in for ``strategy`` at ``preprocess``'s input size."""
    return resolve_config(TrainConfig(strategy=strategy), preprocess)


def resolve_config(config: TrainConfig, preprocess: Preprocess) -> TrainConfig:
    """``config`` with every ``None`` replaced by its default; checks the values."""
    if config.strategy not in STRATEGIES:
        raise TrainingError(f"unknown strategy {config.strategy!r}; choose {', '.join(STRATEGIES)}")
    defaults = dict(_DEFAULTS[config.strategy])
    if _is_small(preprocess):
        defaults.update(_SMALL_INPUT_DEFAULTS[config.strategy])
    values = {
        f.name: defaults[f.name]
        for f in fields(config)
        if getattr(config, f.name) is None and f.name in defaults
    }
    resolved = replace(config, **values)
    _check_config(resolved)
    return resolved


def _check_config(config: TrainConfig) -> None:
    problems = []
    if config.optimizer not in OPTIMIZERS:
        problems.append(f"optimizer must be one of {', '.join(OPTIMIZERS)}")
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            problems.append(f"{name.replace('_', ' ')} must be at least 1")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        problems.append("the learning rate must be a positive number")
    if not 0.0 <= config.label_smoothing < 1.0:
        problems.append("label smoothing must be in [0, 1)")
    if config.weight_decay < 0 or config.warmup_epochs < 0 or config.patience < 0:
        problems.append("weight decay, warm-up and patience cannot be negative")
    if problems:
        raise TrainingError("; ".join(problems))


# ------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class StageProgress:
    stage: str  # "loading images" | "caching features"
    done: int
    total: int


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    epochs: int
    phase: str  # "train" | "validate"
    done: int
    total: int
    loss: float
    images_per_second: float
    elapsed: float


@dataclass(frozen=True)
class EpochReport:
    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    lr: float
    seconds: float
    images_per_second: float
    batch_size: int
    is_best: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FitResult:
    architecture: str
    base_weights: str
    class_names: list[str]
    preprocess: Preprocess
    config: TrainConfig
    history: list[EpochReport] = field(default_factory=list)
    best_epoch: int | None = None
    state_dict: dict[str, torch.Tensor] | None = None
    report: EvalReport | None = None
    skipped: list[FileProblem] = field(default_factory=list)
    cancelled: bool = False
    stopped_early: bool = False
    error: str | None = None
    dataset: dict[str, Any] = field(default_factory=dict)

    @property
    def savable(self) -> bool:
        return self.state_dict is not None

    def metadata(self) -> dict[str, Any]:
        """Training settings and outcome, JSON-safe, for the model library."""
        best = self.history[self.best_epoch - 1] if self.best_epoch else None
        training = {
            **self.config.to_dict(),
            "dataset": self.dataset,
            "history": [_json_safe(report.to_dict()) for report in self.history],
            "best_epoch": self.best_epoch,
            "cancelled": self.cancelled,
            "stopped_early": self.stopped_early,
            "skipped_files": len(self.skipped),
        }
        metrics = self.report.to_dict() if self.report else {}
        if best is not None:
            metrics["val_loss"] = _json_safe({"v": best.val_loss})["v"]
        return {"training": training, "metrics": metrics}


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinity are not JSON: store them as None."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in values.items()
    }


# ------------------------------------------------------------------------- image sources


def _augmented_input(path: Path, crop: int, min_size: int, seed: int) -> np.ndarray | str:
    """RandomResizedCrop + horizontal flip of one file, or why it cannot be decoded."""
    from PIL import Image

    try:
        image = imaging.open_image(path, min_size=min_size)
    except imaging.DecodeError as error:
        return str(error)
    except Exception as error:  # one bad file must never end the run
        return f"cannot read image: {type(error).__name__}: {error}"
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
class _Batch:
    images: torch.Tensor  # uint8 NHWC on the CPU
    labels: torch.Tensor
    indices: torch.Tensor  # positions in the source's sample list
    requested: int  # samples this batch covers, failed ones included (progress)


class _ImageSource:
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
    ) -> Iterator[_Batch]:
        """uint8 batches in ``order``; per-file seeds turn on RandomResizedCrop + flip."""
        if self.memory is not None:
            yield from self._memory_batches(order, batch_size)
            return
        with ThreadPoolExecutor(self.workers, thread_name_prefix="train-decode") as pool:
            try:
                yield from self._decoded_batches(pool, order, batch_size, stop, augment_seeds)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def _memory_batches(self, order: Sequence[int], batch_size: int) -> Iterator[_Batch]:
        assert self.memory is not None
        images, indices = self.memory
        position = {int(index): row for row, index in enumerate(indices)}
        rows = torch.tensor([position[i] for i in order if i in position], dtype=torch.long)
        labels = torch.tensor([s.label for s in self.samples], dtype=torch.long)
        for chunk in rows.split(batch_size):
            chosen = indices[chunk]
            yield _Batch(images[chunk], labels[chosen], chosen, len(chunk))

    def _decoded_batches(
        self,
        pool: ThreadPoolExecutor,
        order: Sequence[int],
        batch_size: int,
        stop: StopCheck,
        seeds: Sequence[int] | None,
    ) -> Iterator[_Batch]:
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
        return pool.submit(_augmented_input, path, self.preprocess.crop, min_size, seeds[position])

    def _assemble(
        self, chunk: Sequence[int], decoded: list[np.ndarray | str], requested: int
    ) -> _Batch | None:
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
        return _Batch(
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


# ------------------------------------------------------------------------- network parts


def _set_trainable(model: nn.Module, spec: ModelSpec, strategy: str) -> None:
    """requires_grad on the parts the strategy trains (the head always)."""
    if strategy == "full":
        model.requires_grad_(True)
        return
    model.requires_grad_(False)
    trainable = [spec.head] + (list(spec.last_stage) if strategy == "last" else [])
    for name in trainable:
        model.get_submodule(name).requires_grad_(True)


def _train_mode(model: nn.Module) -> None:
    """``model.train()`` but frozen batch norm layers keep their pretrained statistics."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()


def _parameter_groups(module: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and normalisation weights (1-d tensors)."""
    params = [p for p in module.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    groups = _parameter_groups(module, float(config.weight_decay or 0.0))
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=0.9, nesterov=True)
    return torch.optim.AdamW(groups, lr=config.lr)


def learning_rate(config: TrainConfig, progress: float) -> float:
    """Linear warm-up, then cosine decay to 0; ``progress`` counts epochs (fractional)."""
    base, epochs = float(config.lr or 0.0), float(config.epochs or 1)
    warmup = min(float(config.warmup_epochs or 0.0), epochs)
    if progress < warmup:
        return base * max(progress, 1e-3) / warmup
    decayed = min(1.0, (progress - warmup) / max(epochs - warmup, 1e-9))
    return 0.5 * base * (1.0 + math.cos(math.pi * decayed))


def _class_weights(counts: Sequence[int], enabled: bool | None) -> torch.Tensor | None:
    """Inverse-frequency loss weights (1 on average per image) for imbalanced classes."""
    present = [c for c in counts if c]
    ratio = max(present) / min(present) if present else 1.0
    if enabled is False or (enabled is None and ratio < CLASS_WEIGHT_RATIO):
        return None
    total = sum(counts)
    return torch.tensor([total / (len(counts) * max(c, 1)) for c in counts], dtype=torch.float32)


# ------------------------------------------------------------------------- feeders


class _Feeder:
    """Batches of (network input, labels, sample indices) on the device."""

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(
        self, batch_size: int, train: bool, stop: StopCheck
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        raise NotImplementedError


class _ImageFeeder(_Feeder):
    def __init__(
        self, source: _ImageSource, normalize: Normalizer, augment: bool, seed: int
    ) -> None:
        self.source = source
        self.normalize = normalize
        self.augment = augment
        self.generator = torch.Generator().manual_seed(seed)
        self.rng = random.Random(seed)
        self.small = _is_small(source.preprocess)

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


class _FeatureFeeder(_Feeder):
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


# ------------------------------------------------------------------------- the run


@dataclass
class _BatchSize:
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


@dataclass
class _TrainStats:
    loss: float
    accuracy: float
    images: int


@dataclass
class _ValStats:
    loss: float
    accuracy: float
    predicted: list[int]
    probs: list[float]
    indices: list[int]


class _Throttle:
    def __init__(self, interval: float = PROGRESS_INTERVAL) -> None:
        self.interval = interval
        self.last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        return True


def _cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy (safetensors needs contiguous tensors)."""
    return {
        key: value.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for key, value in state.items()
    }


def _swap_head(model: nn.Module, spec: ModelSpec, module: nn.Module) -> nn.Module:
    """Put ``module`` where the head is; returns what was there."""
    parent_path, _, attribute = spec.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, attribute)
    setattr(parent, attribute, module)
    return old


def _diverged(phase: str, loss: float, epoch: int) -> str:
    value = "NaN" if math.isnan(loss) else "infinite"
    return (
        f"the {phase} loss became {value} in epoch {epoch}; lower the learning rate and train again"
    )


def _check_data(data: DatasetSplit) -> None:
    if len(data.class_names) < 2:
        raise TrainingError("training needs at least 2 classes")
    if not data.train:
        raise TrainingError("there are no training images")
    if not data.val:
        raise TrainingError(
            "there are no validation images: every class has a single image, or the "
            "validation folder is empty"
        )


def _dataset_info(data: DatasetSplit) -> dict[str, Any]:
    return {
        "root": str(data.scan.root),
        "val_root": None if data.scan.val_root is None else str(data.scan.val_root),
        "val_fraction": data.val_fraction,
        "split_seed": data.seed,
        "train_counts": data.train_counts,
        "val_counts": data.val_counts,
    }


class _Run:
    """One call of :func:`fit`: the state shared by its phases."""

    def __init__(
        self,
        base: LoadedModel,
        data: DatasetSplit,
        config: TrainConfig,
        stop: StopCheck,
        base_weights: str | None,
    ) -> None:
        _check_data(data)
        self.base, self.data, self.config, self.stop = base, data, config, stop
        self.spec = base.spec
        self.device = resolve_device(config.device)
        self.precision = resolve_precision(self.device, config.precision)
        self.started = time.monotonic()
        self.skipped: dict[Path, str] = {}
        self.workers = config.workers or min(8, os.cpu_count() or 1)
        self.epochs = int(config.epochs or 1)
        self.train_size = _BatchSize(int(config.batch_size or 1))
        self.infer_size = _BatchSize(256 if _is_small(base.preprocess) else 64)
        self.normalize = Normalizer(base.preprocess.mean, base.preprocess.std, self.device)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_val: _ValStats | None = None
        self.result = FitResult(
            architecture=base.spec.name,
            base_weights=base_weights or base.name,
            class_names=list(data.class_names),
            preprocess=base.preprocess,
            config=config,
            dataset=_dataset_info(data),
        )

    # -- set-up

    def run(self) -> Iterator[StageProgress | BatchProgress | EpochReport | FitResult]:
        torch.manual_seed(self.config.seed)
        self.model = self._prepare_model()
        self.head = head_of(self.model, self.spec)
        feeders = yield from self._prepare_feeders()
        if feeders is None:
            self.result.cancelled = True
        else:
            self.train_feeder, self.val_feeder = feeders
            self.module = self.head if self.config.strategy == "head" else self.model
            self._setup_optimisation()
            with self._head_threads():
                yield from self._epochs()
        yield self._finish()

    @contextlib.contextmanager
    def _head_threads(self) -> Iterator[None]:
        """One CPU thread while only the head trains on cached features.

        Its matrices are far too small to split across threads, and on a busy CPU the
        thread pool's synchronisation makes each epoch several times slower.
        """
        if self.config.strategy != "head" or self.device.type != "cpu":
            yield
            return
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)

    def _prepare_model(self) -> nn.Module:
        model = copy.deepcopy(self.base.network)
        replace_head(model, self.spec, len(self.data.class_names))
        _set_trainable(model, self.spec, self.config.strategy)
        return model.to(self.device, memory_format=torch.channels_last)

    def _sources(self) -> tuple[_ImageSource, _ImageSource]:
        pre = self.base.preprocess
        return (
            _ImageSource(self.data.train, pre, self.workers, self.skipped),
            _ImageSource(self.data.val, pre, self.workers, self.skipped),
        )

    def _prepare_feeders(self) -> Iterator[StageProgress | tuple[_Feeder, _Feeder] | None]:
        train, val = self._sources()
        if self.config.strategy == "head":
            return (yield from self._feature_feeders(train, val))
        for source, augmented in ((train, self.config.augment), (val, False)):
            if self._fits_in_memory(source, augmented):
                yield from source.load(self.stop)
                if self.stop():
                    return None
        if train.memory is not None and not train.usable:
            raise TrainingError("none of the training images could be decoded")
        seed = self.config.seed
        return (
            _ImageFeeder(train, self.normalize, self.config.augment, seed),
            _ImageFeeder(val, self.normalize, False, seed + 1),
        )

    def _fits_in_memory(self, source: _ImageSource, augmented: bool) -> bool:
        """Small inputs always (augmented on tensors); large ones only when not augmented."""
        crop = source.preprocess.crop
        fits = len(source.samples) * crop * crop * 3 <= MEMORY_BUDGET
        return fits and (_is_small(source.preprocess) or not augmented)

    # -- the head strategy's feature cache

    def _feature_feeders(
        self, train: _ImageSource, val: _ImageSource
    ) -> Iterator[StageProgress | tuple[_Feeder, _Feeder] | None]:
        total = len(train.samples) + len(val.samples)
        cached = []
        for source, done in ((train, 0), (val, len(train.samples))):
            make = functools.partial(self._features, source, done, total)
            features = yield from self._retrying(make, self.infer_size)
            if features is None:
                return None
            cached.append(features)
        if not len(cached[0][2]):
            raise TrainingError("none of the training images could be decoded")
        seed = self.config.seed
        return _FeatureFeeder(*cached[0], seed), _FeatureFeeder(*cached[1], seed + 1)

    def _features(
        self, source: _ImageSource, done: int, total: int
    ) -> Iterator[StageProgress | tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None]:
        """Backbone outputs (the head's inputs) of every decodable sample, no augmentation."""
        head = _swap_head(self.model, self.spec, nn.Identity())
        self.model.eval()
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        try:
            order = list(range(len(source.samples)))
            for batch in source.batches(order, self.infer_size.value, self.stop):
                with torch.no_grad(), self._autocast():
                    images = self.normalize(batch.images)
                    self.infer_size.last = len(images)
                    features = self.model(images).float().flatten(1)
                parts.append((features, batch.labels.to(self.device), batch.indices))
                done += batch.requested
                yield StageProgress("caching features", done, total)
        finally:
            _swap_head(self.model, self.spec, head)
        if self.stop():
            return None
        if not parts:
            width = self.head.in_features
            no_labels = torch.zeros(0, dtype=torch.long, device=self.device)
            return torch.zeros(0, width, device=self.device), no_labels, no_labels.cpu()
        features, labels, indices = (torch.cat(column) for column in zip(*parts, strict=True))
        return features, labels, indices

    # -- optimisation

    def _setup_optimisation(self) -> None:
        config = self.config
        self.optimizer = _optimizer(self.module, config)
        counts = [0] * len(self.data.class_names)
        for sample in self.data.train:
            counts[sample.label] += 1
        weights = _class_weights(counts, config.class_weighted)
        self.criterion = nn.CrossEntropyLoss(
            weight=None if weights is None else weights.to(self.device),
            label_smoothing=float(config.label_smoothing or 0.0),
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def _autocast(self) -> Any:
        return autocast(self.device, self.precision)

    def _retrying(self, make: Callable[[], Iterator[Any]], size: _BatchSize) -> Iterator[Any]:
        """Run the phase ``make()``; on CUDA out-of-memory halve ``size`` and run it again."""
        while True:
            try:
                return (yield from make())
            except torch.OutOfMemoryError:
                self.optimizer_zero_grad()
                size.halve()

    def optimizer_zero_grad(self) -> None:
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)

    def _progress(
        self, epoch: int, phase: str, done: int, total: int, loss: float, seconds: float
    ) -> BatchProgress:
        return BatchProgress(
            epoch=epoch,
            epochs=self.epochs,
            phase=phase,
            done=done,
            total=total,
            loss=loss,
            images_per_second=done / seconds if seconds > 0 else 0.0,
            elapsed=time.monotonic() - self.started,
        )

    def _train_epoch(self, epoch: int) -> Iterator[BatchProgress | _TrainStats | str | None]:
        """One pass over the training data. Returns its stats, an error message, or None
        when stopped."""
        _train_mode(self.model)
        total = max(1, len(self.train_feeder))
        started, throttle = time.monotonic(), _Throttle()
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, labels, _ in self.train_feeder.batches(self.train_size.value, True, self.stop):
            lr = learning_rate(self.config, epoch - 1 + min(seen / total, 1.0))
            loss, logits = self._step(inputs, labels, lr)
            if not math.isfinite(loss):
                return _diverged("training", loss, epoch)
            loss_sum += loss * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            if throttle():
                yield self._progress(
                    epoch, "train", seen, total, loss_sum / seen, time.monotonic() - started
                )
            if self.stop():
                return None
        if self.stop():
            return None
        if not seen:
            raise TrainingError("none of the training images could be decoded")
        return _TrainStats(loss_sum / seen, correct / seen, seen)

    def _step(
        self, inputs: torch.Tensor, labels: torch.Tensor, lr: float
    ) -> tuple[float, torch.Tensor]:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with self._autocast():
            self.train_size.last = len(inputs)
            logits = self.module(inputs)
        loss = self.criterion(logits.float(), labels)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value, logits
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value, logits.detach()

    def _validate(self, epoch: int) -> Iterator[BatchProgress | _ValStats | None]:
        self.module.eval()
        total = len(self.val_feeder)
        started, throttle = time.monotonic(), _Throttle()
        loss_sum, predicted, probs, indices = 0.0, [], [], []
        correct = 0
        for inputs, labels, rows in self.val_feeder.batches(
            self.infer_size.value, False, self.stop
        ):
            with torch.no_grad(), self._autocast():
                self.infer_size.last = len(inputs)
                logits = self.module(inputs).float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            top_p, top_i = logits.softmax(1).max(1)
            correct += int((top_i == labels).sum())
            predicted += top_i.tolist()
            probs += top_p.tolist()
            indices += rows.tolist()
            if throttle():
                yield self._progress(
                    epoch,
                    "validate",
                    len(indices),
                    total,
                    loss_sum / len(indices),
                    time.monotonic() - started,
                )
        if self.stop():
            return None
        count = max(1, len(indices))
        return _ValStats(loss_sum / count, correct / count, predicted, probs, indices)

    # -- epochs

    def _epochs(self) -> Iterator[BatchProgress | EpochReport]:
        best_loss, since_best = math.inf, 0
        for epoch in range(1, self.epochs + 1):
            started = time.monotonic()
            train = yield from self._retrying(
                functools.partial(self._train_epoch, epoch), self.train_size
            )
            train_seconds = time.monotonic() - started
            if not isinstance(train, _TrainStats):
                self.result.error, self.result.cancelled = train, train is None
                return
            val = yield from self._retrying(
                functools.partial(self._validate, epoch), self.infer_size
            )
            if val is None:
                self.result.cancelled = True
                return
            if not math.isfinite(val.loss):
                self.result.error = _diverged("validation", val.loss, epoch)
                return
            is_best = val.loss < best_loss
            since_best = 0 if is_best else since_best + 1
            if is_best:
                best_loss, self.best_val = val.loss, val
                self.best_state = _cpu_copy(self.module.state_dict())
                self.result.best_epoch = epoch
            seconds = time.monotonic() - started
            report = self._report(epoch, train, val, train_seconds, seconds, is_best)
            self.result.history.append(report)
            yield report
            if self.config.patience and since_best >= self.config.patience:
                self.result.stopped_early = True
                return

    def _report(
        self,
        epoch: int,
        train: _TrainStats,
        val: _ValStats,
        train_seconds: float,
        seconds: float,
        is_best: bool,
    ) -> EpochReport:
        return EpochReport(
            epoch=epoch,
            epochs=self.epochs,
            train_loss=train.loss,
            train_accuracy=train.accuracy,
            val_loss=val.loss,
            val_accuracy=val.accuracy,
            lr=self.optimizer.param_groups[0]["lr"],
            seconds=seconds,
            images_per_second=train.images / train_seconds if train_seconds > 0 else 0.0,
            batch_size=self.train_size.value,
            is_best=is_best,
        )

    def _finish(self) -> FitResult:
        result = self.result
        result.skipped = [FileProblem(path, reason) for path, reason in self.skipped.items()]
        if self.best_state is None or self.best_val is None:
            return result
        self.module.load_state_dict(self.best_state)
        result.state_dict = _cpu_copy(self.model.state_dict())
        val = [self.data.val[i] for i in self.best_val.indices]
        result.report = build_report(
            self.data.class_names,
            [sample.label for sample in val],
            self.best_val.predicted,
            self.best_val.probs,
            [sample.path for sample in val],
        )
        return result


def fit(
    base: LoadedModel,
    data: DatasetSplit,
    config: TrainConfig | None = None,
    should_stop: StopCheck | None = None,
    *,
    base_weights: str | None = None,
) -> Iterator[StageProgress | BatchProgress | EpochReport | FitResult]:
    """Fine-tune ``base`` for ``data``'s classes; the last item is always one FitResult.

    The base network is copied, never changed. A NaN/inf loss ends the run with
    ``FitResult.error`` set; ``should_stop`` ends it within a batch with ``cancelled``
    set; either way the best finished epoch is kept and can be saved.

    Raises:
        TrainingError: settings or data that cannot train (before the first epoch), or
            out of GPU memory at batch size 1.
    """
    resolved = resolve_config(config or TrainConfig(), base.preprocess)
    run = _Run(base, data, resolved, should_stop or (lambda: False), base_weights)
    yield from run.run()


def save_model(
    result: FitResult, name: str, library: ModelLibrary | None = None, *, overwrite: bool = False
) -> LibraryModel:
    """Store the best epoch's weights with their classes, settings and metrics."""
    if result.state_dict is None:
        raise TrainingError("nothing to save: no training epoch finished")
    metadata = result.metadata()
    return (library or ModelLibrary()).add(
        name,
        result.architecture,
        result.state_dict,
        result.class_names,
        result.preprocess,
        overwrite=overwrite,
        base_weights=result.base_weights,
        training=metadata["training"],
        metrics=metadata["metrics"],
    )
