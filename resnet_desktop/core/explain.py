"""Why this label: a class-activation heatmap over the image (Grad-CAM).

Grad-CAM weighs each channel of a late convolutional layer by the mean gradient of the
class score with respect to it, and keeps the positive sum: the places whose features
raise that class's score. Every network of the zoo ends in global average pooling and one
linear layer after its target layer, and for such a network Grad-CAM is exactly CAM, the
classifier's own weights applied at each position: the heatmap shows the model's
decomposition of its score, not an approximation of it. Methods that probe the network
with many masked copies of the image (Score-CAM, RISE) cost a forward pass per channel or
mask, far over the second a click may take on a CPU.

Only the part of the network after the target layer is recorded for autograd, so the
cost is about one ordinary forward pass. The map covers the region of the image the
network saw (the centre crop); outside it the heatmap is zero and the overlay dimmed.
torch is imported inside the functions, so the window starts without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core.device import Normalizer
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.imaging import input_region, open_image, to_input
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image
    from torch import nn

    from resnet_desktop.core.model_loader import LoadedModel

MAX_SIDE = 2048  # the longest side of the returned heatmap and overlay
OVERLAY_ALPHA = 0.6  # opacity of the colours where the heat is highest
OUTSIDE_DIM = 0.45  # brightness kept outside the region the network saw
# Anchors of the "jet" colour map (position, RGB): blue for cold, red for hot.
_JET = (
    (0.0, (0, 0, 143)),
    (0.125, (0, 0, 255)),
    (0.375, (0, 255, 255)),
    (0.625, (255, 255, 0)),
    (0.875, (255, 0, 0)),
    (1.0, (128, 0, 0)),
)


class ExplainError(UserError):
    """The heatmap cannot be made as asked (an unknown class); worded for the user."""


@dataclass(frozen=True)
class Cam:
    """A class-activation map at the target layer's resolution.

    Attributes:
        map: float32 (h, w) in [0, 1]; all zeros when nothing raises the class's score.
        probabilities: float32 (classes,), the softmax of the network's output.
        class_index: the class the map is for.
    """

    map: np.ndarray
    probabilities: np.ndarray
    class_index: int


@dataclass(frozen=True)
class Explanation:
    """A heatmap of one class over one image.

    Attributes:
        class_index, label, probability: the class explained and the model's belief in it.
        heatmap: float32 (height, width) in [0, 1], at the size of ``overlay``.
        overlay: the image (RGB) with the heatmap's colours over it.
    """

    class_index: int
    label: str
    probability: float
    heatmap: np.ndarray
    overlay: Image.Image


def grad_cam(network: nn.Module, inputs: torch.Tensor, layer: str, target: int | None) -> Cam:
    """Grad-CAM of class ``target`` (None: the top-1) for the one image in ``inputs``.

    Args:
        network: in eval mode; it is not changed.
        inputs: a normalised float batch of one image, (1, 3, H, W).
        layer: dotted name of the module whose output the map is computed on.
    """
    import torch

    logits, activation = _forward_from(network, inputs, layer)
    probabilities = torch.softmax(logits.detach().float(), dim=1)[0]
    index = int(probabilities.argmax()) if target is None else target
    (gradient,) = torch.autograd.grad(logits[0, index], activation)
    weights = gradient.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * activation.detach()).sum(dim=1))[0]
    peak = float(cam.max())
    cam = cam / peak if peak > 0 else torch.zeros_like(cam)
    return Cam(cam.float().numpy(), probabilities.numpy(), index)


def _forward_from(
    network: nn.Module, inputs: torch.Tensor, layer: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits, and the layer's output as a leaf that the logits' graph starts from.

    The forward pass runs without autograd until ``layer`` has produced its output; the
    hook then turns recording on (grad mode is per thread, and ``no_grad`` restores it on
    exit), so the layers before it keep no activations for a backward pass. The network
    goes on with a copy: a later in-place op (DenseNet's ReLU) must not change the leaf.
    """
    import torch

    module = network.get_submodule(layer)
    captured: list[torch.Tensor] = []

    def record_from_here(_module: nn.Module, _inputs: object, output: torch.Tensor):
        torch.set_grad_enabled(True)
        captured.append(output.detach().requires_grad_())
        return captured[-1].clone()

    handle = module.register_forward_hook(record_from_here)
    try:
        with torch.no_grad():
            logits = network(inputs)
    finally:
        handle.remove()
    if len(captured) != 1 or captured[0].dim() != 4:
        raise ValueError(f"{layer!r} must run once and output a (N, C, H, W) map")
    return logits, captured[0]


def class_index(target: int | str | None, class_names: list[str]) -> int | None:
    """The index of a class given by label or index; None stays None (the top-1)."""
    if target is None or isinstance(target, int):
        if target is not None and not 0 <= target < len(class_names):
            raise ExplainError(f"class index {target} is out of range (0-{len(class_names) - 1})")
        return target
    if target in class_names:
        return class_names.index(target)
    shown = ", ".join(class_names[:20]) + (" …" if len(class_names) > 20 else "")
    raise ExplainError(f"the model has no class {target!r}; its classes: {shown}")


def explain_image(
    model: LoadedModel,
    image: Image.Image,
    target: int | str | None = None,
    max_side: int = MAX_SIDE,
    shown: Image.Image | None = None,
) -> Explanation:
    """The heatmap of class ``target`` (label, index, or None for the top-1) over ``image``.

    The heatmap and overlay are drawn on ``shown`` (the same picture at another scale;
    by default ``image``), scaled down to fit ``max_side``.

    The network sees the image exactly as the predictor does, so the probability is the
    one the results table shows. The network runs on the CPU in float32, in the
    channels-last layout the CPU's convolutions are fastest in (it is moved there, in
    place, as the predictor moves it).
    """
    import torch

    index = class_index(target, model.class_names)
    network = model.network.to(memory_format=torch.channels_last)
    normalize = Normalizer(model.preprocess.mean, model.preprocess.std, torch.device("cpu"))
    pixels = torch.from_numpy(to_input(image, model.preprocess)).unsqueeze(0)
    cam = grad_cam(network, normalize(pixels), model.spec.cam_layer, index)  # channels last
    shown = _shrunk(shown or image, max_side)
    heatmap = heatmap_at(cam.map, image.size, shown.size, model.preprocess)
    return Explanation(
        class_index=cam.class_index,
        label=model.class_names[cam.class_index],
        probability=float(cam.probabilities[cam.class_index]),
        heatmap=heatmap,
        overlay=overlay(shown, heatmap, _region(image.size, shown.size, model.preprocess)),
    )


def explain_file(
    model: LoadedModel,
    path: str | Path,
    target: int | str | None = None,
    max_side: int = MAX_SIDE,
) -> Explanation:
    """:func:`explain_image` of a file, decoded for the network as the predictor decodes it.

    That decode may be at a reduced scale (a JPEG's 1/8 for a 32-pixel input); the
    overlay is then drawn on a second, larger decode.

    Raises:
        DecodeError: the file cannot be decoded.
    """
    preprocess = model.preprocess
    image = open_image(path, min_size=preprocess.resize or preprocess.crop)
    shown = image
    if max(image.size) < max_side:  # perhaps reduced; a small file decodes again quickly
        shown = open_image(path, min_size=max_side // 2)
    return explain_image(model, image, target, max_side, shown)


def _shrunk(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` scaled to fit ``max_side`` (itself when it fits)."""
    from PIL import Image

    scale = max_side / max(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=3.0)


def _region(
    source: tuple[int, int], shown: tuple[int, int], preprocess: Preprocess
) -> tuple[int, int, int, int]:
    """The network's region of a ``source``-sized image, in pixels of the ``shown`` size."""
    scale_x, scale_y = shown[0] / source[0], shown[1] / source[1]
    left, top, right, bottom = input_region(source, preprocess)
    box = (round(left * scale_x), round(top * scale_y))
    return (*box, max(box[0] + 1, round(right * scale_x)), max(box[1] + 1, round(bottom * scale_y)))


def heatmap_at(
    cam: np.ndarray, source: tuple[int, int], size: tuple[int, int], preprocess: Preprocess
) -> np.ndarray:
    """``cam`` scaled (bilinear) onto the network's region of the image, zero elsewhere.

    ``source`` is the size of the image the network's input was made from, ``size`` the
    size of the heatmap wanted (the same image, possibly scaled).
    """
    import numpy as np
    from PIL import Image

    left, top, right, bottom = _region(source, size, preprocess)
    scaled = Image.fromarray(cam.astype(np.float32)).resize(
        (right - left, bottom - top), Image.Resampling.BILINEAR
    )
    heatmap = np.zeros((size[1], size[0]), dtype=np.float32)
    heatmap[top:bottom, left:right] = np.clip(np.asarray(scaled), 0.0, 1.0)
    return heatmap


def colour_map(heatmap: np.ndarray) -> np.ndarray:
    """``heatmap`` in [0, 1] as uint8 RGB (..., 3), blue (cold) through red (hot)."""
    import numpy as np

    positions = [position for position, _ in _JET]
    channels = [
        np.interp(heatmap, positions, [rgb[channel] for _, rgb in _JET]) for channel in range(3)
    ]
    return np.stack(channels, axis=-1).round().astype(np.uint8)


def overlay(
    image: Image.Image, heatmap: np.ndarray, region: tuple[int, int, int, int]
) -> Image.Image:
    """The image with the heatmap's colours over it, as opaque as the heat is high.

    Cold places keep the photo as it is; outside ``region`` (what the network did not
    see) the photo is dimmed.
    """
    import numpy as np
    from PIL import Image

    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
    alpha = (OVERLAY_ALPHA * heatmap)[..., None]
    blended = pixels * (1 - alpha) + colour_map(heatmap).astype(np.float32) * alpha
    left, top, right, bottom = region
    outside = np.ones(heatmap.shape, dtype=bool)
    outside[top:bottom, left:right] = False
    blended[outside] *= OUTSIDE_DIM
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8))
