"""The icon files that resnet_desktop.resources promises exist in the installed package."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from resnet_desktop import resources


@pytest.mark.parametrize("size", resources.ICON_SIZES)
def test_every_icon_size_is_a_square_rgba_png_of_that_size(size: int) -> None:
    path = resources.icon_path(size)
    assert path.name == resources.icon_file_name(size)
    with path.open("rb") as stream, Image.open(stream) as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        assert image.mode == "RGBA"
        # The rounded tile leaves the corners transparent: the alpha channel is really used.
        assert image.getpixel((0, 0))[3] == 0


def test_no_size_means_the_largest_icon() -> None:
    assert resources.icon_path() == resources.icon_path(max(resources.ICON_SIZES))


@pytest.mark.parametrize("size", [0, 17, 1024])
def test_unknown_size_is_a_clear_error(size: int) -> None:
    with pytest.raises(ValueError, match=rf"no {size} px icon; the sizes are 16, 24,"):
        resources.icon_path(size)


def test_importing_resources_loads_no_qt() -> None:
    code = "import sys, resnet_desktop.resources; print([m for m in sys.modules if 'PySide6' in m])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
