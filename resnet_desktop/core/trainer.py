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
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resnet_desktop.core.dataset import DatasetSplit, FileProblem
from resnet_desktop.core.device import Normalizer, autocast, resolve_device, resolve_precision
from resnet_desktop.core.evaluate import build_report
from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.networks import head_of, replace_head
from resnet_desktop.core.train_config import (
    OPTIMIZERS,
    STRATEGIES,
    BatchProgress,
    EpochReport,
    FitResult,
    StageProgress,
    TrainConfig,
    TrainingError,
    default_config,
    is_small_input,
    resolve_config,
)
from resnet_desktop.core.training_data import (
    FeatureFeeder,
    Feeder,
    ImageFeeder,
    ImageSource,
    pad_crop_flip,
)
from resnet_desktop.core.zoo import ModelSpec

# The public names of fine-tuning, importable from here whichever module defines them.
__all__ = [
    "OPTIMIZERS",
    "STRATEGIES",
    "BatchProgress",
    "EpochReport",
    "FitResult",
    "StageProgress",
    "TrainConfig",
    "TrainingError",
    "default_config",
    "fit",
    "learning_rate",
    "pad_crop_flip",
    "resolve_config",
    "save_model",
]

PROGRESS_INTERVAL = 0.2  # seconds between BatchProgress items
MEMORY_BUDGET = 1 << 30  # bytes of decoded uint8 images kept in memory at most
CLASS_WEIGHT_RATIO = 2.0  # auto class weighting from this max/min count ratio on

StopCheck = Callable[[], bool]


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
        self.infer_size = _BatchSize(256 if is_small_input(base.preprocess) else 64)
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

    def _sources(self) -> tuple[ImageSource, ImageSource]:
        pre = self.base.preprocess
        return (
            ImageSource(self.data.train, pre, self.workers, self.skipped),
            ImageSource(self.data.val, pre, self.workers, self.skipped),
        )

    def _prepare_feeders(self) -> Iterator[StageProgress | tuple[Feeder, Feeder] | None]:
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
            ImageFeeder(train, self.normalize, self.config.augment, seed),
            ImageFeeder(val, self.normalize, False, seed + 1),
        )

    def _fits_in_memory(self, source: ImageSource, augmented: bool) -> bool:
        """Small inputs always (augmented on tensors); large ones only when not augmented."""
        crop = source.preprocess.crop
        fits = len(source.samples) * crop * crop * 3 <= MEMORY_BUDGET
        return fits and (is_small_input(source.preprocess) or not augmented)

    # -- the head strategy's feature cache

    def _feature_feeders(
        self, train: ImageSource, val: ImageSource
    ) -> Iterator[StageProgress | tuple[Feeder, Feeder] | None]:
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
        return FeatureFeeder(*cached[0], seed), FeatureFeeder(*cached[1], seed + 1)

    def _features(
        self, source: ImageSource, done: int, total: int
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
