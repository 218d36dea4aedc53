"""Loading weights safely: state-dict files, torchvision's ImageNet weights, class names.
(OWNER: helper H2)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core.zoo import ModelSpec

if TYPE_CHECKING:
    import torch
    from torch import nn

ProgressCallback = Callable[[int, int], None]  # (bytes done, bytes total or 0 if unknown)


class WeightsError(Exception):
    """A weights or class-names problem, worded for the user (shown without a traceback)."""


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a .pth/.pt/.th/.safetensors file, loaded without running pickled code."""
    raise NotImplementedError


def apply_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load ``state_dict`` strictly; a mismatch raises WeightsError listing the keys."""
    raise NotImplementedError


def imagenet_weights_path(spec: ModelSpec) -> Path:
    """Where torchvision caches ``spec``'s ImageNet weights (torch hub checkpoints folder)."""
    raise NotImplementedError


def imagenet_weights_cached(spec: ModelSpec) -> bool:
    """Whether the ImageNet weights file is already on disk; never imports torch."""
    raise NotImplementedError


def ensure_imagenet_weights(
    spec: ModelSpec,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Path:
    """The cached weights file, downloading (hash-checked, atomic) it first if needed."""
    raise NotImplementedError


def imagenet_class_names(spec: ModelSpec) -> list[str]:
    """The class names from torchvision's weights metadata."""
    raise NotImplementedError


def read_class_names(path: str | Path) -> list[str]:
    """Class names from a .txt (one per line) or a JSON {"0": "name", ...} / list file."""
    raise NotImplementedError


def file_sha256(path: str | Path) -> str:
    raise NotImplementedError
