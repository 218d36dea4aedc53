"""What a fine-tuning run trains and how: trainable layers, optimizer, schedule, loss weights.

:class:`Optimisation` puts them together for one run. torch is imported inside the
functions, like the other non-network core modules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from resnet_desktop.core.device import autocast
from resnet_desktop.core.train_config import TrainConfig
from resnet_desktop.core.zoo import ModelSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

CLASS_WEIGHT_RATIO = 2.0  # auto class weighting from this max/min count ratio on


def set_trainable(model: nn.Module, spec: ModelSpec, strategy: str) -> None:
    """requires_grad on the parts the strategy trains (the head always)."""
    if strategy == "full":
        model.requires_grad_(True)
        return
    model.requires_grad_(False)
    trainable = [spec.head] + (list(spec.last_stage) if strategy == "last" else [])
    for name in trainable:
        model.get_submodule(name).requires_grad_(True)


def train_mode(model: nn.Module) -> None:
    """``model.train()`` but frozen batch norm layers keep their pretrained statistics."""
    from torch import nn

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


def make_optimizer(module: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, or SGD with Nesterov momentum, over ``module``'s trainable parameters."""
    import torch

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


def class_weights(counts: Sequence[int], enabled: bool | None) -> torch.Tensor | None:
    """Inverse-frequency loss weights (1 on average per image) for imbalanced classes."""
    import torch

    present = [c for c in counts if c]
    ratio = max(present) / min(present) if present else 1.0
    if enabled is False or (enabled is None and ratio < CLASS_WEIGHT_RATIO):
        return None
    total = sum(counts)
    return torch.tensor([total / (len(counts) * max(c, 1)) for c in counts], dtype=torch.float32)


class Optimisation:
    """The optimizer, the loss and the gradient scaler of one run, made together.

    :meth:`step` sets the learning rate for how far the run has come, so the epoch loop
    needs to know nothing about the schedule or the optimizer.
    """

    def __init__(
        self,
        module: nn.Module,
        config: TrainConfig,
        class_counts: Sequence[int],
        device: torch.device,
        precision: str,
    ) -> None:
        import torch
        from torch import nn

        self.module, self.config = module, config
        self.device, self.precision = device, precision
        self.optimizer = make_optimizer(module, config)
        weights = class_weights(class_counts, config.class_weighted)
        self.criterion = nn.CrossEntropyLoss(
            weight=None if weights is None else weights.to(device),
            label_smoothing=float(config.label_smoothing or 0.0),
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    @property
    def lr(self) -> float:
        """The learning rate of the latest step."""
        return float(self.optimizer.param_groups[0]["lr"])

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)

    def step(
        self, inputs: torch.Tensor, labels: torch.Tensor, progress: float
    ) -> tuple[float, torch.Tensor]:
        """One step at ``progress`` epochs into the run: (loss, logits).

        A NaN or infinite loss changes nothing, so the caller can stop with the weights
        of the last good step.
        """
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config, progress)
        with autocast(self.device, self.precision):
            logits = self.module(inputs)
        loss = self.criterion(logits.float(), labels)
        value = float(loss.detach())
        if not math.isfinite(value):
            return value, logits
        self.zero_grad()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return value, logits.detach()
