"""Device, precision and engine choice, shared by prediction and training.

``auto`` means: the GPU when there is one (CUDA, then Apple's MPS), otherwise the CPU;
reduced precision where the hardware runs it natively (bf16 or fp16 autocast on CUDA,
bf16 on CPUs with AVX512-BF16 or AMX), fp32 elsewhere. Inputs travel as uint8 and are
normalised on the device, which moves 4x fewer bytes than float tensors.

The engine runs the network: PyTorch everywhere, or OpenVINO on the CPU. ``auto`` picks
OpenVINO on the CPU whenever it is installed, in fp32 and in bf16: it is 1.6-2x eager
PyTorch at the same accuracy (on the CIFAR-10 test set OpenVINO bf16 is within 0.1 points
of fp32, as PyTorch's bf16 autocast is; measurements in the README). ``int8`` is opt-in:
OpenVINO with a network quantised by NNCF (the ``[int8]`` extra), for prediction only.
Every decision comes with a one-line reason (:class:`Choice`), which the benchmark prints.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from resnet_desktop.core.errors import (
    REMEDY_CPU,
    REMEDY_ENGINE_OPENVINO,
    REMEDY_ENGINE_TORCH,
    UserError,
)

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16", "int8")
TRAINING_PRECISIONS = ("auto", "fp32", "bf16", "fp16")  # int8 is for prediction only
ENGINES = ("auto", "torch", "openvino")
ENGINE_TITLES = {"auto": "Auto", "torch": "PyTorch", "openvino": "OpenVINO"}


INT8_INSTALL = "pip install 'resnet-desktop[int8]'"


class OptionError(UserError, ValueError):
    """A device, precision, engine or batch size that cannot run here; worded for the user."""


@dataclass(frozen=True)
class Choice:
    """One decision (a precision, an engine) and why it was made, for the user to read."""

    value: str
    reason: str


@dataclass(frozen=True)
class Hardware:
    """What this machine offers, as far as the runtime decisions need to know.

    Probing imports torch; the window probes once in the background and then decides
    (and shows what a run would use) on the GUI thread from this value alone.
    """

    devices: tuple[str, ...] = ("cpu",)  # concrete devices, best first
    cuda_bf16: bool = False  # the CUDA device computes bf16

    @classmethod
    def probe(cls) -> Hardware:
        import torch

        devices = available_devices()
        return cls(tuple(devices), "cuda" in devices and torch.cuda.is_bf16_supported())


def available_devices() -> list[str]:
    """The concrete devices this machine can run on, best first."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> the best available device; a named one must be available."""
    import torch

    return torch.device(choose_device(device, tuple(available_devices())))


def choose_device(device: str, available: Sequence[str]) -> str:
    """The device type ``device`` means among ``available`` (best first)."""
    if device not in DEVICES:
        raise OptionError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "auto":
        return available[0]
    if device not in available:
        raise OptionError(
            f"device {device!r} is not available here (available: {', '.join(available)})"
        )
    return device


@functools.cache
def cpu_bf16_feature() -> str | None:
    """The CPU feature that computes bf16 in hardware (``AMX``, ``AVX512-BF16``), or None.

    torch offers no public query (oneDNN's own check also accepts plain AVX-512, where
    bf16 is emulated and slower than fp32), so read the flags the kernel reports.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line.split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return None
    if "amx_bf16" in flags:
        return "AMX"
    return "AVX512-BF16" if "avx512_bf16" in flags else None


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """The precision to run in: ``fp32``, ``bf16``, ``fp16`` or ``int8``."""
    return choose_precision(device, precision).value


def choose_precision(device: torch.device, precision: str = "auto") -> Choice:
    """The precision to run in, and why."""
    import torch

    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision_for(device.type, precision, cuda_bf16)


def precision_for(device_type: str, precision: str, cuda_bf16: bool) -> Choice:
    """The precision to run in on ``device_type``, and why; no torch needed."""
    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if device_type == "cpu" and precision == "fp16":
            raise OptionError("fp16 is not supported on the CPU; use bf16 or fp32")
        if device_type != "cpu" and precision == "int8":
            raise OptionError("int8 runs on the CPU (with OpenVINO)", remedy=REMEDY_CPU)
        return Choice(precision, "as chosen")
    if device_type == "cuda":
        if cuda_bf16:
            return Choice("bf16", "this GPU computes bf16")
        return Choice("fp16", "this GPU has no bf16")
    if device_type == "cpu":
        feature = cpu_bf16_feature()
        if feature:
            return Choice("bf16", f"this CPU computes bf16 in hardware ({feature})")
        return Choice("fp32", "this CPU has no native bf16 (emulated bf16 is slower)")
    return Choice("fp32", f"reduced precision is not used on {device_type}")


def runnable_precisions(device_type: str, hardware: Hardware) -> tuple[str, ...]:
    """The precisions that run on ``device_type``: fp16 on GPUs only, bf16 where computed
    (not on MPS, on CUDA when the GPU has it), int8 on the CPU with its packages."""
    offered = ["auto", "fp32"]
    if device_type == "cpu" or (device_type == "cuda" and hardware.cuda_bf16):
        offered.append("bf16")
    if device_type != "cpu":
        offered.append("fp16")
    elif openvino_installed() and nncf_installed():
        offered.append("int8")
    return tuple(offered)


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def nncf_installed() -> bool:
    return importlib.util.find_spec("nncf") is not None


def resolve_engine(device: torch.device, precision: str, engine: str = "auto") -> str:
    """The engine for a resolved device and precision: ``torch`` or ``openvino``."""
    return choose_engine(device.type, precision, engine).value


def choose_engine(device_type: str, precision: str, engine: str = "auto") -> Choice:
    """The engine for a resolved device type and precision, and why."""
    if engine not in ENGINES:
        raise OptionError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if precision == "int8":
        return _int8_engine(engine)
    if engine == "openvino":
        _check_openvino(device_type)
        return Choice("openvino", "as chosen")
    if engine == "torch":
        return Choice("torch", "as chosen")
    if device_type != "cpu":
        return Choice("torch", "OpenVINO runs on the CPU only")
    if not openvino_installed():
        return Choice("torch", "OpenVINO is not installed")
    return Choice("openvino", "the fastest on the CPU, at the same accuracy as PyTorch")


def _check_openvino(device_type: str) -> None:
    if device_type != "cpu":
        raise OptionError("the OpenVINO engine runs on the CPU", remedy=REMEDY_CPU)
    if not openvino_installed():
        raise OptionError(
            "OpenVINO is not installed (pip install openvino)", remedy=REMEDY_ENGINE_TORCH
        )


def _int8_engine(engine: str) -> Choice:
    """int8 runs in OpenVINO on a network NNCF quantised; the device is the CPU already."""
    if engine == "torch":
        raise OptionError(
            "int8 runs in OpenVINO only, for prediction", remedy=REMEDY_ENGINE_OPENVINO
        )
    if not (openvino_installed() and nncf_installed()):
        raise OptionError(f"int8 needs OpenVINO and NNCF: {INT8_INSTALL}")
    return Choice("openvino", "int8 runs in OpenVINO (quantised by NNCF)")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[object]:
    """An autocast context for ``precision`` on ``device`` (a null context for fp32)."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


class Normalizer:
    """Turns uint8 NHWC batches into normalised float NCHW batches on the device.

    The permuted NHWC tensor is already in channels_last layout, which is the layout the
    convolutions want, so no copy is made before the arithmetic.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], device: torch.device) -> None:
        import torch

        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, 3, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t
        self.device = device

    def __call__(self, batch_nhwc_uint8: torch.Tensor) -> torch.Tensor:
        x = batch_nhwc_uint8.to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        return x.float().mul_(self.scale).add_(self.shift)
