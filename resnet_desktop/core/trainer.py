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

This module owns the run itself; its parts live in modules named after them:
settings and reports in :mod:`~resnet_desktop.core.train_config` (torch-free, for the
GUI's form), batches and their decoding in :mod:`~resnet_desktop.core.training_data`,
augmentation in :mod:`~resnet_desktop.core.augment`, and what trains and how fast in
:mod:`~resnet_desktop.core.optimisation`. The public names of fine-tuning are importable
from here whichever module defines them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from resnet_desktop.core.augment import pad_crop_flip
from resnet_desktop.core.dataset import DatasetSplit, FileProblem
from resnet_desktop.core.device import Normalizer, autocast
from resnet_desktop.core.evaluate import build_report
from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.networks import head_of, replace_head
from resnet_desktop.core.optimisation import (
    class_weights,
    learning_rate,
    make_optimizer,
    set_trainable,
    train_mode,
)
from resnet_desktop.core.throttle import Throttle
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
    BatchSize,
    FeatureFeeder,
    Feeder,
    ImageFeeder,
    ImageSource,
    StopCheck,
)
from resnet_desktop.core.zoo import ModelSpec

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

# ------------------------------------------------------------------------- the run


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
        runtime = config.runtime.in_pytorch().resolve(base.preprocess)
        self.device = torch.device(runtime.device)
        self.precision = runtime.precision
        self.started = time.monotonic()
        self.skipped: dict[Path, str] = {}
        self.workers = config.workers or min(8, os.cpu_count() or 1)
        self.epochs = int(config.epochs or 1)
        self.train_size = BatchSize(int(config.batch_size or 1))
        self.infer_size = BatchSize(256 if is_small_input(base.preprocess) else 64)
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
        with torch.random.fork_rng(devices=[]):  # seeds the new head, not the caller's RNG
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
        set_trainable(model, self.spec, self.config.strategy)
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
            if source.fits_in_memory(augmented):
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
        self.optimizer = make_optimizer(self.module, config)
        counts = [0] * len(self.data.class_names)
        for sample in self.data.train:
            counts[sample.label] += 1
        weights = class_weights(counts, config.class_weighted)
        self.criterion = nn.CrossEntropyLoss(
            weight=None if weights is None else weights.to(self.device),
            label_smoothing=float(config.label_smoothing or 0.0),
        )
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def _autocast(self) -> Any:
        return autocast(self.device, self.precision)

    def _retrying(self, make: Callable[[], Iterator[Any]], size: BatchSize) -> Iterator[Any]:
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
        train_mode(self.model)
        total = max(1, len(self.train_feeder))
        started, throttle = time.monotonic(), Throttle()
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
        started, throttle = time.monotonic(), Throttle()
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
