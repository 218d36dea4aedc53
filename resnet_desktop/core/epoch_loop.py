"""The epochs of a fine-tuning run: train, validate, keep the best, decide when to end.

Each phase returns an explicit outcome (trained, diverged or stopped) and the loop ends
with an :data:`Ending`, which :func:`~resnet_desktop.core.trainer.fit` turns into its
FitResult. A phase that runs out of GPU memory is run again with half the batch.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeAlias

import torch
import torch.nn.functional as F
from torch import nn

from resnet_desktop.core.device import autocast
from resnet_desktop.core.optimisation import Optimisation, train_mode
from resnet_desktop.core.throttle import Throttle
from resnet_desktop.core.train_config import (
    BatchProgress,
    EpochReport,
    Phase,
    TrainConfig,
    TrainingError,
)
from resnet_desktop.core.training_data import BatchSizes, Feeders, StopCheck, retrying

# ------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class EpochTrained:
    loss: float
    accuracy: float
    images: int


@dataclass(frozen=True)
class Validated:
    loss: float
    accuracy: float
    predicted: list[int]
    probs: list[float]
    indices: list[int]  # positions in the validation samples, in the order above


@dataclass(frozen=True)
class Diverged:
    """The loss became NaN or infinite; ``message`` is for the user."""

    message: str

    @classmethod
    def of(cls, phase: Phase, loss: float, epoch: int) -> Diverged:
        value = "NaN" if math.isnan(loss) else "infinite"
        name = "training" if phase == Phase.TRAIN else "validation"
        return cls(
            f"the {name} loss became {value} in epoch {epoch}; lower the learning rate and "
            "train again"
        )


@dataclass(frozen=True)
class Stopped:
    """``should_stop`` turned true."""


@dataclass(frozen=True)
class Completed:
    """Every epoch ran."""


@dataclass(frozen=True)
class EarlyStopped:
    """The validation loss stopped improving for ``patience`` epochs."""


TrainOutcome: TypeAlias = EpochTrained | Diverged | Stopped
ValOutcome: TypeAlias = Validated | Diverged | Stopped
Ending: TypeAlias = Completed | EarlyStopped | Stopped | Diverged


@dataclass(frozen=True)
class Best:
    """The epoch with the lowest validation loss so far: its weights and predictions."""

    epoch: int
    state: dict[str, torch.Tensor]  # of the trained module, on the CPU
    val: Validated


def cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A detached, contiguous CPU copy (safetensors needs contiguous tensors)."""
    return {
        key: value.detach().to("cpu", memory_format=torch.contiguous_format, copy=True)
        for key, value in state.items()
    }


# ------------------------------------------------------------------------- the loop


class EpochLoop:
    """Trains ``optimisation.module`` epoch by epoch; ``history`` and ``best`` grow as it runs."""

    def __init__(
        self,
        model: nn.Module,
        optimisation: Optimisation,
        feeders: Feeders,
        config: TrainConfig,
        sizes: BatchSizes,
        stop: StopCheck,
        started: float,
    ) -> None:
        self.model, self.optimisation, self.feeders = model, optimisation, feeders
        self.config, self.sizes, self.stop = config, sizes, stop
        self.started = started  # of the run, for BatchProgress.elapsed
        self.epochs = int(config.epochs or 1)
        self.history: list[EpochReport] = []
        self.best: Best | None = None

    def run(self) -> Generator[BatchProgress | EpochReport, None, Ending]:
        since_best = 0
        for epoch in range(1, self.epochs + 1):
            started = time.monotonic()
            train = yield from retrying(
                functools.partial(self._train_epoch, epoch),
                self.sizes.train,
                self.optimisation.zero_grad,
            )
            train_seconds = time.monotonic() - started
            if not isinstance(train, EpochTrained):
                return train
            val = yield from retrying(
                functools.partial(self._validate, epoch),
                self.sizes.infer,
                self.optimisation.zero_grad,
            )
            if not isinstance(val, Validated):
                return val
            is_best = self.best is None or val.loss < self.best.val.loss
            since_best = 0 if is_best else since_best + 1
            if is_best:
                self.best = Best(epoch, cpu_copy(self.optimisation.module.state_dict()), val)
            seconds = time.monotonic() - started
            report = self._report(epoch, train, val, train_seconds, seconds, is_best)
            self.history.append(report)
            yield report
            if self.config.patience and since_best >= self.config.patience:
                return EarlyStopped()
        return Completed()

    def _train_epoch(self, epoch: int) -> Generator[BatchProgress, None, TrainOutcome]:
        """One pass over the training data."""
        train_mode(self.model)
        size, feeder = self.sizes.train, self.feeders.train
        total = max(1, len(feeder))
        started, throttle = time.monotonic(), Throttle()
        loss_sum, correct, seen = 0.0, 0, 0
        for inputs, labels, _ in feeder.batches(size.value, True, self.stop):
            size.last = len(inputs)
            progress = epoch - 1 + min(seen / total, 1.0)
            loss, logits = self.optimisation.step(inputs, labels, progress)
            if not math.isfinite(loss):
                return Diverged.of(Phase.TRAIN, loss, epoch)
            loss_sum += loss * len(labels)
            correct += int((logits.argmax(1) == labels).sum())
            seen += len(labels)
            if throttle():
                seconds = time.monotonic() - started
                yield self._progress(epoch, Phase.TRAIN, seen, total, loss_sum / seen, seconds)
            if self.stop():
                return Stopped()
        if self.stop():
            return Stopped()
        if not seen:
            raise TrainingError("none of the training images could be decoded")
        return EpochTrained(loss_sum / seen, correct / seen, seen)

    def _validate(self, epoch: int) -> Generator[BatchProgress, None, ValOutcome]:
        module, optimisation = self.optimisation.module, self.optimisation
        module.eval()
        size, feeder = self.sizes.val, self.feeders.val
        started, throttle = time.monotonic(), Throttle()
        loss_sum, correct = 0.0, 0
        predicted: list[int] = []
        probs: list[float] = []
        indices: list[int] = []
        for inputs, labels, rows in feeder.batches(size.value, False, self.stop):
            with torch.no_grad(), autocast(optimisation.device, optimisation.precision):
                size.last = len(inputs)
                logits = module(inputs).float()
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            top_p, top_i = logits.softmax(1).max(1)
            correct += int((top_i == labels).sum())
            predicted += top_i.tolist()
            probs += top_p.tolist()
            indices += rows.tolist()
            if throttle():
                done, seconds = len(indices), time.monotonic() - started
                yield self._progress(
                    epoch, Phase.VALIDATE, done, len(feeder), loss_sum / done, seconds
                )
        if self.stop():
            return Stopped()
        count = max(1, len(indices))
        if not math.isfinite(loss_sum / count):
            return Diverged.of(Phase.VALIDATE, loss_sum / count, epoch)
        return Validated(loss_sum / count, correct / count, predicted, probs, indices)

    def _progress(
        self, epoch: int, phase: Phase, done: int, total: int, loss: float, seconds: float
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

    def _report(
        self,
        epoch: int,
        train: EpochTrained,
        val: Validated,
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
            lr=self.optimisation.lr,
            seconds=seconds,
            images_per_second=train.images / train_seconds if train_seconds > 0 else 0.0,
            batch_size=self.sizes.train.value,
            is_best=is_best,
        )
