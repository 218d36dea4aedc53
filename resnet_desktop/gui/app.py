"""Starting the desktop app: the QApplication, the window, then torch in the background.

Only Qt and torch-free modules are imported here, so the window is on screen within a
second; the window itself starts loading torch once it has been painted.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from resnet_desktop import __version__
from resnet_desktop.gui.gui_gc import GuiThreadCollector
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.resources import APP_ID, APP_NAME, app_icon

log = logging.getLogger(__name__)

ORGANIZATION = "ResNet Desktop"
ORGANIZATION_DOMAIN = "resnetdesktop.org"


def load_icon() -> QIcon:
    """The application icon, or an empty icon when the packaged PNGs are missing or broken."""

    try:
        return app_icon()
    except (OSError, RuntimeError, ValueError) as error:
        log.warning("no application icon: %s", error)
        return QIcon()


def create_application(argv: Sequence[str] | None = None) -> QApplication:
    """The QApplication (the existing one if any), named and with its icon."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        app = QApplication(list(sys.argv if argv is None else argv))
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setOrganizationName(ORGANIZATION)
    app.setOrganizationDomain(ORGANIZATION_DOMAIN)
    app.setDesktopFileName(APP_ID)
    app.setWindowIcon(load_icon())
    return app


def run_app(paths: Sequence[str], model: str | None = None) -> int:
    """Show the window with ``paths`` loaded and ``model`` selected; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app = create_application()
    collector = GuiThreadCollector(app)
    collector.start()
    window = MainWindow()
    window.show()
    if model:
        window.select_model(model)
    if paths:
        window.add_paths(list(paths))
    try:
        return app.exec()
    finally:
        collector.stop()
