"""int8: NNCF quantises the OpenVINO network on the user's images, once per model.

These run where the ``[int8]`` extra (NNCF) is installed; without it, asking for int8 is
a one-line error (tests/core/test_runtime.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from resnet_desktop.core import device as device_mod
from resnet_desktop.core import openvino_engine
from resnet_desktop.core.model_loader import LoadedModel
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.core.zoo import Preprocess, get_spec
from tests.helpers import COLOURS, resolved, write_colour_images

# Not importorskip: importing nncf here, before the engine hides openvino_telemetry, would
# let it load (tests/core/test_openvino_engine.py checks that it never does).
pytestmark = pytest.mark.skipif(
    not device_mod.nncf_installed(), reason="int8 needs the [int8] extra (NNCF)"
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "openvino-cache"
    monkeypatch.setattr(openvino_engine, "cache_root", lambda: root)
    return root


def _colour_convnet() -> LoadedModel:
    """A 1x1 convolution (something to quantise) that scores each image's mean colour."""
    convolution = torch.nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        convolution.weight.copy_(torch.eye(3).view(3, 3, 1, 1) * 4)
        convolution.bias.zero_()
    network = torch.nn.Sequential(convolution, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
    return LoadedModel(
        name="colour-convnet",
        spec=get_spec("cifar_resnet20"),
        network=network.eval(),
        class_names=list(COLOURS),
        preprocess=Preprocess(crop=16, resize=None),
    )


def _int8(model: LoadedModel, **kwargs) -> Predictor:
    return Predictor(model, resolved(model, device="cpu", precision="int8"), **kwargs)


def _labels(predictor: Predictor, paths: list[Path]) -> list[str]:
    return [p.labels[0] for b in predictor.predict_iter(paths) for p in b.predictions]


def test_int8_quantises_on_the_run_images_once_and_keeps_the_labels(tmp_path: Path, cache: Path):
    paths = write_colour_images(tmp_path / "photos", per_colour=4, size=(20, 20))
    model = _colour_convnet()
    notices: list[str] = []
    first = _int8(model, notify=notices.append)
    assert first.needs_calibration and first.runtime.engine == "openvino"
    assert _labels(first, paths) == [p.name.split("_")[0] for p in paths]
    assert notices == [f"Quantising colour-convnet to int8 on {len(paths)} of your images "
                       "(once per model; later runs reuse it)"]  # fmt: skip
    (entry,) = (p for p in cache.iterdir() if p.name.endswith(openvino_engine.INT8_SUFFIX))
    assert "FakeQuantize" in (entry / "model.xml").read_text()

    again = _int8(model, notify=notices.append)
    assert not again.needs_calibration and len(notices) == 1  # read from the cache
    assert again.predict_inputs(torch.zeros(2, 16, 16, 3, dtype=torch.uint8))[1].shape == (2, 3)


def test_the_calibration_sample_spans_the_list_and_skips_bad_files(
    tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
):
    paths = write_colour_images(tmp_path, per_colour=4, size=(20, 20))  # red, green, blue
    paths[0].write_bytes(b"not an image")
    monkeypatch.setattr(openvino_engine, "CALIBRATION_IMAGES", 4)
    channels: list[int] = []  # the dominant channel of each calibration image
    quantize = openvino_engine.quantize

    def spy(converted, calibration):
        channels.extend(int(image[0].reshape(-1, 3).mean(axis=0).argmax()) for image in calibration)
        return quantize(converted, calibration)

    monkeypatch.setattr(openvino_engine, "quantize", spy)
    _int8(_colour_convnet()).calibrate(paths)  # sorted: blue, green, red; 4 of each
    assert channels == [2, 1, 0]  # paths 3, 6, 9: the broken path 0 left out


def test_int8_before_calibration_is_a_bug_and_a_stopped_quantisation_runs_nothing(
    tmp_path: Path, cache: Path
):
    predictor = _int8(_colour_convnet())
    with pytest.raises(RuntimeError, match="call calibrate"):
        predictor.predict_inputs(torch.zeros(1, 16, 16, 3, dtype=torch.uint8))
    assert list(predictor.predict_iter([])) == []
    paths = write_colour_images(tmp_path, per_colour=1)
    stopped = _int8(_colour_convnet())  # a stop ends the quantising child process at once
    assert list(stopped.predict_iter(paths, should_stop=lambda: True)) == []
    assert stopped.needs_calibration


def test_int8_refuses_what_cannot_run_it(monkeypatch: pytest.MonkeyPatch):
    model = _colour_convnet()
    with pytest.raises(ValueError, match="int8 runs in OpenVINO only"):
        resolved(model, device="cpu", precision="int8", engine="torch")
    monkeypatch.setattr(device_mod, "openvino_installed", lambda: False)
    with pytest.raises(ValueError, match=r"resnet-desktop\[int8\]"):
        resolved(model, device="cpu", precision="int8")
