"""Fine-tuning as a sequence of decisions: the dataset, the base model, the settings.

:class:`FineTuneState` is what the window's wizard has decided so far, as plain data:
each page fills in its part, and the later pages (and the tests) read one object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_desktop.core.dataset import split_dataset

if TYPE_CHECKING:
    from resnet_desktop.core.dataset import DatasetScan, DatasetSplit
    from resnet_desktop.core.train_config import FitResult, TrainConfig
    from resnet_desktop.core.zoo import Preprocess


@dataclass
class FineTuneState:
    """What has been decided so far; a front end's single source of truth."""

    scan: DatasetScan | None = None
    model_name: str | None = None  # what load_model takes
    weights: str | None = None  # None: the model's own weights; "random"; or a file path
    strategy: str = "head"
    preprocess: Preprocess | None = None
    config: TrainConfig | None = None
    val_fraction: float = 0.2
    result: FitResult | None = None

    def split(self) -> DatasetSplit:
        if self.scan is None:
            raise ValueError("no dataset has been scanned")
        seed = self.config.seed if self.config is not None else 0
        return split_dataset(self.scan, self.val_fraction, seed)
