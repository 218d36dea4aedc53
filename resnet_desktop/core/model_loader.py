"""Turning a model name (zoo or library) plus optional weights/classes into a ready network.
(OWNER: lead)"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core.weights import ProgressCallback
from resnet_desktop.core.zoo import ModelSpec, Preprocess

if TYPE_CHECKING:
    from torch import nn


class ModelLoadError(Exception):
    """The model cannot be loaded; the message is for the user."""


@dataclass
class LoadedModel:
    name: str  # zoo or library name as given
    spec: ModelSpec  # architecture entry
    network: nn.Module  # in eval mode, on the CPU
    class_names: list[str]
    preprocess: Preprocess


def load_model(
    name: str,
    weights: str | Path | None = None,  # None: built-in/library weights; "random"; or a file
    classes: str | Path | list[str] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedModel:
    raise NotImplementedError
