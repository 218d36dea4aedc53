"""Fine-tuning's settings and the reports a run yields; torch-free.

The GUI fills its options form from :func:`default_config` and shows the reports, so
none of this imports torch: the wizard stays responsive while torch is still loading.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from resnet_desktop.core.dataset import FileProblem
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.events import TextEnum
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch

    from resnet_desktop.core.evaluate import EvalReport
    from resnet_desktop.core.ood import OodSetup

STRATEGIES = ("head", "last", "full")
OPTIMIZERS = ("adamw", "sgd")


class TrainingError(UserError, ValueError):
    """Training cannot run as asked; the message is for the user."""


# ------------------------------------------------------------------------- configuration


@dataclass(frozen=True)
class TrainConfig:
    """Training settings; ``None`` means the default for the strategy and input size.

    ``runtime`` gives the device and precision to train with; training always runs in
    PyTorch, at ``batch_size``. The head strategy computes its frozen features with the
    runtime's engine as well (OpenVINO on a CPU), as prediction would.
    """

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
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    seed: int = 0
    workers: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The settings as flat JSON-safe values; the runtime as ``device`` and ``precision``."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "runtime"}
        return {**values, "device": self.runtime.device, "precision": self.runtime.precision}

    def updated(self, **values: Any) -> TrainConfig:
        """A copy with ``values`` changed, named as :meth:`to_dict` names them."""
        runtime = {name: values.pop(name) for name in ("device", "precision") if name in values}
        return replace(self, runtime=replace(self.runtime, **runtime), **values)


# The head trains on fixed features: a convex problem where epochs cost milliseconds, so
# many epochs of AdamW without label smoothing. Its batches are large because each of a
# step's tiny tensor operations costs a thread-pool round trip, which on a busy CPU takes
# longer than the arithmetic: 256 at lr 1e-2 reaches the validation loss of 64 at 3e-3
# (CIFAR-10 features of ResNet-20, pretrained and random) in a quarter of the steps; see
# tests/benchmarks/head_training.py. Deeper strategies follow the usual fine-tuning
# recipes: a short warm-up, cosine decay, label smoothing 0.1.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "head": dict(epochs=100, lr=1e-2, batch_size=256, optimizer="adamw", weight_decay=1e-4,
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


def is_small_input(preprocess: Preprocess) -> bool:
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
    if is_small_input(preprocess):
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


class Stage(TextEnum):
    """The one-off steps before the first epoch."""

    LOADING_IMAGES = "loading images"
    CACHING_FEATURES = "caching features"
    OOD_FEATURES = "measuring the training images for 'unknown'"


class Phase(TextEnum):
    """The two halves of an epoch."""

    TRAIN = "train"
    VALIDATE = "validate"


@dataclass(frozen=True)
class StageProgress:
    stage: Stage
    done: int
    total: int


@dataclass(frozen=True)
class BatchProgress:
    epoch: int
    epochs: int
    phase: Phase
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
    ood: OodSetup | None = None  # how the model says "unknown"; None: it cannot
    ood_bank: np.ndarray | None = None  # the training images' features, for ``knn``

    @property
    def savable(self) -> bool:
        return self.state_dict is not None

    def metadata(self) -> dict[str, Any]:
        """Training settings and outcome, JSON-safe, for the model library."""
        best = self.history[self.best_epoch - 1] if self.best_epoch else None
        training = {
            **self.config.to_dict(),
            "dataset": self.dataset,
            "history": [json_safe(report.to_dict()) for report in self.history],
            "best_epoch": self.best_epoch,
            "cancelled": self.cancelled,
            "stopped_early": self.stopped_early,
            "skipped_files": len(self.skipped),
        }
        metrics = self.report.to_dict() if self.report else {}
        if best is not None:
            metrics["val_loss"] = json_safe({"v": best.val_loss})["v"]
        if self.ood is not None:  # the suggestion stays when a user changes the threshold
            metrics["ood"] = {**self.ood.to_dict(), "suggested": self.ood.threshold}
        return {"training": training, "metrics": metrics}


# What fit() yields: progress and reports, and as its last item always one FitResult.
FitEvent: TypeAlias = StageProgress | BatchProgress | EpochReport | FitResult


def json_safe(values: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinity are not JSON: store them as None."""
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in values.items()
    }
