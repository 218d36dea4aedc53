"""Device and precision choice, shared by prediction and training.

``auto`` means: the GPU when there is one (CUDA, then Apple's MPS), otherwise the CPU;
reduced precision where the hardware runs it natively (bf16 or fp16 autocast on CUDA,
bf16 on CPUs with AVX512-BF16 or AMX), fp32 elsewhere. Inputs travel as uint8 and are
normalised on the device, which moves 4x fewer bytes than float tensors.

The engine runs the network: PyTorch everywhere, or OpenVINO on the CPU. ``auto`` picks
OpenVINO for fp32 work on the CPU, where it gives the same labels at about twice the
speed. Its bf16 changes more top-1 labels against fp32 than PyTorch's bf16 autocast
(55 against 44 of the 10,000 CIFAR-10 test images with ResNet-20), above the 0.5% that
``auto`` allows, so OpenVINO bf16, the fastest CPU setting, is chosen by name only.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
from collections.abc import Sequence
from typing import TYPE_CHECKING

from resnet_desktop.core.errors import UserError

if TYPE_CHECKING:
    import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ENGINES = ("auto", "torch", "openvino")
ENGINE_TITLES = {"auto": "Auto", "torch": "PyTorch", "openvino": "OpenVINO"}


class OptionError(UserError, ValueError):
    """A device, precision, engine or batch size that cannot run here; worded for the user."""


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

    if device not in DEVICES:
        raise OptionError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    available = available_devices()
    if device == "auto":
        return torch.device(available[0])
    if device not in available:
        raise OptionError(
            f"device {device!r} is not available here (available: {', '.join(available)})"
        )
    return torch.device(device)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bf16 in hardware (AVX512-BF16 or AMX), so autocast pays.

    torch offers no public query (oneDNN's own check also accepts plain AVX-512, where
    bf16 is emulated and slower than fp32), so read the flags the kernel reports.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            flags = next((line.split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def resolve_precision(device: torch.device, precision: str = "auto") -> str:
    """The precision to run in: ``fp32``, ``bf16`` or ``fp16``."""
    import torch

    if precision not in PRECISIONS:
        raise OptionError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        if device.type == "cpu" and precision == "fp16":
            raise OptionError("fp16 is not supported on the CPU; use bf16 or fp32")
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def openvino_installed() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_engine(device: torch.device, precision: str, engine: str = "auto") -> str:
    """The engine for a resolved device and precision: ``torch`` or ``openvino``."""
    if engine not in ENGINES:
        raise OptionError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "openvino":
        if device.type != "cpu":
            raise OptionError("the OpenVINO engine runs on the CPU; use --device cpu with it")
        if not openvino_installed():
            raise OptionError(
                "OpenVINO is not installed (pip install openvino); use --engine torch"
            )
        return "openvino"
    if engine == "auto" and device.type == "cpu" and precision == "fp32" and openvino_installed():
        return "openvino"
    return "torch"


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
