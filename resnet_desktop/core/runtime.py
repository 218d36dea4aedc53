"""How a network runs: the user's four choices as one value, and what they resolve to.

Device, precision, engine and batch size are chosen together (the window's toolbar, the
command line's ``--device/--precision/--engine/--batch-size``) and decided together:
precision depends on the device, the engine on both, the default batch size on the
device and the input size. :class:`RuntimeOptions` carries the choices, ``auto`` included;
:meth:`RuntimeOptions.resolve` makes the decisions once and returns them as a
:class:`ResolvedRuntime`, which every consumer reads instead of deciding again.

Importing this module does not import torch (the window builds RuntimeOptions before
torch has loaded); resolving does, to see which devices exist, and
:meth:`RuntimeOptions.decide` takes what was seen (a :class:`Hardware`) instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from resnet_desktop.core.device import (
    ENGINE_TITLES,
    Hardware,
    OptionError,
    choose_device,
    choose_engine,
    precision_for,
)
from resnet_desktop.core.zoo import Preprocess

SMALL_INPUT = 64  # crops up to this size (CIFAR's 32x32) take larger batches


@dataclass(frozen=True)
class RuntimeOptions:
    """The user's runtime choices; ``auto`` (and a batch size of None) leave it to us.

    Attributes:
        device: ``auto|cpu|cuda|mps``.
        precision: ``auto|fp32|bf16|fp16|int8`` (int8: OpenVINO on the CPU only).
        engine: ``auto|torch|openvino``; see :mod:`resnet_desktop.core.device`.
        batch_size: images per forward pass; None chooses from the device and input size.
    """

    device: str = "auto"
    precision: str = "auto"
    engine: str = "auto"
    batch_size: int | None = None

    def resolve(self, preprocess: Preprocess) -> ResolvedRuntime:
        """The decisions for a model with ``preprocess``; ValueError for impossible choices."""
        return self.decide(Hardware.probe(), preprocess)

    def decide(self, hardware: Hardware, preprocess: Preprocess) -> ResolvedRuntime:
        """The decisions :meth:`resolve` makes, on ``hardware`` probed before: no torch.

        The window shows with it what the current choices will run as.
        """
        device = choose_device(self.device, hardware.devices)
        precision = precision_for(device, self.precision, hardware.cuda_bf16)
        engine = choose_engine(device, precision.value, self.engine)
        batch_size = self.batch_size
        if batch_size is None:
            batch_size = default_batch_size(device, preprocess)
        if batch_size < 1:
            raise OptionError("batch size must be at least 1")
        reason = (
            f"{precision.value}: {precision.reason}; {ENGINE_TITLES[engine.value]}: {engine.reason}"
        )
        return ResolvedRuntime(self, device, precision.value, engine.value, batch_size, reason)

    def in_pytorch(self) -> RuntimeOptions:
        """These choices with the PyTorch engine: training has no other."""
        return dataclasses.replace(self, engine="torch")


@dataclass(frozen=True)
class ResolvedRuntime:
    """What a run uses: a concrete device, precision, engine and batch size.

    Attributes:
        options: the choices these were resolved from.
        device: the device type, ``cpu|cuda|mps``.
        precision: ``fp32|bf16|fp16|int8``.
        engine: ``torch|openvino``.
        batch_size: images per forward pass.
        reason: why this precision and engine, one line (``bf16: this CPU computes ...``).
    """

    options: RuntimeOptions
    device: str
    precision: str
    engine: str
    batch_size: int
    reason: str

    @property
    def engine_named(self) -> bool:
        """Whether the engine is fixed: then its failure is an error, not a fallback.

        The user named it, or chose int8, which no other engine runs.
        """
        return self.options.engine != "auto" or self.precision == "int8"

    def describe(self) -> str:
        """How the run goes, for status lines: ``cpu (fp32, OpenVINO, batch 32)``."""
        engine = ENGINE_TITLES[self.engine]
        return f"{self.device} ({self.precision}, {engine}, batch {self.batch_size})"


def default_batch_size(device_type: str, preprocess: Preprocess) -> int:
    """Images per forward pass when the user has not chosen: fits memory, keeps cores busy."""
    small = preprocess.crop <= SMALL_INPUT
    if device_type == "cpu":
        return 256 if small else 32
    return 512 if small else 64
