"""Decoding JPEGs on the GPU in batches, for a GPU that the CPU cannot feed.

A ResNet-50 on a current GPU classifies well over 10,000 images/s; 16 CPU cores decode
perhaps 5,000. So on CUDA the decoding threads only read each file and parse its JPEG
header (:func:`prepare`), and nvJPEG decodes the whole batch in one call on the GPU
(``torchvision.io.decode_jpeg`` with a list), where each image is also turned upright as
its EXIF says, resized and centre-cropped as the model's preprocessing says, with the
CPU path's own torchvision ``Resize`` + ``CenterCrop`` (:func:`decode_batch`).

The CPU path (:func:`resnet_desktop.core.predictor.decode_or_reason`) stays the one
authority on bad files: anything the GPU path does not take - other formats, CMYK or
truncated JPEGs, oversized files, headers Pillow refuses - and any JPEG the GPU decoder
refuses goes to it, file by file. So each file gives the same result row or the same
error, whichever path decoded it.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from resnet_desktop.core.imaging import resize_and_crop
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch

MAX_FILE_BYTES = 64 * 1024 * 1024  # larger files take the CPU path, which streams them
_GPU_MODES = frozenset({"RGB", "L"})  # what nvJPEG turns into RGB itself
_ORIENTATION_TAG = 0x0112
_JPEG_END = b"\xff\xd9"


@dataclass(frozen=True)
class EncodedJpeg:
    """A JPEG file's bytes, for the GPU to decode; the header already checked."""

    path: Path
    data: torch.Tensor  # uint8, 1-D, on the CPU, as nvJPEG takes it
    orientation: int  # EXIF orientation, 1 (upright) to 8


Prepared: TypeAlias = "EncodedJpeg | np.ndarray | str"
Decoded: TypeAlias = "torch.Tensor | np.ndarray | str"
CpuDecode = Callable[[Path, Preprocess], "np.ndarray | str"]


def prepare(path: Path, preprocess: Preprocess, cpu_decode: CpuDecode) -> Prepared:
    """For a decoding thread: the file's bytes when the GPU can take it, else the CPU's
    result (``cpu_decode``: the network input, or a one-line reason)."""
    encoded = read_jpeg(path)
    return encoded if encoded is not None else cpu_decode(path, preprocess)


def read_jpeg(path: Path) -> EncodedJpeg | None:
    """The file as an :class:`EncodedJpeg`, or None when the CPU path should have it.

    Anything unusual sends the file to the CPU path, which decodes it or says why not:
    so nothing here reports errors. The JPEG must end with its end-of-image marker (the
    CPU path refuses truncated files; nvJPEG might not notice).
    """
    import torch

    try:
        data = _read_small_file(path)
        orientation = _jpeg_orientation(data) if data and data.endswith(_JPEG_END) else None
    except Exception:  # OS or Pillow, of any type: the CPU path will say what it is
        return None
    if orientation is None:
        return None
    return EncodedJpeg(path, torch.frombuffer(bytearray(data), dtype=torch.uint8), orientation)


def _read_small_file(path: Path) -> bytes | None:
    with open(path, "rb") as stream:
        if os.fstat(stream.fileno()).st_size > MAX_FILE_BYTES:
            return None
        return stream.read(MAX_FILE_BYTES + 1)


def _jpeg_orientation(data: bytes) -> int | None:
    """The EXIF orientation of an 8-bit RGB or grayscale JPEG within the pixel limit."""
    from PIL import Image

    with Image.open(io.BytesIO(data), formats=("JPEG",)) as image:
        width, height = image.size
        limit = Image.MAX_IMAGE_PIXELS
        if image.format != "JPEG" or image.mode not in _GPU_MODES:
            return None
        if limit is not None and width * height > limit:
            return None
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    return orientation if orientation in range(1, 9) else 1  # broken EXIF: ignored


def decode_batch(
    items: Sequence[Prepared],
    preprocess: Preprocess,
    device: torch.device,
    cpu_decode: CpuDecode,
) -> list[Decoded]:
    """Decode the batch's JPEGs on ``device`` in one call, each into a (crop, crop, 3)
    uint8 input there; other items (the CPU's arrays and reasons) stay as they are.

    When the batched call fails (one file nvJPEG refuses fails it all, or memory runs
    out), each JPEG is tried alone, and those refused again go to ``cpu_decode``.
    """
    jpegs = [item for item in items if isinstance(item, EncodedJpeg)]
    images = iter(_decode_all(jpegs, device))  # in the order of ``jpegs``, as read below
    return [
        _input_or_cpu(item, next(images), preprocess, cpu_decode)
        if isinstance(item, EncodedJpeg)
        else item
        for item in items
    ]


def _input_or_cpu(
    jpeg: EncodedJpeg, image: torch.Tensor | None, preprocess: Preprocess, cpu_decode: CpuDecode
) -> Decoded:
    if image is None:
        return cpu_decode(jpeg.path, preprocess)
    return resize_and_crop(upright(image, jpeg.orientation), preprocess)


def _decode_all(jpegs: list[EncodedJpeg], device: torch.device) -> list[torch.Tensor | None]:
    if not jpegs:
        return []
    try:
        return list(decode_jpegs([jpeg.data for jpeg in jpegs], device))
    except RuntimeError:  # torch.OutOfMemoryError is one too
        return [_decode_one(jpeg, device) for jpeg in jpegs]


def _decode_one(jpeg: EncodedJpeg, device: torch.device) -> torch.Tensor | None:
    try:
        return decode_jpegs([jpeg.data], device)[0]
    except RuntimeError:
        return None


def decode_jpegs(data: list[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """torchvision's batched JPEG decoder (nvJPEG on CUDA): RGB uint8 CHW tensors.

    torchvision 0.29 deprecates its decoders for TorchCodec; until the project moves, the
    warning is silenced here (the decoding itself is unchanged).
    """
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


def upright(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """A CHW image turned as EXIF ``orientation`` says, as Pillow's exif_transpose does."""
    height, width = 1, 2
    match orientation:
        case 2:
            return image.flip(width)
        case 3:
            return image.rot90(2, (height, width))
        case 4:
            return image.flip(height)
        case 5:
            return image.transpose(height, width)
        case 6:
            return image.rot90(-1, (height, width))
        case 7:
            return image.rot90(2, (height, width)).transpose(height, width)
        case 8:
            return image.rot90(1, (height, width))
    return image


def available(device: torch.device) -> bool:
    """Whether this torchvision decodes JPEGs on ``device`` (built with nvJPEG)."""
    import torch

    probe = _tiny_jpeg()
    try:
        decode_jpegs([torch.frombuffer(bytearray(probe), dtype=torch.uint8)], device)
    except (RuntimeError, NotImplementedError):
        return False
    return True


def _tiny_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (128, 64, 32)).save(buffer, "JPEG")
    return buffer.getvalue()
