"""The ways to get a model that can classify, in words a first-time user can choose from.

When the selected model cannot run yet (its ImageNet weights are not downloaded, or it
has no built-in weights at all), the window explains the three ways out: download the
ImageNet weights (how big, and where they go), import a weights file with its class
names, or fine-tune a model on one's own folders. The words live here, Qt-free, so they
are tested without a window.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.app.models import ModelChoice, WeightsState
from resnet_desktop.core.weights import imagenet_weights_path
from resnet_desktop.core.zoo import ModelSpec

# torchvision's ``_file_size`` of each architecture's ImageNet weights, in MB (checked
# against torchvision's metadata by the tests): known without importing torch.
DOWNLOAD_MB = {
    "resnet18": 44.7,
    "resnet34": 83.3,
    "resnet50": 97.8,
    "resnet101": 170.5,
    "resnet152": 230.5,
    "densenet121": 30.8,
    "densenet161": 110.4,
    "densenet169": 54.7,
    "densenet201": 77.4,
}


class Way(enum.Enum):
    DOWNLOAD = "download"
    IMPORT = "import"
    FINE_TUNE = "fine-tune"


@dataclass(frozen=True)
class WayOut:
    """One way to get a model that runs: what its button says and what it means."""

    way: Way
    button: str
    text: str


def needs_a_model(choice: ModelChoice | None) -> bool:
    """Whether ``choice`` cannot classify before the user gets weights for it."""
    return choice is not None and choice.state in (WeightsState.DOWNLOAD, WeightsState.NEEDS_FILE)


def headline(choice: ModelChoice) -> str:
    if choice.state == WeightsState.NEEDS_FILE:
        return f"{choice.spec.title} has no built-in weights: choose how to get a model"
    return f"{choice.spec.title} needs its ImageNet weights before it can classify"


def ways_out(choice: ModelChoice) -> list[WayOut]:
    """The ways to get ``choice`` (or another model) ready, the quickest first."""
    spec = choice.spec
    ways = []
    if choice.state == WeightsState.DOWNLOAD:
        ways.append(WayOut(Way.DOWNLOAD, "Download Weights", _download_text(spec)))
    ways.append(
        WayOut(
            Way.IMPORT,
            "Import Weights File…",
            f"Use a .pth or .safetensors file of {spec.title} or another network of the list "
            "(downloaded elsewhere, or from a colleague) and name its classes: it becomes a "
            "model of your library.",
        )
    )
    ways.append(
        WayOut(
            Way.FINE_TUNE,
            "Fine-tune…",
            "Teach a model your own classes from folders of labelled photos, one folder "
            "per class; it can start from random weights, no download needed.",
        )
    )
    return ways


def _download_text(spec: ModelSpec) -> str:
    size = DOWNLOAD_MB.get(spec.name)
    amount = f"{size:.0f} MB" if size else "the weights"
    return (
        f"Fetch {amount} once from download.pytorch.org into {_home_short(weights_folder(spec))}. "
        f"{spec.title} then recognises 1,000 everyday objects, animals and scenes (ImageNet)."
    )


def weights_folder(spec: ModelSpec) -> Path:
    """The folder the ImageNet weights are saved in (torch's hub cache)."""
    return imagenet_weights_path(spec).parent


def _home_short(path: Path) -> str:
    """``path`` with the home folder written ``~``, as file managers show it."""
    try:
        return str(Path("~") / path.relative_to(Path.home()))
    except ValueError:
        return str(path)
