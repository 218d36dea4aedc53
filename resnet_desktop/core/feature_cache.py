"""The head strategy's inputs: the frozen backbone's features, computed once.

With the backbone frozen and no augmentation, every epoch would compute the same
features again; computed once (no augmentation) and served from memory, an epoch of
head training takes milliseconds.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from resnet_desktop.core.device import Normalizer, autocast
from resnet_desktop.core.networks import head_of
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

VALIDATION_BATCH = 4096  # cached features per validation batch: a head's logits are small


@dataclass(frozen=True)
class Backbone:
    """The network whose head trains, and how to run it."""

    model: nn.Module
    spec: ModelSpec
    normalize: Normalizer
    precision: str


class Features(NamedTuple):
    """The head's inputs for every decodable sample of a source, with labels and indices."""

    features: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor  # positions in the source's sample list (on the CPU)


def feature_feeders(
    backbone: Backbone,
    train: ImageSource,
    val: ImageSource,
    size: BatchSize,
    stop: StopCheck,
    seed: int,
) -> Generator[StageProgress, None, Feeders | None]:
    """Feeders over cached features of both sources; None when stopped."""
    total = len(train.samples) + len(val.samples)
    cached = []
    for source, done in ((train, 0), (val, len(train.samples))):
        make = functools.partial(_features, backbone, source, done, total, size, stop)
        features = yield from retrying(make, size)
        if features is None:
            return None
        cached.append(features)
    if not len(cached[0].indices):
        raise TrainingError("none of the training images could be decoded")
    return Feeders(FeatureFeeder(*cached[0], seed), FeatureFeeder(*cached[1], seed + 1))


def _features(
    backbone: Backbone,
    source: ImageSource,
    done: int,
    total: int,
    size: BatchSize,
    stop: StopCheck,
) -> Generator[StageProgress, None, Features | None]:
    """Backbone outputs of every decodable sample, no augmentation; None when stopped."""
    model, normalize = backbone.model, backbone.normalize
    model.eval()
    parts: list[Features] = []
    with _headless(model, backbone.spec):
        order = list(range(len(source.samples)))
        for batch in source.batches(order, size.value, stop):
            with torch.no_grad(), autocast(normalize.device, backbone.precision):
                images = normalize(batch.images)
                size.last = len(images)
                features = model(images).float().flatten(1)
            parts.append(Features(features, batch.labels.to(normalize.device), batch.indices))
            done += batch.requested
            yield StageProgress(Stage.CACHING_FEATURES, done, total)
    if stop():
        return None
    if not parts:
        return _no_features(head_of(model, backbone.spec).in_features, normalize.device)
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
