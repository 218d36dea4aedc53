"""Real data: the shared CIFAR-10 checkpoints reproduce their reference accuracy, and
``auto`` (the fastest setting on this machine) is as accurate as fp32.

The guard on ``auto`` is accuracy: its top-1 accuracy within 0.2 points of fp32, and at
most 1 % of the labels changed (reduced precision moves borderline images both ways).
ResNet-20 runs on all 10,000 test images; ResNet-56, three times the work, on a
stratified fifth (200 per class), which keeps this file fast enough for CI on 2 cores.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.predictor import Predictor, decode_or_reason
from tests.helpers import resolved

REFERENCE_TOP1 = {"resnet20-12fca82f.th": 0.8103}
MAX_ACCURACY_CHANGE = 0.002  # 0.2 points
MAX_LABELS_CHANGED = 0.01
SUBSET_STRIDE = 5  # every 5th image of each class folder


def _test_set(shared) -> list[Path]:
    paths = list(scan_images([shared("data/cifar10-test")]))
    assert len(paths) == 10_000
    return paths


def _truth(model: LoadedModel, paths: list[Path]) -> list[int]:
    return [model.class_names.index(p.parent.name) for p in paths]


def _decoded(model: LoadedModel, paths: list[Path]) -> torch.Tensor:
    """The network inputs of ``paths``, decoded once for every engine to share."""
    with ThreadPoolExecutor(os.cpu_count()) as pool:
        arrays = list(pool.map(lambda p: decode_or_reason(p, model.preprocess), paths))
    assert not [a for a in arrays if isinstance(a, str)]
    return torch.from_numpy(np.stack(arrays))


def _top1(predictor: Predictor, inputs: torch.Tensor) -> list[int]:
    return predictor.predict_inputs(inputs)[1][:, 0].tolist()


def _correct(labels: list[int], truth: list[int]) -> int:
    return sum(a == b for a, b in zip(labels, truth, strict=True))


def _assert_auto_is_as_accurate_as_fp32(
    model: LoadedModel, inputs: torch.Tensor, truth: list[int], fp32: list[int]
) -> None:
    auto = Predictor(model, resolved(model, device="cpu"))
    labels = _top1(auto, inputs)
    count = len(truth)
    change = abs(_correct(labels, truth) - _correct(fp32, truth))
    changed = sum(a != b for a, b in zip(labels, fp32, strict=True))
    setting = f"auto ({auto.runtime.describe()})"
    assert change <= MAX_ACCURACY_CHANGE * count, f"{setting}: {change} of {count} more wrong"
    assert changed <= MAX_LABELS_CHANGED * count, f"{setting}: {changed} of {count} changed"


def test_cifar_resnet20_reproduces_the_reference_accuracy_and_auto_is_as_accurate(shared):
    paths = _test_set(shared)
    model = load_model("cifar_resnet20", shared("weights/cifar10-resnet/resnet20-12fca82f.th"))
    truth = _truth(model, paths)
    pytorch = Predictor(model, resolved(model, device="cpu", precision="fp32", engine="torch"))
    fp32 = [p.indices[0] for batch in pytorch.predict_iter(paths) for p in batch.predictions]
    assert _correct(fp32, truth) == round(REFERENCE_TOP1["resnet20-12fca82f.th"] * 10_000)

    inputs = _decoded(model, paths)
    openvino = Predictor(model, resolved(model, device="cpu", precision="fp32", engine="openvino"))
    assert _top1(openvino, inputs) == fp32
    _assert_auto_is_as_accurate_as_fp32(model, inputs, truth, fp32)


def test_cifar_resnet56_auto_is_as_accurate_as_fp32_on_a_stratified_subset(shared):
    paths = _test_set(shared)[::SUBSET_STRIDE]  # sorted by class: 200 of each
    model = load_model("cifar_resnet56", shared("weights/cifar10-resnet/resnet56-4bfd9763.th"))
    truth = _truth(model, paths)
    assert np.bincount(truth).tolist() == [200] * 10
    inputs = _decoded(model, paths)
    pytorch = Predictor(model, resolved(model, device="cpu", precision="fp32", engine="torch"))
    _assert_auto_is_as_accurate_as_fp32(model, inputs, truth, _top1(pytorch, inputs))
