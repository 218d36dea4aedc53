"""Finding image files and decoding them robustly into network inputs.

Scanning is a lazy, sorted, depth-first walk so the GUI can stream 100,000 files and
stop at any folder. Decoding is one error boundary per file: whatever the bytes are,
:func:`open_image` returns a fully decoded 8-bit RGB image or raises :class:`DecodeError`
with a one-line reason, never a lazily half-read image. The boundary wraps only the
operating system and Pillow reading the file; an exception from our own code after it
(conversion, resizing) is a bug, and :func:`array_or_reason` logs it as one.
Pillow, numpy and torch are imported inside the functions so the GUI starts without them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from resnet_desktop.core.errors import UserError, bug_summary
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    import torch
    from PIL import Image

logger = logging.getLogger(__name__)

_BASE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# "JPEG" also opens camera multi-picture files (MPO); DIB is the BMP variant without file header.
_BASE_FORMATS = ("JPEG", "PNG", "BMP", "DIB", "GIF", "TIFF", "WEBP")
_WHITE = (255, 255, 255)
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I"})
_MAX_REASON = 200
BUG_REASON = "bug in ResNet Desktop, not a bad file; details in the log file"


def _can_import(module: str) -> bool:
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def _optional_extensions() -> tuple[str, ...]:
    """AVIF when this Pillow has its AVIF codec; HEIC/HEIF when pillow-heif is installed."""
    extensions: tuple[str, ...] = ()
    if _can_import("PIL._avif"):
        extensions += (".avif",)
    if _can_import("pillow_heif"):
        extensions += (".heic", ".heif")
    return extensions


IMAGE_EXTENSIONS: frozenset[str] = frozenset(_BASE_EXTENSIONS + _optional_extensions())


class DecodeError(UserError):
    """One file could not be decoded; ``str(error)`` is a one-line reason for the user."""


class MissingPathError(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


# ---------------------------------------------------------------------------- scanning


class _Entry(NamedTuple):
    path: str  # absolute, symlinks kept as found: what the user sees
    real: str  # symlinks resolved: what identifies the file or folder
    is_dir: bool


class _Seen:
    """Real paths already visited, so loops end and every file is listed once."""

    def __init__(self) -> None:
        self.dirs: set[str] = set()
        self.files: set[str] = set()

    @staticmethod
    def _first(seen: set[str], real: str) -> bool:
        if real in seen:
            return False
        seen.add(real)
        return True

    def first_dir(self, real: str) -> bool:
        return self._first(self.dirs, real)

    def first_file(self, real: str) -> bool:
        return self._first(self.files, real)


@dataclass
class ScanTally:
    """What a scan skipped, so "no images found" can say what was there instead.

    ``not_images`` counts files by their extension (``""`` for none); ``hidden`` the
    hidden files and folders (names starting with ``.``) left out; ``unreadable`` the
    folders that could not be listed.
    """

    not_images: Counter[str] = field(default_factory=Counter)
    hidden: int = 0
    unreadable: int = 0


def has_image_extension(name: str) -> bool:
    """Whether the file name ends with one of :data:`IMAGE_EXTENSIONS`, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def scan_images(
    paths: Iterable[str | os.PathLike[str]],
    should_stop: Callable[[], bool] | None = None,
    tally: ScanTally | None = None,
) -> Iterator[Path]:
    """Yield the image files among ``paths`` and in the folders among them, recursively.

    Arguments are taken in the order given; inside a folder, entries are sorted by name
    and walked depth-first, and each file is yielded as soon as it is found. Paths are
    absolute but keep their symlinks. Hidden files and folders (a name starting with
    ``.``) are skipped unless named explicitly; only regular files with an image
    extension are yielded (FIFOs and devices are never opened); a file reachable
    several ways is yielded once; symlink loops are walked once. ``should_stop`` is
    polled before each folder. Unreadable subfolders are logged and skipped. What is
    skipped is counted in ``tally``, when given.

    Raises:
        MissingPathError: (a FileNotFoundError) at call time, before anything is yielded,
            when one of ``paths`` does not exist.
    """
    roots = [os.path.abspath(os.fspath(path)) for path in paths]
    missing = [root for root in roots if not os.path.exists(root)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise MissingPathError(f"no such file or folder: {missing[0]}{more}")
    return _scan(roots, should_stop or (lambda: False), tally or ScanTally())


def _scan(roots: list[str], should_stop: Callable[[], bool], tally: ScanTally) -> Iterator[Path]:
    seen = _Seen()
    for root in roots:
        if should_stop():
            return
        if os.path.isdir(root):
            yield from _walk(_Entry(root, os.path.realpath(root), True), seen, should_stop, tally)
        elif _is_regular_image(root):
            if seen.first_file(os.path.realpath(root)):
                yield Path(root)
        else:
            tally.not_images[os.path.splitext(root)[1].lower()] += 1


def _is_regular_image(path: str) -> bool:
    try:
        return has_image_extension(path) and stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _walk(
    top: _Entry, seen: _Seen, should_stop: Callable[[], bool], tally: ScanTally
) -> Iterator[Path]:
    """Depth-first walk with an explicit stack: no recursion limit on deep trees."""
    stack: list[Iterator[_Entry]] = [iter([top])]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
        elif not entry.is_dir:
            if seen.first_file(entry.real):
                yield Path(entry.path)
        elif seen.first_dir(entry.real):
            if should_stop():
                return
            stack.append(iter(_list_dir(entry, tally)))


def _list_dir(folder: _Entry, tally: ScanTally) -> list[_Entry]:
    """The folder's visible subfolders and image files, sorted by name."""
    try:
        with os.scandir(folder.path) as iterator:
            children = list(iterator)
    except OSError as error:
        logger.warning("cannot read folder %s: %s", folder.path, error.strerror or error)
        tally.unreadable += 1
        return []
    visible = sorted((c for c in children if not c.name.startswith(".")), key=lambda c: c.name)
    tally.hidden += len(children) - len(visible)
    entries = (_classify(child, folder.real, tally) for child in visible)
    return [entry for entry in entries if entry is not None]


def _classify(child: os.DirEntry[str], parent_real: str, tally: ScanTally) -> _Entry | None:
    """A folder or an image file to visit, or None; stats only what the name allows."""
    try:
        if child.is_dir():
            return _Entry(child.path, _real_path(child, parent_real), True)
        if has_image_extension(child.name) and child.is_file():
            return _Entry(child.path, _real_path(child, parent_real), False)
    except OSError:
        pass
    tally.not_images[os.path.splitext(child.name)[1].lower()] += 1
    return None


def _real_path(child: os.DirEntry[str], parent_real: str) -> str:
    """Resolve only symlinks: for anything else the parent's real path is enough (fast)."""
    if child.is_symlink():
        return os.path.realpath(child.path)
    return os.path.join(parent_real, child.name)


# ---------------------------------------------------------------------------- decoding


@functools.cache
def _allowed_formats() -> tuple[str, ...]:
    """Pillow formats we decode; anything else (PSD, EPS, PDF...) is refused by content."""
    formats = _BASE_FORMATS
    if ".avif" in IMAGE_EXTENSIONS:
        formats += ("AVIF",)
    if ".heic" in IMAGE_EXTENSIONS:
        importlib.import_module("pillow_heif").register_heif_opener()
        formats += ("HEIF",)
    return formats


def open_image(path: str | Path, min_size: int | None = None) -> Image.Image:
    """Decode ``path`` fully into an 8-bit RGB image, upright as its EXIF says.

    ``min_size`` lets JPEGs decode at a reduced scale (1/2, 1/4, 1/8) as long as both
    sides stay at least ``min_size``, which is most of the cost of large photos. Only
    the first frame of animations is read. Transparent pixels are composited on white,
    as image viewers show them; 16-bit images keep their full range (65535 -> 255).

    Raises:
        DecodeError: the file cannot be read or decoded, with a one-line reason. Any
            other exception comes from our conversion code: a bug, not a bad file.
    """
    return _to_rgb(_read_image(path, min_size))


def _read_image(path: str | Path, min_size: int | None) -> Image.Image:
    """The decoded image in its own mode: the per-file boundary around the OS and Pillow.

    Pillow's decoders raise many types on malformed bytes (OSError, ValueError,
    SyntaxError, struct.error, EOFError ...), so anything raised while the file is read
    and decoded is the file's problem; none of our own processing runs in here.
    """
    with _file_boundary():
        _check_regular_file(path)
        with open(path, "rb") as stream:
            return _decode(stream, min_size)


def _read_image_bytes(read: Callable[[], bytes], min_size: int | None) -> Image.Image:
    """:func:`_read_image` for a file read by ``read()`` (another filesystem, a worker)."""
    with _file_boundary():
        data = read()
        if not data:
            raise DecodeError("empty file")
        return _decode(io.BytesIO(data), min_size)


@contextlib.contextmanager
def _file_boundary() -> Iterator[None]:
    """Whatever reading and decoding a file raises becomes its :class:`DecodeError`."""
    try:
        yield
    except DecodeError:
        raise
    except Exception as error:  # of any type: see _read_image
        raise DecodeError(_reason(error)) from error


def _check_regular_file(path: str | Path) -> None:
    """Refuse what opening could hang on (a FIFO) or what cannot hold an image."""
    info = os.stat(path)
    if stat.S_ISDIR(info.st_mode):
        raise DecodeError("is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise DecodeError("not a regular file")
    if info.st_size == 0:
        raise DecodeError("empty file")


def _decode(stream: BinaryIO, min_size: int | None) -> Image.Image:
    """Open from a stream we own and load every pixel, so closing it invalidates nothing."""
    from PIL import Image

    image = Image.open(stream, formats=_allowed_formats())
    _check_pixels(image.size)
    if min_size:
        image.draft("RGB", (min_size, min_size))
    image.load()
    _apply_orientation(image)
    return image


def _check_pixels(size: tuple[int, int]) -> None:
    """Refuse decompression bombs ourselves: Pillow only warns below twice its limit."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    pixels = size[0] * size[1]
    if limit is not None and pixels > limit:
        raise DecodeError(f"image too large ({pixels} pixels, the limit is {limit})")


def _apply_orientation(image: Image.Image) -> None:
    """Rotate in place as EXIF says; broken EXIF data is ignored, not fatal."""
    from PIL import ImageOps

    try:
        ImageOps.exif_transpose(image, in_place=True)
    except Exception as error:
        logger.debug("ignoring EXIF orientation of %s: %s", image, error)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in _SIXTEEN_BIT_MODES:
        return _gray_to_rgb(_scale_16_bit(image))
    if image.mode == "F":
        return _gray_to_rgb(_scale_float(image))
    if image.has_transparency_data:
        return _composite_on_white(image)
    return image.convert("RGB")


def _scale_16_bit(image: Image.Image) -> np.ndarray:
    """Map 0..65535 to 0..255 by the top byte (Pillow's own convert clips at 255)."""
    import numpy as np

    values = np.asarray(image)
    if image.mode == "I":  # 32-bit container of 16-bit data (old PNG decoders, TIFF)
        values = np.clip(values, 0, 65535)
    return (values >> 8).astype(np.uint8)


def _scale_float(image: Image.Image) -> np.ndarray:
    """Float images are taken as 0..1 when they fit in it, else as 0..255."""
    import numpy as np

    values = np.nan_to_num(np.asarray(image, dtype=np.float32))
    if values.size and values.max() <= 1.0:
        values = values * 255.0
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _gray_to_rgb(values: np.ndarray) -> Image.Image:
    from PIL import Image

    return Image.fromarray(values).convert("RGB")


def _composite_on_white(image: Image.Image) -> Image.Image:
    from PIL import Image

    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, _WHITE)
    background.paste(rgba, mask=rgba)
    return background


def _reason(error: Exception) -> str:
    """A short, single-line explanation of why a file failed to decode."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image, or an image format that is not supported"
    if isinstance(error, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return f"image too large ({error})"
    if isinstance(error, FileNotFoundError):
        return "file not found"
    if isinstance(error, PermissionError):
        return "permission denied"
    if isinstance(error, OSError) and error.errno is not None:
        return f"cannot read the file: {error.strerror or error}"
    text = " ".join(str(error).split())
    if "truncated" in text.lower():
        return "truncated image (the file is incomplete)"
    detail = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return f"cannot decode: {detail}"[:_MAX_REASON]


# ---------------------------------------------------------------------------- inputs


def to_input(image: Image.Image, preprocess: Preprocess) -> np.ndarray:
    """Resize and centre-crop as torchvision's ``Resize`` + ``CenterCrop`` do on tensors.

    torchvision's uint8 kernels resize a photo in about two thirds of the time Pillow
    takes for the same region (0.47 against 0.73 ms on the ``imagenet-samples`` photos),
    within 2 levels of it. Returns a writable, C-contiguous ``uint8`` array of shape
    (crop, crop, 3); normalisation is the predictor's job, on the whole batch.
    """
    import numpy as np
    import torch

    pixels = torch.from_numpy(np.array(_to_rgb(image), dtype=np.uint8)).permute(2, 0, 1)
    return np.ascontiguousarray(resize_and_crop(pixels, preprocess).numpy())


def resize_and_crop(image: torch.Tensor, preprocess: Preprocess) -> torch.Tensor:
    """A uint8 CHW image, on any device, as a (crop, crop, 3) uint8 network input there.

    torchvision's ``Resize(resize)`` (antialiased bilinear) + ``CenterCrop(crop)``, the
    tutorials' preprocessing; without ``resize``, the whole image squashed to the crop.
    The CPU path and the GPU's (:mod:`resnet_desktop.core.gpu_decode`) share it.
    """
    from torchvision.transforms.v2 import functional

    crop = [preprocess.crop, preprocess.crop]
    if preprocess.resize is None:
        resized = functional.resize(image, crop, antialias=True)
    else:
        short_side = functional.resize(image, [preprocess.resize], antialias=True)
        resized = functional.center_crop(short_side, crop)
    return resized.permute(1, 2, 0)


def _crop_box(size: tuple[int, int], resize: int, crop: int) -> tuple[float, ...]:
    """The source region that torchvision's Resize(resize) + CenterCrop(crop) keeps."""
    width, height = size
    short, long = min(size), max(size)
    new_long = int(resize * long / short)
    new_width, new_height = (resize, new_long) if width <= height else (new_long, resize)
    left = round((new_width - crop) / 2.0)
    top = round((new_height - crop) / 2.0)
    scale_x, scale_y = width / new_width, height / new_height
    right = min((left + crop) * scale_x, width)  # float rounding must not pass the edge
    bottom = min((top + crop) * scale_y, height)
    return (left * scale_x, top * scale_y, right, bottom)


def input_region(size: tuple[int, int], preprocess: Preprocess) -> tuple[float, ...]:
    """The part of an image of ``size`` that :func:`to_input` gives the network.

    ``(left, top, right, bottom)`` in the image's pixels: the centre crop's source region,
    or the whole image when it is scaled straight to the input size.
    """
    if preprocess.resize is None:
        return (0.0, 0.0, float(size[0]), float(size[1]))
    return _crop_box(size, preprocess.resize, preprocess.crop)


def load_input(path: str | Path, preprocess: Preprocess) -> np.ndarray:
    """Decode one file into a network input; thread-safe, Pillow releases the GIL.

    Raises:
        DecodeError: the file cannot be decoded. Anything else is a bug of ours.
    """
    image = open_image(path, min_size=preprocess.resize or preprocess.crop)
    return to_input(image, preprocess)


def load_input_bytes(read: Callable[[], bytes], preprocess: Preprocess) -> np.ndarray:
    """:func:`load_input` for a file whose bytes ``read()`` returns, in the same boundary.

    Errors raised by ``read()`` are the file's, as opening a local file's are.
    """
    image = _read_image_bytes(read, min_size=preprocess.resize or preprocess.crop)
    return to_input(image, preprocess)


def array_or_reason(decode: Callable[[], np.ndarray], path: str | Path) -> np.ndarray | str:
    """``decode()``'s array for the file ``path``, or a one-line reason why there is none.

    The per-file error boundary of every batch decoder (prediction, training): a bad
    file becomes one reason string, never an exception that ends the whole batch. An
    exception other than :class:`DecodeError` is a bug in our code; it is logged with
    its traceback and the row says it is a bug. It stays one row rather than ending the
    run because such bugs tend to hit one odd image, whose neighbours' results are good.
    """
    try:
        return decode()
    except DecodeError as error:
        return str(error)
    except Exception as error:
        logger.exception("bug while preparing %s for the network", path)
        return f"{BUG_REASON} ({bug_summary(error)})"[:_MAX_REASON]


# ---------------------------------------------------------------------------- file facts


@dataclass(frozen=True)
class FileFacts:
    """What the detail panel says about a file, read without decoding its pixels."""

    size: int  # bytes
    modified: float  # POSIX time of the last change
    dimensions: tuple[int, int] | None  # upright width and height; None if not readable


_SIDEWAYS = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


def file_facts(path: str | Path) -> FileFacts:
    """Size, date and upright dimensions of ``path``: a stat and the image header only.

    Raises:
        OSError: the file cannot be stat'ed (gone, no permission).
    """
    info = os.stat(path)
    return FileFacts(info.st_size, info.st_mtime, _dimensions(path))


def _dimensions(path: str | Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path, formats=_allowed_formats()) as image:
            width, height = image.size
            sideways = image.getexif().get(0x0112) in _SIDEWAYS  # 0x0112: Orientation
    except Exception:  # of any type, as in _read_image: the file's problem, said as "unknown"
        return None
    return (height, width) if sideways else (width, height)
