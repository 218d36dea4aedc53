"""OpenVINO as the inference engine on the CPU: the same network, compiled for this CPU.

PyTorch's eager CPU kernels run one operator at a time; OpenVINO fuses the graph and
picks kernels for the CPU it finds. On the 2-core test machine it runs ResNet-50 in fp32
at about 2.3x the speed of eager PyTorch with the same labels, and in bf16 at about 1.6x
eager bf16 autocast (figures in the README).

The network is exported with ``torch.export`` together with its normalisation (uint8
NHWC in, logits out), so the engine sees exactly the inputs the PyTorch path sees.
Exporting and converting takes seconds (5 for ResNet-50, 19 for DenseNet-201 here), so
the converted model is cached under the cache folder, keyed by a hash of the weights and
the versions involved; later runs load it in well under a second. The cache is a pure
speed-up: an entry that cannot be read is rebuilt.

A caller that can cancel (the window) passes ``should_stop``, and the conversion then runs
in a child process: it is mostly Python, which would hold the GIL the window needs, and a
process can be stopped at once. As with any use of multiprocessing's spawn, that caller's
main module must be safe to import (the ``if __name__ == "__main__"`` idiom). Without
``should_stop`` (the command line, where Ctrl+C interrupts) it runs in-process.

``int8`` (opt-in, the ``[int8]`` extra) is the same conversion followed by NNCF's
post-training quantisation, calibrated on a few hundred of the user's images
(:data:`CALIBRATION_IMAGES`), and cached the same way beside the fp32 form.

OpenVINO's converter reports usage to Google Analytics unless the user has opted out
with Intel's own tool; the app never lets it (see :func:`_openvino`); nor NNCF.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from resnet_desktop.core import paths
from resnet_desktop.core.device import Normalizer

if TYPE_CHECKING:
    import numpy as np

    from resnet_desktop.core.model_loader import LoadedModel

CACHE_FORMAT = 1  # bump when what is exported changes, to retire old entries
CACHE_ENTRIES_KEPT = 8
MAX_BATCH = 4096
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: its unquantised rest
CALIBRATION_IMAGES = 300  # NNCF's default subset size: enough for per-tensor ranges
INT8_SUFFIX = "-int8"  # cache entry of the quantised form, beside the fp32 one
POLL_SECONDS = 0.1  # how often a waiting conversion checks should_stop


class ConversionStopped(Exception):
    """The caller's ``should_stop`` said so while the model was being converted."""


class CalibrationNeeded(Exception):
    """int8 was asked for, no quantised form is cached, and no calibration images came."""


def cache_root() -> Path:
    return paths.cache_dir() / "openvino"


def _openvino():
    """The openvino module, with its usage telemetry unreachable.

    ``convert_model`` starts openvino-telemetry, which sends usage events (and leaves six
    threads behind) when no consent file exists. With the package hidden, OpenVINO uses
    the no-op stub it ships for installs without telemetry.
    """
    sys.modules.setdefault("openvino_telemetry", None)  # None: "import" raises ImportError
    import openvino

    return openvino


def _nncf():
    """The nncf module, with the same telemetry stub as OpenVINO (it checks the same way).

    Importing it imports torch's C++ extension builder, which logs "No CUDA runtime is
    found" on machines without CUDA: nothing to tell a user quantising on the CPU.
    """
    _openvino()
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    import nncf

    return nncf


class OpenVinoNetwork:
    """Callable like the network: a uint8 NHWC batch in, float32 logits out (on the CPU).

    Args:
        model: the loaded network, its preprocessing and class names.
        precision: ``fp32`` or ``bf16`` (the CPU plugin's inference precision), or
            ``int8``: the network quantised by NNCF.
        notify: called with a one-line message before a slow first-time conversion.
        should_stop: polled during a conversion, which then runs in a child process;
            raises ConversionStopped when it says so.
        calibration: for int8, uint8 NHWC images (one per array, batch of 1) to quantise
            on when no quantised form is cached; without them, CalibrationNeeded.
    """

    def __init__(
        self,
        model: LoadedModel,
        precision: str,
        notify: Callable[[str], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        calibration: Sequence[np.ndarray] | None = None,
    ) -> None:
        openvino = _openvino()
        if precision not in PRECISION_HINTS:
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8 on the CPU, not {precision}")
        self.precision = precision
        core = openvino.Core()
        config = {"INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision]}
        int8 = precision == "int8"
        converted = _cached_model(model, core, notify, should_stop, int8, calibration)
        self._compiled = core.compile_model(converted, "CPU", config)

    def __call__(self, inputs: torch.Tensor) -> torch.Tensor:
        array = inputs.contiguous().numpy()
        return torch.from_numpy(self._compiled(array)[0])


def cache_key(model: LoadedModel) -> str:
    """A hash of everything the converted model depends on."""
    openvino = _openvino()
    digest = hashlib.sha256()
    header = {
        "format": CACHE_FORMAT,
        "architecture": model.spec.name,
        "network": repr(model.network),  # the module tree, for networks built in code
        "classes": len(model.class_names),
        "mean": list(model.preprocess.mean),
        "std": list(model.preprocess.std),
        "crop": model.preprocess.crop,
        "torch": torch.__version__,
        "openvino": openvino.__version__,
    }
    digest.update(json.dumps(header, sort_keys=True).encode())
    for name, tensor in model.network.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:32]


def _cached_model(
    model: LoadedModel,
    core,
    notify: Callable[[str], None] | None,
    should_stop: Callable[[], bool] | None,
    int8: bool = False,
    calibration: Sequence[np.ndarray] | None = None,
):
    """The model's OpenVINO form (quantised for ``int8``), from the cache or made into it."""
    folder = cache_root() / (cache_key(model) + (INT8_SUFFIX if int8 else ""))
    ir_path = folder / "model.xml"
    if ir_path.is_file():
        try:
            cached = core.read_model(ir_path)
        except Exception:  # a truncated or foreign file: rebuild it rather than fail the run
            pass
        else:
            os.utime(folder)  # most recently used, for pruning
            return cached
    if int8 and calibration is None:
        raise CalibrationNeeded
    if notify:
        notify(_preparing_message(model, calibration))
    _convert_into(model, folder, should_stop, calibration)
    _prune(keep=folder)
    return core.read_model(ir_path)


def _preparing_message(model: LoadedModel, calibration: Sequence[np.ndarray] | None) -> str:
    if calibration is None:
        return f"Preparing {model.name} for OpenVINO (once per model; later runs reuse it)"
    return (
        f"Quantising {model.name} to int8 on {len(calibration)} of your images "
        "(once per model; later runs reuse it)"
    )


def _convert_into(
    model: LoadedModel,
    folder: Path,
    should_stop: Callable[[], bool] | None,
    calibration: Sequence[np.ndarray] | None = None,
) -> None:
    """Export, convert (and quantise) and save the IR into ``folder``, whole or not at all."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=folder.parent))
    try:
        if should_stop is None:
            convert_and_save(model, staging / "model.xml", calibration)
        else:
            _convert_in_child(model, staging / "model.xml", should_stop, calibration)
        shutil.rmtree(folder, ignore_errors=True)  # the unreadable entry being replaced
        try:
            os.replace(staging, folder)
        except OSError:  # another run (a second window, the CLI) finished it first
            if not (folder / "model.xml").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _convert_in_child(
    model: LoadedModel,
    xml_path: Path,
    should_stop: Callable[[], bool],
    calibration: Sequence[np.ndarray] | None = None,
):
    """Run :func:`convert_and_save` in a child process, or here if the model cannot travel.

    Networks built from the zoo pickle; one defined inside a function (tests) does not,
    and is converted in this process.
    """
    try:
        payload = pickle.dumps((model, calibration))
    except (pickle.PicklingError, AttributeError, TypeError):
        convert_and_save(model, xml_path, calibration)
        return
    context = multiprocessing.get_context("spawn")  # fork would copy torch's threads
    errors = context.SimpleQueue()
    child = context.Process(
        target=_child_main, args=(payload, str(xml_path), errors), name="openvino-convert"
    )
    child.start()
    try:
        while child.is_alive():
            if should_stop():
                raise ConversionStopped
            child.join(POLL_SECONDS)
    finally:
        if child.is_alive():
            child.terminate()
            child.join()
    if child.exitcode != 0:
        reason = errors.get() if not errors.empty() else f"exit code {child.exitcode}"
        errors.close()
        raise RuntimeError(reason)
    errors.close()


def _child_main(payload: bytes, xml_path: str, errors) -> None:
    """Entry point of the conversion process: the reason for a failure goes to ``errors``."""
    try:
        model, calibration = pickle.loads(payload)  # bytes from our own parent
        convert_and_save(model, Path(xml_path), calibration)
    except Exception as error:
        errors.put(f"{type(error).__name__}: {error}")
        sys.exit(1)


def convert_and_save(
    model: LoadedModel, xml_path: Path, calibration: Sequence[np.ndarray] | None = None
) -> None:
    """Export the model, convert it with OpenVINO and save the IR (fp32 weights kept).

    With ``calibration`` images, the converted model is quantised to int8 before saving.
    """
    openvino = _openvino()
    converted = openvino.convert_model(export(model))
    if calibration is not None:
        converted = quantize(converted, calibration)
    openvino.save_model(converted, xml_path, compress_to_fp16=False)


def quantize(converted, calibration: Sequence[np.ndarray]):
    """NNCF's post-training quantisation of an OpenVINO model, on uint8 NHWC images.

    NNCF draws progress bars; they go to stderr, which the command line keeps for
    progress, never to stdout, which carries results.
    """
    nncf = _nncf()
    with contextlib.redirect_stdout(sys.stderr):
        return nncf.quantize(
            converted, nncf.Dataset(list(calibration)), subset_size=len(calibration)
        )


def export(model: LoadedModel):
    """The network with its normalisation, as a ``torch.export`` program of any batch size."""
    wrapped = _NormalizedNetwork(model).eval()
    size = model.preprocess.crop
    example = torch.zeros(2, size, size, 3, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with torch.no_grad():
        return torch.export.export(wrapped, (example,), dynamic_shapes=({0: batch},))


def _prune(keep: Path) -> None:
    """Delete all but the most recently used entries; ``keep`` always stays.

    Hidden folders are conversions still being written, by this or another process.
    """
    entries = sorted(
        (p for p in cache_root().iterdir() if p.is_dir() and p != keep and p.name[0] != "."),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for stale in entries[CACHE_ENTRIES_KEPT - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)


class _NormalizedNetwork(nn.Module):
    """uint8 NHWC -> normalised float NCHW -> logits: the PyTorch path's arithmetic."""

    def __init__(self, model: LoadedModel) -> None:
        super().__init__()
        self.network = model.network
        normalize = Normalizer(model.preprocess.mean, model.preprocess.std, torch.device("cpu"))
        self.register_buffer("scale", normalize.scale)
        self.register_buffer("shift", normalize.shift)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images.permute(0, 3, 1, 2).float().mul(self.scale).add(self.shift))
