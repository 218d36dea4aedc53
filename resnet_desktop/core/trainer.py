"""Fine-tuning a zoo or library network on a folder-per-class dataset.

:func:`fit` is a generator in the shape of torchvision's reference scripts (a small
train-one-epoch and evaluate pair) that yields progress and per-epoch reports and ends
with one :class:`FitResult`, so the command line and the GUI's worker drive it the same
way. Three strategies:

* ``head``: the backbone is frozen, so its features are computed once (no augmentation,
  with the engine and precision prediction would use) and cached; each epoch then trains
  only the new linear head, which takes milliseconds.
* ``last``: the last stage of the backbone and the head train; frozen batch norm layers
  stay in eval mode so their running statistics keep the pretrained values.
* ``full``: everything trains.

This module builds a run from its parts, each in a module named after it: settings and
events in :mod:`~resnet_desktop.core.train_config` (torch-free, for the GUI's form), the
feeders of decoded images in :mod:`~resnet_desktop.core.training_data` or of cached
features in :mod:`~resnet_desktop.core.feature_cache`, augmentation in
:mod:`~resnet_desktop.core.augment`, what trains and how fast in
:mod:`~resnet_desktop.core.optimisation`, and the epochs in
:mod:`~resnet_desktop.core.epoch_loop`. The public names of fine-tuning are importable
from here whichever module defines them.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from resnet_desktop.core.augment import pad_crop_flip
from resnet_desktop.core.dataset import DatasetSplit, FileProblem
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.epoch_loop import (
    Best,
    Diverged,
    EarlyStopped,
    Ending,
    EpochLoop,
    Stopped,
    Validated,
    cpu_copy,
)
from resnet_desktop.core.evaluate import EvalReport, build_report
from resnet_desktop.core.feature_cache import (
    VALIDATION_BATCH,
    Backbone,
    Notify,
    feature_feeders,
)
from resnet_desktop.core.library import LibraryModel, ModelLibrary
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.networks import head_of, replace_head
from resnet_desktop.core.ood import OodError
from resnet_desktop.core.ood_training import (
    FeaturePass,
    LabelledFeatures,
    Measured,
    cached,
    image_features,
    measure,
)
from resnet_desktop.core.optimisation import Optimisation, learning_rate, set_trainable
from resnet_desktop.core.train_config import (
    OPTIMIZERS,
    STRATEGIES,
    BatchProgress,
    EpochReport,
    FitEvent,
    FitResult,
    Phase,
    Stage,
    StageProgress,
    TrainConfig,
    TrainingError,
    default_config,
    is_small_input,
    resolve_config,
)
from resnet_desktop.core.training_data import (
    BatchSize,
    BatchSizes,
    FeatureFeeder,
    Feeders,
    ImageSource,
    StopCheck,
    image_feeders,
)

__all__ = [
    "OPTIMIZERS",
    "STRATEGIES",
    "BatchProgress",
    "EpochReport",
    "FitEvent",
    "FitResult",
    "Phase",
    "Stage",
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
        "labelled": data.scan.labelled,  # images a person labelled in a results catalog
        "labelled_from": None if data.scan.labelled_from is None else str(data.scan.labelled_from),
    }


class _Run:
    """One call of :func:`fit`: the network to train and what its phases share."""

    def __init__(
        self,
        base: LoadedModel,
        data: DatasetSplit,
        config: TrainConfig,
        stop: StopCheck,
        base_weights: str | None,
        notify: Notify | None,
    ) -> None:
        _check_data(data)
        self.base, self.data, self.config, self.stop = base, data, config, stop
        self.notify = notify
        self.base_weights = base_weights or base.name
        runtime = config.runtime.in_pytorch().resolve(base.preprocess)
        self.device = torch.device(runtime.device)
        self.precision = runtime.precision
        self.started = time.monotonic()
        self.skipped: dict[Path, str] = {}
        workers = config.workers or min(8, os.cpu_count() or 1)
        self.sources = (
            ImageSource(data.train, base.preprocess, workers, self.skipped),
            ImageSource(data.val, base.preprocess, workers, self.skipped),
        )
        infer = BatchSize(256 if is_small_input(base.preprocess) else 64)
        self.sizes = BatchSizes(
            train=BatchSize(int(config.batch_size or 1)),
            infer=infer,
            val=BatchSize(VALIDATION_BATCH) if config.strategy == "head" else infer,
        )
        self.normalize = Normalizer(base.preprocess.mean, base.preprocess.std, self.device)
        with torch.random.fork_rng(devices=[]):  # seeds the new head, not the caller's RNG
            torch.manual_seed(config.seed)
            self.model = self._prepare_model()
        head = head_of(self.model, base.spec)
        self.module: nn.Module = head if config.strategy == "head" else self.model

    def _prepare_model(self) -> nn.Module:
        model = copy.deepcopy(self.base.network)
        replace_head(model, self.base.spec, len(self.data.class_names))
        set_trainable(model, self.base.spec, self.config.strategy)
        return model.to(self.device, memory_format=torch.channels_last)

    def events(self) -> Iterator[FitEvent]:
        feeders = yield from self._feeders()
        if feeders is None:
            yield self._result(Stopped(), [], None)
            return
        optimisation = Optimisation(
            self.module, self.config, self.data.train_counts, self.device, self.precision
        )
        loop = EpochLoop(
            self.model, optimisation, feeders, self.config, self.sizes, self.stop, self.started
        )
        ending = yield from loop.run()
        measured = None
        if loop.best is not None and not isinstance(ending, Stopped):
            self.module.load_state_dict(loop.best.state)
            measured = yield from self._measure_ood(feeders)
        yield self._result(ending, loop.history, loop.best, measured)

    def _measure_ood(self, feeders: Feeders) -> Generator[StageProgress, None, Measured | None]:
        """The best network's "unknown" setup; None when stopped or it cannot be made.

        A model without one still classifies: a failure here is a notice, not an error.
        """
        if isinstance(feeders.train, FeatureFeeder) and isinstance(feeders.val, FeatureFeeder):
            found: tuple[LabelledFeatures, ...] | None = tuple(
                cached(feeder.features, feeder.labels) for feeder in (feeders.train, feeders.val)
            )
        else:
            head = head_of(self.model, self.base.spec)
            run = FeaturePass(
                self.model, head, self.normalize, self.precision, self.sizes.infer.value
            )
            found = yield from image_features(run, self.sources, self.stop)
        if found is None:
            return None
        try:
            return measure(found[0], found[1], len(self.data.class_names))
        except OodError as error:
            if self.notify:
                self.notify(f"the model will not say 'unknown': {error}")
            return None

    def _feeders(self) -> Generator[StageProgress, None, Feeders | None]:
        """Cached features for the head strategy, decoded images otherwise."""
        preprocess, config = self.base.preprocess, self.config
        train, val = self.sources
        if config.strategy == "head":  # the frozen part runs as prediction would run it
            runtime = config.runtime.resolve(preprocess)
            backbone = Backbone(self.model, self.base, self.normalize, runtime)
            return (
                yield from feature_feeders(
                    backbone, train, val, self.sizes.infer, self.stop, config.seed, self.notify
                )
            )
        return (
            yield from image_feeders(
                train, val, self.normalize, config.augment, config.seed, self.stop
            )
        )

    def _result(
        self,
        ending: Ending,
        history: list[EpochReport],
        best: Best | None,
        measured: Measured | None = None,
    ) -> FitResult:
        result = FitResult(
            architecture=self.base.spec.name,
            base_weights=self.base_weights,
            class_names=list(self.data.class_names),
            preprocess=self.base.preprocess,
            config=self.config,
            history=list(history),
            best_epoch=None if best is None else best.epoch,
            skipped=[FileProblem(path, reason) for path, reason in self.skipped.items()],
            dataset=_dataset_info(self.data),
            cancelled=isinstance(ending, Stopped),
            stopped_early=isinstance(ending, EarlyStopped),
            error=ending.message if isinstance(ending, Diverged) else None,
            ood=None if measured is None else measured.setup,
            ood_bank=None if measured is None else measured.bank,
        )
        if best is not None:
            self.module.load_state_dict(best.state)
            result.state_dict = cpu_copy(self.model.state_dict())
            result.report = self._report(best.val)
        return result

    def _report(self, val: Validated) -> EvalReport:
        samples = [self.data.val[i] for i in val.indices]
        return build_report(
            self.data.class_names,
            [sample.label for sample in samples],
            val.predicted,
            val.probs,
            [sample.path for sample in samples],
        )


def fit(
    base: LoadedModel,
    data: DatasetSplit,
    config: TrainConfig | None = None,
    should_stop: StopCheck | None = None,
    *,
    base_weights: str | None = None,
    notify: Notify | None = None,
) -> Iterator[FitEvent]:
    """Fine-tune ``base`` for ``data``'s classes; the last item is always one FitResult.

    The base network is copied, never changed. A NaN/inf loss ends the run with
    ``FitResult.error`` set; ``should_stop`` ends it within a batch with ``cancelled``
    set; either way the best finished epoch is kept and can be saved. ``notify`` hears
    one-line notices: a first-time OpenVINO conversion, a fall-back to PyTorch.

    The head strategy's first OpenVINO conversion of a base runs in a child process, so
    that a stop ends it at once: a script calling this must be safe to import (the
    ``if __name__ == "__main__"`` idiom), as with any use of multiprocessing's spawn.

    Raises:
        TrainingError: settings or data that cannot train (before the first epoch), or
            out of GPU memory at batch size 1.
    """
    resolved = resolve_config(config or TrainConfig(), base.preprocess)
    run = _Run(base, data, resolved, should_stop or (lambda: False), base_weights, notify)
    yield from run.events()


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
        ood_bank=result.ood_bank,
    )
