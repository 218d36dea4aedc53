"""Render the application icon's PNG, ICO and ICNS files from ``resources/resnet-desktop.svg``.

The SVG is the only hand-edited icon file; run ``python packaging/render_icons.py`` after
changing it and commit the outputs:

- ``resnet_desktop/icons/resnet-desktop-<size>.png``: the sizes desktops ask for, shipped in
  the wheel and read at run time by ``resnet_desktop.resources``;
- ``resources/resnet-desktop.ico`` (Windows) and ``resources/resnet-desktop.icns`` (macOS),
  used by the PyInstaller spec.

Rendering uses PySide6's QtSvg, already a dependency, so no extra tool is needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from resnet_desktop.resources import ICON_NAME, ICON_SIZES, icon_file_name

ROOT = Path(__file__).resolve().parent.parent
SVG = ROOT / "resources" / f"{ICON_NAME}.svg"
PNG_DIR = ROOT / "resnet_desktop" / "icons"
ICO = ROOT / "resources" / f"{ICON_NAME}.ico"
ICNS = ROOT / "resources" / f"{ICON_NAME}.icns"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)  # Windows uses nothing above 256


def render_png(svg: Path, size: int, target: Path) -> None:
    """Render ``svg`` to a square transparent PNG of ``size`` pixels."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"error: {svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    if not image.save(str(target), "PNG"):
        raise SystemExit(f"error: cannot write {target}")


def write_multi_size(pngs: dict[int, Path], sizes: Sequence[int], target: Path) -> None:
    """Pack the already rendered PNGs of ``sizes`` into one ICO or ICNS file."""
    images = [Image.open(pngs[size]).convert("RGBA") for size in sorted(sizes, reverse=True)]
    largest, *rest = images
    largest.save(target, sizes=[image.size for image in images], append_images=rest)


def render_all(svg: Path = SVG) -> list[Path]:
    """Render every icon file; returns the paths written."""
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication.instance() or QGuiApplication([])  # noqa: F841 - keeps Qt initialised
    PNG_DIR.mkdir(parents=True, exist_ok=True)
    pngs = {size: PNG_DIR / icon_file_name(size) for size in ICON_SIZES}
    for size, path in pngs.items():
        render_png(svg, size, path)
    write_multi_size(pngs, ICO_SIZES, ICO)
    write_multi_size(pngs, ICON_SIZES, ICNS)
    return [*pngs.values(), ICO, ICNS]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--svg", type=Path, default=SVG, help="source SVG (default: %(default)s)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    for path in render_all(args.svg):
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
