"""Finding image files and decoding them robustly into network inputs. (OWNER: helper H1)"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

IMAGE_EXTENSIONS: frozenset[str] = frozenset()


class DecodeError(Exception):
    """One file could not be decoded; ``str(error)`` is a one-line reason for the user."""


def scan_images(
    paths: Iterable[str | os.PathLike[str]], should_stop: Callable[[], bool] | None = None
) -> Iterator[Path]:
    raise NotImplementedError


def open_image(path: str | Path, min_size: int | None = None) -> Image.Image:
    raise NotImplementedError


def to_input(image: Image.Image, preprocess: Preprocess) -> np.ndarray:
    raise NotImplementedError


def load_input(path: str | Path, preprocess: Preprocess) -> np.ndarray:
    raise NotImplementedError
