"""Files the application reads at run time (the icon, the user guide), found through
``importlib.resources``.

``importlib.resources`` finds them wherever the package lives, a wheel, an editable install
or a PyInstaller bundle, so nothing here builds paths from ``__file__``. The PNGs are rendered
from ``resources/resnet-desktop.svg`` by ``packaging/render_icons.py``. Qt is imported only
inside ``app_icon`` so the core and the CLI can use this module without PySide6 loaded.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

    from PySide6.QtGui import QIcon

APP_NAME = "ResNet Desktop"
# Reverse-DNS id: the name of the .desktop entry and AppStream metainfo in resources/; give it
# to QGuiApplication.setDesktopFileName so Wayland shows the right icon for the window.
APP_ID = "org.resnetdesktop.ResNetDesktop"
ICON_NAME = "resnet-desktop"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
_ICON_FOLDER = "icons"
_HELP_FOLDER = "help"
USER_GUIDE_FILE = "user-guide.md"


def user_guide_text() -> str:
    """The user guide shown by Help → User Guide: the README's "Using the app" section,
    shipped in the package (a wheel has no README) as Markdown."""
    return (files("resnet_desktop") / _HELP_FOLDER / USER_GUIDE_FILE).read_text("utf-8")


def icon_file_name(size: int) -> str:
    """File name of the ``size`` px PNG inside the package's icon folder."""
    return f"{ICON_NAME}-{size}.png"


def icon_path(size: int | None = None) -> Traversable:
    """The application icon as a PNG of ``size`` pixels, the largest one when ``None``.

    Raises:
        ValueError: ``size`` is not one of ``ICON_SIZES``.
    """
    chosen = max(ICON_SIZES) if size is None else size
    if chosen not in ICON_SIZES:
        sizes = ", ".join(map(str, ICON_SIZES))
        raise ValueError(f"no {chosen} px icon; the sizes are {sizes}")
    return files("resnet_desktop") / _ICON_FOLDER / icon_file_name(chosen)


def app_icon() -> QIcon:
    """The window icon holding every size, so title bar, task bar and About box stay sharp.

    Builds QPixmaps, so call it on the GUI thread once the QApplication exists. Reads bytes
    rather than file names so it works even where the package is not plain files on disk.
    """
    from PySide6.QtGui import QIcon, QPixmap

    icon = QIcon()
    for size in ICON_SIZES:
        pixmap = QPixmap()
        if not pixmap.loadFromData(icon_path(size).read_bytes(), "PNG"):
            raise RuntimeError(f"the bundled {size} px icon is not a readable PNG")
        icon.addPixmap(pixmap)
    return icon
