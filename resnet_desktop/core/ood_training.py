"""What fine-tuning measures so that its model can say "unknown": the kNN setup and bank.

After the epochs, the best network's penultimate features of the training images become
the bank stored beside the model, and the validation images, which are not in it, give
the suggested threshold (:func:`~resnet_desktop.core.ood.knn_setup`). The head strategy
already holds both sets of features (cached once, computed as prediction computes them);
the other strategies run the trained network once more over the images, without
augmentation.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from resnet_desktop.core.device import Normalizer, autocast
from resnet_desktop.core.ood import MAX_BANK_ROWS, OodSetup, knn_setup, logits_and_features
from resnet_desktop.core.train_config import Stage, StageProgress
from resnet_desktop.core.training_data import ImageSource, StopCheck

BANK_BYTES = 128 * 1024 * 1024


class LabelledFeatures(NamedTuple):
    features: np.ndarray  # one float32 row per decodable image
    labels: np.ndarray  # class index per row


class Measured(NamedTuple):
    setup: OodSetup
    bank: np.ndarray


def measure(train: LabelledFeatures, val: LabelledFeatures, classes: int) -> Measured:
    """The kNN setup and its bank; a training set over :func:`bank_rows` is thinned evenly.

    Every n-th image keeps each class's share; Sun et al. 2022 found a 1 % sample of
    ImageNet's training set still a good bank.
    """
    step = -(-len(train.features) // bank_rows(train.features.shape[1]))  # ceiling division
    features, labels = train.features[::step], train.labels[::step]
    counts = np.bincount(labels, minlength=classes).tolist()
    setup, bank = knn_setup(features, val.features, counts)
    return Measured(setup, bank)


def bank_rows(width: int) -> int:
    """How many training images the bank keeps: BANK_BYTES of float32 at most.

    The bank is read by every prediction run: 64k images of a CIFAR ResNet, 16k of a
    ResNet-50, 128 MiB either way.
    """
    return max(1, min(MAX_BANK_ROWS, BANK_BYTES // (4 * max(1, width))))


def cached(features: torch.Tensor, labels: torch.Tensor) -> LabelledFeatures:
    """The head strategy's cached features, as the bank takes them."""
    return LabelledFeatures(
        features.detach().float().cpu().numpy(), labels.detach().cpu().numpy().astype(np.int64)
    )


class FeaturePass(NamedTuple):
    """The trained network and how to run it over images for their features."""

    model: nn.Module
    head: nn.Module
    normalize: Normalizer
    precision: str
    batch_size: int


def image_features(
    run: FeaturePass, sources: tuple[ImageSource, ImageSource], stop: StopCheck
) -> Generator[StageProgress, None, tuple[LabelledFeatures, ...] | None]:
    """The features of both sources' images, no augmentation; None when stopped."""
    total = sum(len(source.samples) for source in sources)
    done = 0
    found = []
    run.model.eval()
    for source in sources:
        rows: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        for batch in source.batches(range(len(source.samples)), run.batch_size, stop):
            with torch.no_grad(), autocast(run.normalize.device, run.precision):
                _, features = logits_and_features(run.model, run.head, run.normalize(batch.images))
            rows.append(features.float().cpu().numpy())
            labels.append(batch.labels.numpy())
            done += batch.requested
            yield StageProgress(Stage.OOD_FEATURES, done, total)
        if stop():
            return None
        width = run.head.in_features if isinstance(run.head, nn.Linear) else 0
        found.append(
            LabelledFeatures(
                np.concatenate(rows) if rows else np.zeros((0, width), np.float32),
                np.concatenate(labels) if labels else np.zeros(0, np.int64),
            )
        )
    return tuple(found)
