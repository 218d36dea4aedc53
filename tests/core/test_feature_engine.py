"""Head-only training's frozen features: from the engine the runtime names, as accurate."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Generator
from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_desktop.core import feature_cache, openvino_engine
from resnet_desktop.core.dataset import DatasetSplit, load_scan, split_dataset
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.evaluate import EvalReport, evaluate
from resnet_desktop.core.feature_cache import Backbone, feature_feeders
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.trainer import FitResult, StageProgress, TrainConfig, fit
from resnet_desktop.core.training_data import BatchSize, Feeders, ImageSource
from resnet_desktop.core.zoo import Preprocess, get_spec
from tests.helpers import (
    CLASS_COLOURS,
    COLOURS,
    colour_model,
    write_class_folders,
    write_colour_images,
)

CIFAR = Preprocess(crop=32, resize=None)
OPENVINO_FP32 = RuntimeOptions(device="cpu", precision="fp32", engine="openvino")
PREPARING = "Preparing the backbone of tiny for OpenVINO (once per model; later runs reuse it)"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An OpenVINO cache of this test's own, to see what is converted."""
    root = tmp_path / "openvino-cache"
    monkeypatch.setattr(openvino_engine, "cache_root", lambda: root)
    return root


@pytest.fixture(scope="module")
def colours(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_class_folders(tmp_path_factory.mktemp("colours"), 20)


@pytest.fixture(scope="module")
def split(colours: Path) -> DatasetSplit:
    return split_dataset(load_scan(colours), 0.25, seed=0)


def tiny_base() -> LoadedModel:
    """A seeded small convolutional network with its head where cifar_resnet20 has it.

    Its class is local, so it does not pickle and converts in this process (quickly).
    """

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
            )
            self.linear = nn.Linear(16, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.linear(self.body(x))

    torch.manual_seed(0)
    names = [f"c{i}" for i in range(10)]
    return LoadedModel("tiny", get_spec("cifar_resnet20"), Tiny().eval(), names, CIFAR)


def head_run(
    base: LoadedModel, split: DatasetSplit, runtime: RuntimeOptions, **kwargs
) -> tuple[FitResult, list]:
    config = TrainConfig(strategy="head", epochs=3, workers=1, runtime=runtime)
    events = list(fit(base, split, config, **kwargs))
    assert isinstance(events[-1], FitResult)
    return events[-1], events[:-1]


def spy_on_openvino(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Record each OpenVINO network the features are computed with, and what it ran."""
    made: list[dict] = []
    real = feature_cache.OpenVinoNetwork

    def spy(model: LoadedModel, precision: str, *args, **kwargs):
        network = real(model, precision, *args, **kwargs)
        record = {"precision": precision, "head": type(model.network.linear), "images": 0}
        made.append(record)

        def run(images: torch.Tensor) -> torch.Tensor:
            record["images"] += len(images)
            return network(images)

        return run

    monkeypatch.setattr(feature_cache, "OpenVinoNetwork", spy)
    return made


# ----------------------------------------------------------------- which engine


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (OPENVINO_FP32, "fp32"),
        (RuntimeOptions(device="cpu", precision="bf16", engine="openvino"), "bf16"),
        (RuntimeOptions(device="cpu", precision="fp32", engine="torch"), None),
    ],
)
def test_features_come_from_the_engine_the_runtime_names(
    split: DatasetSplit, monkeypatch: pytest.MonkeyPatch, options: RuntimeOptions, expected
):
    made = spy_on_openvino(monkeypatch)
    result, _ = head_run(tiny_base(), split, options)
    assert result.savable and len(result.history) == 3
    if expected is None:
        assert made == []
    else:  # the network without its head, run over every image once
        assert made == [{"precision": expected, "head": nn.Identity, "images": 60}]
    assert isinstance(result.state_dict, dict) and result.state_dict["linear.weight"].shape[0] == 3


def test_auto_computes_features_with_the_engine_prediction_resolves(
    split: DatasetSplit, monkeypatch: pytest.MonkeyPatch
):
    made = spy_on_openvino(monkeypatch)
    options = RuntimeOptions(device="cpu")
    resolved = options.resolve(CIFAR)
    head_run(tiny_base(), split, options)
    assert [m["precision"] for m in made] == (
        [resolved.precision] if resolved.engine == "openvino" else []
    )


def test_the_backbone_has_a_cache_entry_of_its_own_for_any_classes(
    cache: Path, split: DatasetSplit, tmp_path: Path
):
    base = tiny_base()
    notices: list[str] = []
    head_run(base, split, OPENVINO_FP32, notify=notices.append)
    assert notices == [PREPARING]
    assert entries(cache) != [] and entries(cache) != [openvino_engine.cache_key(base)]

    two = write_class_folders(tmp_path, 8, {name: CLASS_COLOURS[name] for name in ("red", "blue")})
    result, _ = head_run(tiny_base(), split_dataset(load_scan(two), 0.25), OPENVINO_FP32)
    assert result.class_names == ["blue", "red"]
    assert len(entries(cache)) == 1  # the same backbone, read from its entry
    assert notices == [PREPARING]


def entries(cache: Path) -> list[str]:
    """The cache's entries: folders, less hidden ones (conversions still being written)."""
    return sorted(p.name for p in cache.iterdir() if p.is_dir() and not p.name.startswith("."))


# ----------------------------------------------------------------- the same features


def cached_features(base: LoadedModel, split: DatasetSplit, options: RuntimeOptions) -> Feeders:
    """Both feeders of cached features, in batches of 7 (several per source)."""
    model = base.network
    normalize = Normalizer(CIFAR.mean, CIFAR.std, torch.device("cpu"))
    backbone = Backbone(model, base, normalize, options.resolve(CIFAR))
    train = ImageSource(split.train, CIFAR, 1, {})
    val = ImageSource(split.val, CIFAR, 1, {})
    return drain(feature_feeders(backbone, train, val, BatchSize(7), lambda: False, 0))


def drain(generator: Generator[object, None, Feeders | None]) -> Feeders:
    while True:
        try:
            next(generator)
        except StopIteration as finished:
            assert finished.value is not None
            return finished.value


def test_openvino_features_agree_with_pytorch_in_fp32(split: DatasetSplit):
    base = tiny_base()
    torch_fp32 = RuntimeOptions(device="cpu", precision="fp32", engine="torch")
    expected = cached_features(base, split, torch_fp32)
    got = cached_features(base, split, OPENVINO_FP32)
    for mine, theirs in zip(got, expected, strict=True):
        assert torch.equal(mine.labels, theirs.labels)
        assert torch.equal(mine.indices, theirs.indices)
        assert mine.features.dtype == torch.float32 and mine.features.shape == (
            len(mine.indices),
            16,
        )
        assert mine.features.abs().max() > 0.1  # not all zeros: a comparison that can fail
        torch.testing.assert_close(mine.features, theirs.features, atol=1e-4, rtol=1e-4)
    assert isinstance(base.network.linear, nn.Linear)  # the head is back


# ----------------------------------------------------------------- fall-back and stop


def test_a_backbone_openvino_cannot_convert_runs_in_pytorch_with_a_notice(
    cache: Path,
    split: DatasetSplit,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    def refuse(model):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(openvino_engine, "export", refuse)
    notices: list[str] = []
    with caplog.at_level(logging.WARNING, logger=feature_cache.__name__):
        result, _ = head_run(tiny_base(), split, OPENVINO_FP32, notify=notices.append)
    reason = "OpenVINO could not compile the backbone of tiny (unsupported operator)"
    assert notices == [PREPARING, f"{reason}; computing its features in PyTorch"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{reason}; computing its features in PyTorch"
    ]
    assert caplog.records[0].exc_info is not None
    assert result.savable and len(result.history) == 3 and result.error is None


def test_a_stop_during_the_conversion_stops_the_run(cache: Path, split: DatasetSplit):
    base = load_model("cifar_resnet20", "random")  # pickles: converts in a child process
    converting = lambda: bool(multiprocessing.active_children())  # noqa: E731
    result, events = head_run(base, split, OPENVINO_FP32, should_stop=converting)
    assert result.cancelled and not result.savable and result.history == []
    assert [(e.done, e.total) for e in events if isinstance(e, StageProgress)] == [(0, 60)]
    assert multiprocessing.active_children() == []
    assert [p.name for p in cache.iterdir()] == []  # no entry, no half-written folder


# ----------------------------------------------------------------- evaluation


@pytest.mark.parametrize(("engine", "converted"), [("openvino", ["fp32"]), ("torch", [])])
def test_evaluation_predicts_with_the_engine_the_runtime_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, converted: list[str]
):
    made: list[str] = []
    real = openvino_engine.OpenVinoNetwork

    def spy(model: LoadedModel, precision: str, *args, **kwargs):
        made.append(precision)
        return real(model, precision, *args, **kwargs)

    monkeypatch.setattr(openvino_engine, "OpenVinoNetwork", spy)
    for colour in COLOURS:
        write_colour_images(tmp_path / colour, per_colour=2)
    options = RuntimeOptions(device="cpu", precision="fp32", engine=engine)
    report = list(evaluate(colour_model(), tmp_path, options))[-1]
    assert made == converted
    assert isinstance(report, EvalReport) and report.total == 18
    assert report.accuracy == pytest.approx(1 / 3)  # each folder holds 2 of its own colour's 6
