"""Loading torch in the background once the window is up, and what it tells us."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from resnet_desktop.core.device import Hardware


@dataclass(frozen=True)
class RuntimeInfo:
    """What is known once torch has loaded: versions and the usable devices."""

    torch_version: str
    torchvision_version: str
    devices: list[str]  # concrete devices, best first ("cuda", "mps", "cpu")
    cuda_name: str | None
    cuda_bf16: bool = False

    @property
    def hardware(self) -> Hardware:
        """What the runtime decisions need to know about this machine."""
        return Hardware(tuple(self.devices), self.cuda_bf16)


def warm_up_job(should_stop: Callable[[], bool]) -> Iterator[RuntimeInfo]:
    """Import torch and torchvision in the background while the user picks images."""
    import torch  # the point of the job: imported here, off the GUI thread
    import torchvision

    hardware = Hardware.probe()
    devices = list(hardware.devices)
    cuda_name = torch.cuda.get_device_name(0) if "cuda" in devices else None
    yield RuntimeInfo(
        torch.__version__, torchvision.__version__, devices, cuda_name, hardware.cuda_bf16
    )
