"""The head strategy's inputs: the frozen backbone's features, computed once.

With the backbone frozen and no augmentation, every epoch would compute the same
features again; computed once (no augmentation) and served from memory, an epoch of
head training takes milliseconds.

So a head-only run is bound by decoding and by the backbone, and the backbone runs on the
engine and precision prediction would use on this machine (the full
:class:`~resnet_desktop.core.runtime.ResolvedRuntime`): on a CPU that is OpenVINO, with
the head cut off and the result cached under its own key, several times faster than eager
PyTorch. The head trains in PyTorch, on the features the engine gives, as it will see them
when the fine-tuned model predicts. When OpenVINO cannot convert the backbone, PyTorch
computes the features, with a notice; a stop during the conversion stops the run.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from resnet_desktop.core.device import Normalizer, autocast
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.networks import head_of
from resnet_desktop.core.openvino_engine import ConversionStopped, OpenVinoNetwork
from resnet_desktop.core.runtime import ResolvedRuntime
from resnet_desktop.core.train_config import Stage, StageProgress, TrainingError
from resnet_desktop.core.training_data import (
    BatchSize,
    FeatureFeeder,
    Feeders,
    ImageSource,
    StopCheck,
    retrying,
)
from resnet_desktop.core.zoo import ModelSpec

logger = logging.getLogger(__name__)

VALIDATION_BATCH = 4096  # cached features per validation batch: a head's logits are small

Notify = Callable[[str], None]
Run = Callable[[torch.Tensor], torch.Tensor]  # a uint8 NHWC batch in, features out


@dataclass(frozen=True)
class Backbone:
    """The network whose head trains, and how its frozen part runs.

    Attributes:
        model: the network being trained, on the training device.
        base: the model it was copied from (name, architecture, preprocessing).
        normalize: uint8 NHWC to normalised inputs, on the training device.
        runtime: the engine and precision prediction would use: the features' own.
    """

    model: nn.Module
    base: LoadedModel
    normalize: Normalizer
    runtime: ResolvedRuntime

    @property
    def spec(self) -> ModelSpec:
        return self.base.spec


class Features(NamedTuple):
    """The head's inputs for every decodable sample of a source, with labels and indices."""

    features: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor  # positions in the source's sample list (on the CPU)


class _Extractor(NamedTuple):
    """The frozen part as a function: a uint8 NHWC batch in, one row of features per image."""

    run: Run
    device: torch.device  # where features and labels are kept: where the head trains
    width: int  # features per image (the head's inputs)


def feature_feeders(
    backbone: Backbone,
    train: ImageSource,
    val: ImageSource,
    size: BatchSize,
    stop: StopCheck,
    seed: int,
    notify: Notify | None = None,
) -> Generator[StageProgress, None, Feeders | None]:
    """Feeders over cached features of both sources; None when stopped.

    ``notify`` hears of a first-time conversion and of a fall-back to PyTorch.
    """
    total = len(train.samples) + len(val.samples)
    yield StageProgress(Stage.CACHING_FEATURES, 0, total)  # while the engine gets ready
    width = head_of(backbone.model, backbone.spec).in_features
    cached = []
    with _headless(backbone.model, backbone.spec):
        run = _engine(backbone, stop, notify)
        if run is None:
            return None
        extractor = _Extractor(run, backbone.normalize.device, width)
        for source, done in ((train, 0), (val, len(train.samples))):
            make = functools.partial(_features, extractor, source, done, total, size, stop)
            features = yield from retrying(make, size)
            if features is None:
                return None
            cached.append(features)
    if not len(cached[0].indices):
        raise TrainingError("none of the training images could be decoded")
    return Feeders(FeatureFeeder(*cached[0], seed), FeatureFeeder(*cached[1], seed + 1))


def _engine(backbone: Backbone, stop: StopCheck, notify: Notify | None) -> Run | None:
    """The headless network on the runtime's engine; None when stopped while converting.

    OpenVINO falls back to PyTorch whatever the user named: training has no engine
    option of its own, and PyTorch computes the same features, only slower.
    """
    if backbone.runtime.engine == "openvino":
        try:
            return _openvino(backbone, stop, notify)
        except ConversionStopped:
            return None
        except Exception as error:  # any failure means: compute the features in PyTorch
            reason = f"OpenVINO could not compile {_backbone_name(backbone)} ({error})"
            logger.warning("%s; computing its features in PyTorch", reason, exc_info=error)
            if notify:
                notify(f"{reason}; computing its features in PyTorch")
    return _pytorch(backbone)


def _openvino(backbone: Backbone, stop: StopCheck, notify: Notify | None) -> OpenVinoNetwork:
    """The network, its head already cut off, converted (or read from the cache) and compiled.

    Without its head the network has a module tree and weights of its own, so it gets a
    cache entry of its own, shared by every fine-tuning of one base whatever its classes.
    """
    base = backbone.base
    headless = LoadedModel(_backbone_name(backbone), base.spec, backbone.model, [], base.preprocess)
    return OpenVinoNetwork(headless, backbone.runtime.precision, notify, stop)


def _backbone_name(backbone: Backbone) -> str:
    return f"the backbone of {backbone.base.name}"


def _pytorch(backbone: Backbone) -> Run:
    """The headless network in PyTorch, in the runtime's precision, on the training device."""
    model, normalize, precision = backbone.model, backbone.normalize, backbone.runtime.precision
    model.eval()

    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(normalize.device, precision):
            return model(normalize(images)).float()

    return run


def _features(
    extractor: _Extractor,
    source: ImageSource,
    done: int,
    total: int,
    size: BatchSize,
    stop: StopCheck,
) -> Generator[StageProgress, None, Features | None]:
    """Backbone outputs of every decodable sample, no augmentation; None when stopped."""
    parts: list[Features] = []
    order = list(range(len(source.samples)))
    for batch in source.batches(order, size.value, stop):
        size.last = len(batch.images)
        features = extractor.run(batch.images).flatten(1).to(extractor.device)
        parts.append(Features(features, batch.labels.to(extractor.device), batch.indices))
        done += batch.requested
        yield StageProgress(Stage.CACHING_FEATURES, done, total)
    if stop():
        return None
    if not parts:
        return _no_features(extractor.width, extractor.device)
    return Features(*(torch.cat(column) for column in zip(*parts, strict=True)))


def _no_features(width: int, device: torch.device) -> Features:
    no_labels = torch.zeros(0, dtype=torch.long, device=device)
    return Features(torch.zeros(0, width, device=device), no_labels, no_labels.cpu())


@contextlib.contextmanager
def _headless(model: nn.Module, spec: ModelSpec) -> Iterator[None]:
    """An identity where the head is, so the network's outputs are the head's inputs."""
    parent_path, _, attribute = spec.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    head = getattr(parent, attribute)
    setattr(parent, attribute, nn.Identity())
    try:
        yield
    finally:
        setattr(parent, attribute, head)
