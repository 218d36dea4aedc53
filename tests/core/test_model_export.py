"""Exported models give PyTorch's logits when another runtime loads them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from resnet_desktop.cli import main
from resnet_desktop.core import openvino_engine
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.model_export import ExportError, export_model
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.weights import read_class_names

BATCHES = (1, 3)  # a batch size other than the one exported with: the batch is dynamic


def torch_logits(model, images: np.ndarray) -> np.ndarray:
    """The predictor's arithmetic: uint8 NHWC, normalised, through the network."""
    normalize = Normalizer(model.preprocess.mean, model.preprocess.std, torch.device("cpu"))
    with torch.no_grad():
        return model.network(normalize(torch.from_numpy(images))).numpy()


def random_images(count: int, size: int) -> np.ndarray:
    return np.random.default_rng(count).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


@pytest.fixture
def model(tiny_model):
    """The library's tiny ResNet-20, named with a dot (which is not a file suffix)."""
    loaded = load_model(tiny_model)
    loaded.name = "tiny.v2"
    return loaded


def test_onnx_runtime_gives_the_logits_of_pytorch(model, tmp_path):
    import onnx
    import onnxruntime

    files = export_model(model, "onnx", tmp_path)
    assert sorted(p.name for p in files) == ["tiny.v2.classes.txt", "tiny.v2.json", "tiny.v2.onnx"]
    assert onnx.load(tmp_path / "tiny.v2.onnx").opset_import[0].version == 18
    session = onnxruntime.InferenceSession(
        tmp_path / "tiny.v2.onnx", providers=["CPUExecutionProvider"]
    )
    (inputs,) = session.get_inputs()
    assert inputs.name == "images" and inputs.shape == ["batch", 32, 32, 3]
    for batch in BATCHES:
        images = random_images(batch, 32)
        (logits,) = session.run(["logits"], {"images": images})
        np.testing.assert_allclose(logits, torch_logits(model, images), atol=1e-4, rtol=1e-4)


def test_openvino_gives_the_logits_of_pytorch(model, tmp_path):
    openvino = openvino_engine._openvino()  # a plain import would start its telemetry

    files = export_model(model, "openvino", tmp_path)
    names = sorted(p.name for p in files)
    assert names == ["tiny.v2.bin", "tiny.v2.classes.txt", "tiny.v2.json", "tiny.v2.xml"]
    compiled = openvino.Core().compile_model(
        tmp_path / "tiny.v2.xml", "CPU", {"INFERENCE_PRECISION_HINT": "f32"}
    )
    for batch in BATCHES:
        images = random_images(batch, 32)
        logits = compiled(images)[0]
        np.testing.assert_allclose(logits, torch_logits(model, images), atol=1e-4, rtol=1e-4)


def test_the_class_names_and_description_lie_beside_the_model(model, tmp_path):
    export_model(model, "onnx", tmp_path)
    assert read_class_names(tmp_path / "tiny.v2.classes.txt") == model.class_names
    info = json.loads((tmp_path / "tiny.v2.json").read_text(encoding="utf-8"))
    assert info["input"]["shape"] == ["batch", 32, 32, 3] and info["input"]["type"] == "uint8"
    assert info["output"]["shape"] == ["batch", len(model.class_names)]
    assert info["normalisation_in_graph"]["mean"] == list(model.preprocess.mean)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_an_unknown_format_and_an_unwritable_folder_are_user_errors(model, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_model(model, "tflite", tmp_path)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write to"):
        export_model(model, "onnx", blocked / "sub")


def test_models_export_on_the_command_line(tiny_model, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["models", "export", tiny_model, "--format", "onnx", "--out", str(out)]) == 0
    assert (out / f"{tiny_model}.onnx").is_file()
    assert f"{tiny_model}.classes.txt" in capsys.readouterr().out
