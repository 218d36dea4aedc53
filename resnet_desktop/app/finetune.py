"""Fine-tuning as a sequence of decisions: the dataset, the base model, the settings.

:class:`FineTuneState` is what the window's wizard has decided so far, as plain data:
each page fills in its part, and the later pages (and the tests) read one object.
:class:`TrainingProgress` turns the trainer's batch reports into overall progress and
an honest time left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_desktop.core.dataset import split_dataset
from resnet_desktop.core.train_config import Phase

if TYPE_CHECKING:
    from resnet_desktop.core.dataset import DatasetScan, DatasetSplit
    from resnet_desktop.core.train_config import BatchProgress, FitResult, TrainConfig
    from resnet_desktop.core.zoo import Preprocess

# Time left is shown only once this much has been measured: the first batches run slower
# (warm-up, caches) and an estimate from them is far off ("about 3:59 left" for a 12 s run).
ETA_MIN_SECONDS = 1.5
ETA_MIN_SHARE = 0.05  # of all the images of all the epochs


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


@dataclass(frozen=True)
class ProgressEstimate:
    fraction: float  # of the whole run, 0..1
    eta_seconds: float | None  # None: not enough measured yet ("estimating…")
    images_per_second: float | None  # over the whole run so far; None until measured


class TrainingProgress:
    """Overall progress and time left, from images done at the speed seen so far.

    Images of both phases count as one unit. The speed is measured from the first batch
    report on, so the one-off loading before the epochs does not distort it, and time
    left is given only after :data:`ETA_MIN_SECONDS` and :data:`ETA_MIN_SHARE` of the
    work. Early stopping can end a run before its last epoch: the time left is then an
    upper bound.
    """

    def __init__(self, epochs: int, train: int, val: int) -> None:
        self.epochs, self.train, self.val = max(1, epochs), max(1, train), val
        self._start: tuple[float, int] | None = None  # (elapsed, units) at the first report

    @property
    def total(self) -> int:
        return self.epochs * (self.train + self.val)

    def done(self, item: BatchProgress) -> int:
        """Images of both phases done since the run began."""
        finished_phase = self.train if item.phase != Phase.TRAIN else 0
        return (item.epoch - 1) * (self.train + self.val) + finished_phase + item.done

    def update(self, item: BatchProgress) -> ProgressEstimate:
        done = self.done(item)
        if self._start is None:
            self._start = (item.elapsed, done)
        seconds, units = item.elapsed - self._start[0], done - self._start[1]
        fraction = min(1.0, done / self.total)
        if units <= 0 or seconds <= 0:
            return ProgressEstimate(fraction, None, None)
        rate = units / seconds
        measured = seconds >= ETA_MIN_SECONDS and units >= ETA_MIN_SHARE * self.total
        eta = max(0, self.total - done) / rate if measured else None
        return ProgressEstimate(fraction, eta, rate)
