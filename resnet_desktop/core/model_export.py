"""Export a model for other programs: ONNX or OpenVINO IR, with its class names beside it.

The exported network is the one the app runs (:func:`openvino_engine.export`): uint8 RGB
images in NHWC layout, of any batch size, go in; the normalisation is part of the graph,
so a program using the file only resizes and crops as the model's ``.json`` says, and
cannot get the mean and standard deviation wrong. Logits come out, one per line of the
``.classes.txt`` file (the format ``--classes`` and the library's import read back).

ONNX is written by PyTorch's ``torch.export``-based exporter (``onnxscript``), at opset
18, the lowest it writes; the TorchScript exporter is deprecated. Every file is written
in a staging folder beside its destination and then moved into place, so an interrupted
export leaves no half-written model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from resnet_desktop import __version__
from resnet_desktop.core.errors import UserError

if TYPE_CHECKING:
    from resnet_desktop.core.model_loader import LoadedModel

FORMATS = ("onnx", "openvino")
FORMAT_TITLES = {"onnx": "ONNX", "openvino": "OpenVINO IR"}
ONNX_OPSET = 18
INPUT_NAME = "images"
OUTPUT_NAME = "logits"


class OodFiles(NamedTuple):
    """A library model's "unknown" setup (as in its metadata) and its features file."""

    setup: dict[str, object]
    features: Path | None  # the training images' features, for the knn method


class ExportError(UserError):
    """The model cannot be exported as asked; worded for the user."""


def export_model(
    model: LoadedModel, format: str, folder: str | Path, ood: OodFiles | None = None
) -> list[Path]:
    """Write ``model`` in ``format`` (see :data:`FORMATS`) into ``folder``; the files written.

    The files are named after the model: ``NAME.onnx`` (or ``NAME.xml`` + ``NAME.bin``),
    ``NAME.classes.txt`` and ``NAME.json`` (inputs, outputs, preprocessing). Files of an
    earlier export of the same model are replaced. With ``ood`` the model's "unknown"
    setup goes into the JSON and its features file beside it (``NAME.ood.safetensors``).
    """
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".exporting-", dir=folder))
    except OSError as error:
        raise ExportError(f"cannot write to {folder}: {error.strerror or error}") from None
    try:
        _WRITERS[format](model, staging / model.name)
        _write_description(model, staging / model.name, ood)
        return _move_all(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_onnx(model: LoadedModel, stem: Path) -> None:
    if importlib.util.find_spec("onnxscript") is None:
        raise ExportError("ONNX export needs the onnx and onnxscript packages; install them")
    import torch

    from resnet_desktop.core.openvino_engine import export

    program = torch.onnx.export(
        export(model),
        dynamo=True,
        opset_version=ONNX_OPSET,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_shapes=({0: "batch"},),
        external_data=False,  # one file: the zoo's largest network is far below ONNX's 2 GB
        verbose=False,
    )
    program.save(_beside(stem, ".onnx"))


def _write_openvino(model: LoadedModel, stem: Path) -> None:
    from resnet_desktop.core.openvino_engine import convert_and_save

    convert_and_save(model, _beside(stem, ".xml"))


_WRITERS: dict[str, Callable[[LoadedModel, Path], None]] = {
    "onnx": _write_onnx,
    "openvino": _write_openvino,
}


def _write_description(model: LoadedModel, stem: Path, ood: OodFiles | None) -> None:
    """The class names (one a line) and a JSON file that says how to feed the network."""
    _beside(stem, ".classes.txt").write_text(
        "".join(f"{name}\n" for name in model.class_names), encoding="utf-8"
    )
    described = description(model)
    if ood is not None:
        described["unknown"] = _unknown(ood, stem)
    _beside(stem, ".json").write_text(
        json.dumps(described, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def _unknown(ood: OodFiles, stem: Path) -> dict[str, object]:
    """The "unknown" setup for the JSON, its features file copied beside it."""
    if ood.features is None:
        return {**ood.setup, "meaning": "below the threshold the image is none of the classes"}
    features = _beside(stem, ".ood.safetensors")
    try:
        shutil.copyfile(ood.features, features)
    except OSError as error:
        raise ExportError(f"cannot copy {ood.features}: {error.strerror or error}") from None
    return {
        **ood.setup,
        "features_file": features.name,
        "meaning": "the score is minus the distance from the L2-normalised input of the final "
        "linear layer to its k-th nearest row of the features file (also L2-normalised); "
        "below the threshold the image is none of the classes",
    }


def description(model: LoadedModel) -> dict[str, object]:
    """What a program needs to know to use the exported network, in either format."""
    preprocess = model.preprocess
    if preprocess.resize is None:
        resize = f"scale the whole image to {preprocess.crop}x{preprocess.crop}"
    else:
        resize = (
            f"scale the shorter side to {preprocess.resize} (bilinear), "
            f"then crop the central {preprocess.crop}x{preprocess.crop}"
        )
    return {
        "model": model.name,
        "architecture": model.spec.name,
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", preprocess.crop, preprocess.crop, 3],
            "type": "uint8",
            "layout": "NHWC, RGB, 0-255",
            "preprocessing": resize,
        },
        "normalisation_in_graph": {"mean": preprocess.mean, "std": preprocess.std},
        "output": {"name": OUTPUT_NAME, "shape": ["batch", len(model.class_names)]},
        "output_meaning": "logits; softmax gives probabilities, in the order of the classes file",
        "classes_file": f"{model.name}.classes.txt",
        "exported_by": f"resnet-desktop {__version__}",
    }


def _beside(stem: Path, suffix: str) -> Path:
    """``stem`` + ``suffix``; a model's name may contain dots, which are not suffixes."""
    return stem.with_name(stem.name + suffix)


def _move_all(staging: Path, folder: Path) -> list[Path]:
    moved = []
    for source in sorted(staging.iterdir()):
        target = folder / source.name
        try:
            os.replace(source, target)
        except OSError as error:
            raise ExportError(f"cannot write {target}: {error.strerror or error}") from None
        moved.append(target)
    return moved
