"""Real data: the shared CIFAR-10 checkpoints reproduce their reference accuracy."""

from __future__ import annotations

from pathlib import Path

from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.predictor import Predictor
from tests.helpers import resolved

REFERENCE_TOP1 = {"resnet20-12fca82f.th": 0.8103}


def _labels(predictor: Predictor, paths: list[Path]) -> list[int]:
    return [p.indices[0] for batch in predictor.predict_iter(paths) for p in batch.predictions]


def test_cifar_resnet20_reproduces_the_reference_accuracy_in_both_engines_and_auto_agrees(
    shared,
):
    folder = shared("data/cifar10-test")
    weights = shared("weights/cifar10-resnet/resnet20-12fca82f.th")
    paths = list(scan_images([folder]))
    assert len(paths) == 10_000
    model = load_model("cifar_resnet20", weights)
    truth = [model.class_names.index(p.parent.name) for p in paths]

    fp32 = _labels(
        Predictor(model, resolved(model, device="cpu", precision="fp32", engine="torch")), paths
    )
    correct = sum(a == b for a, b in zip(fp32, truth, strict=True))
    assert correct == round(REFERENCE_TOP1["resnet20-12fca82f.th"] * 10_000)

    openvino = Predictor(model, resolved(model, device="cpu", precision="fp32", engine="openvino"))
    assert _labels(openvino, paths) == fp32

    auto = Predictor(model, resolved(model, device="cpu", precision="auto"))
    changed = sum(a != b for a, b in zip(_labels(auto, paths), fp32, strict=True))
    assert changed <= 50, f"{auto.runtime.describe()} changed {changed} of 10,000 top-1 labels"
