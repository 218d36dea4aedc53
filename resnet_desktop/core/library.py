"""The user's model library: imported and fine-tuned models as safetensors + JSON.
(OWNER: helper H2)"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import torch


class LibraryError(Exception):
    """A library problem worded for the user."""


@dataclass(frozen=True)
class LibraryModel:
    name: str
    architecture: str
    class_names: tuple[str, ...]
    preprocess: Preprocess
    created: str
    weights_path: Path
    source_sha256: str | None = None
    base_weights: str | None = None
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


class ModelLibrary:
    def __init__(self, root: Path | None = None) -> None:
        raise NotImplementedError

    def list(self) -> list[LibraryModel]:
        raise NotImplementedError

    def get(self, name: str) -> LibraryModel:
        raise NotImplementedError

    def __contains__(self, name: object) -> bool:
        raise NotImplementedError

    def add(
        self,
        name: str,
        architecture: str,
        state_dict: dict[str, torch.Tensor],
        class_names: list[str] | tuple[str, ...],
        preprocess: Preprocess,
        **metadata: Any,
    ) -> LibraryModel:
        raise NotImplementedError

    def import_file(
        self, weights_file: str | Path, architecture: str, class_names: list[str], name: str
    ) -> LibraryModel:
        raise NotImplementedError

    def remove(self, name: str) -> None:
        raise NotImplementedError

    def load_state_dict(self, name: str) -> dict[str, torch.Tensor]:
        raise NotImplementedError
