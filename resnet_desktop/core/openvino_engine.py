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
speed-up: an entry that cannot be read is rebuilt, and anything else found where an entry
belongs (a plain file, a half-copied folder) is replaced. Conversions are written in a
hidden staging folder and published by a rename, under the cache's lock, and never over
a finished entry: when two processes convert one model at once, the first one's wins.

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

Every network is compiled by one ``Core`` that lives as long as the process (see
:func:`_core`): each ``Core`` makes its own CPU plugin, and the plugins' signal stacks
leave a dangling one behind when two are freed in the order they were made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from resnet_desktop.core import paths
from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.locking import file_lock
from resnet_desktop.core.safe_read import MIB, check_regular_file

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
LOCK_FILE = ".lock"
PUBLISH_TIMEOUT_S = 120.0  # another process may be reading a large entry under the lock
# An entry's files, with the most each may hold (DenseNet-201's IR: 1.4 MB + 80 MB).
ENTRY_FILES = {"model.xml": 256 * MIB, "model.bin": 4096 * MIB}


class ConversionStopped(Exception):
    """The caller's ``should_stop`` said so while the model was being converted."""


class CalibrationNeeded(Exception):
    """int8 was asked for, no quantised form is cached, and no calibration images came."""


def cache_root() -> Path:
    return paths.openvino_cache_dir()


def _openvino():
    """The openvino module, with its usage telemetry unreachable.

    ``convert_model`` starts openvino-telemetry, which sends usage events (and leaves six
    threads behind) when no consent file exists. With the package hidden, OpenVINO uses
    the no-op stub it ships for installs without telemetry.
    """
    sys.modules.setdefault("openvino_telemetry", None)  # None: "import" raises ImportError
    import openvino

    return openvino


_core_lock = threading.Lock()
_the_core = None  # made by the first network compiled


def _core():
    """The process's one ``openvino.Core``: networks compiled by it share one CPU plugin.

    On Linux each CPU plugin (one per ``Core``) gives the thread that makes it a larger
    alternate signal stack, for AMX, and when freed puts back the stack it found, but only
    if its own is still the current one. Two plugins freed in the order they were made
    therefore leave the first one's freed stack current, and the next signal the thread
    receives (Ctrl+C) crashes the process. One plugin that is never freed never does that.
    """
    global _the_core
    with _core_lock:
        if _the_core is None:
            _the_core = _openvino().Core()
        return _the_core


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
        if precision not in PRECISION_HINTS:
            raise ValueError(f"OpenVINO runs fp32, bf16 or int8 on the CPU, not {precision}")
        self.precision = precision
        core = _core()
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
    folder = _cache_folder() / (cache_key(model) + (INT8_SUFFIX if int8 else ""))
    cached = _read_entry(core, folder)
    if cached is not None:
        with contextlib.suppress(OSError):  # a read-only cache is still a cache
            os.utime(folder)  # most recently used, for pruning
        return cached
    if int8 and calibration is None:
        raise CalibrationNeeded
    if notify:
        notify(_preparing_message(model, calibration))
    converted = _convert_into(model, folder, core, should_stop, calibration)
    _prune(keep=folder)
    return converted


def _cache_folder() -> Path:
    """The cache's folder, made a folder again if something else took its place."""
    root = cache_root()
    if os.path.lexists(root) and not root.is_dir():
        root.unlink()
    root.mkdir(parents=True, exist_ok=True)
    return root


def _read_entry(core, folder: Path):
    """The model in a cache entry, or None if there is none or it is not whole."""
    try:
        for name, limit in ENTRY_FILES.items():
            check_regular_file(folder / name, limit)
        return core.read_model(folder / "model.xml")
    except Exception:  # missing, truncated or foreign files: the entry is rebuilt
        return None


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
    core,
    should_stop: Callable[[], bool] | None,
    calibration: Sequence[np.ndarray] | None = None,
):
    """Export, convert and save the IR into ``folder``; returns the model read from it.

    The staging folder holds a lock while the conversion runs, so the clean-up of what
    killed runs leave (:mod:`resnet_desktop.core.housekeeping`) never takes it.
    """
    staging = Path(tempfile.mkdtemp(prefix=".converting-", dir=folder.parent))
    try:
        with file_lock(staging / LOCK_FILE, 0, "in use"):
            if should_stop is None:
                convert_and_save(model, staging / "model.xml", calibration)
            else:
                _convert_in_child(model, staging / "model.xml", should_stop, calibration)
        (staging / LOCK_FILE).unlink()
        return _publish(staging, folder, core)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _publish(staging: Path, folder: Path, core):
    """Rename ``staging`` to ``folder`` unless a whole entry is there; returns the model.

    Under the cache's lock, so between looking and renaming nobody else publishes: a
    finished entry (another process's, converted at the same time) is used and never
    removed; only what is not a whole entry is moved aside and deleted.
    """
    busy = f"the OpenVINO cache ({folder.parent}) is busy; try again"
    with file_lock(folder.parent / LOCK_FILE, PUBLISH_TIMEOUT_S, busy):
        finished = _read_entry(core, folder)
        if finished is not None:
            return finished
        _remove_entry(folder)
        os.replace(staging, folder)
    return core.read_model(folder / "model.xml")


def _remove_entry(folder: Path) -> None:
    """Delete what is at ``folder``: a damaged entry is renamed away first (hidden)."""
    if os.path.isdir(folder) and not os.path.islink(folder):
        aside = folder.with_name(f".replaced-{secrets.token_hex(4)}")
        os.replace(folder, aside)
        shutil.rmtree(aside, ignore_errors=True)
    elif os.path.lexists(folder):
        folder.unlink()


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
        key=_last_used,
        reverse=True,
    )
    for stale in entries[CACHE_ENTRIES_KEPT - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)


def _last_used(entry: Path) -> float:
    """An entry's modification time; 0 for one another process has just pruned."""
    try:
        return entry.stat().st_mtime
    except OSError:
        return 0.0


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
