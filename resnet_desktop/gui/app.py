"""Starting the desktop app: the QApplication, the window, then torch in the background.

Only Qt and torch-free modules are imported here, so the window is on screen within a
second; the window itself starts loading torch once it has been painted. An exception
nothing caught (in a slot, in a thread) is logged and shown as a bug rather than lost on
a terminal the user does not see.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from types import TracebackType

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox

from resnet_desktop import __version__
from resnet_desktop.app.logs import BugReport, report_bug
from resnet_desktop.core.errors import UserError, user_message
from resnet_desktop.gui.gui_gc import GuiThreadCollector
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.messages import show_bug, show_message
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


class BugReporter(QObject):
    """Shows the exceptions nothing caught: a slot's, a Python thread's.

    PySide6 hands an exception raised in a slot or a virtual method to ``sys.excepthook``
    and carries on; Python threads hand theirs to ``threading.excepthook``. Both are
    logged with their traceback and shown in the bug dialog, on the GUI thread (the
    signal is queued there when it comes from another thread). A :class:`UserError`
    that escaped a slot is still the user's to fix: a plain message.
    """

    reported = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reported.connect(self._show)
        self._previous = (sys.excepthook, threading.excepthook)

    def install(self) -> None:
        self._previous = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self._thread_excepthook

    def uninstall(self) -> None:
        sys.excepthook, threading.excepthook = self._previous

    def excepthook(
        self, kind: type[BaseException], error: BaseException, tb: TracebackType | None
    ) -> None:
        if not isinstance(error, Exception):  # Ctrl+C, SystemExit: not ours to report
            self._previous[0](kind, error, tb)
        elif isinstance(error, UserError):
            self.reported.emit(error)
        else:
            self.reported.emit(report_bug(error, "handling a window event"))

    def _thread_excepthook(self, args: threading.ExceptHookArgs) -> None:
        if not isinstance(args.exc_value, Exception):
            self._previous[1](args)
            return
        name = args.thread.name if args.thread else "a thread"
        self.reported.emit(report_bug(args.exc_value, f"running {name}"))

    def _show(self, item: BugReport | UserError) -> None:
        window = QApplication.activeWindow()
        if isinstance(item, BugReport):
            show_bug(window, item)
        else:
            show_message(window, APP_NAME, user_message(item), QMessageBox.Icon.Warning)


def run_app(paths: Sequence[str], model: str | None = None) -> int:
    """Show the window with ``paths`` loaded and ``model`` selected; returns the exit status."""
    app = create_application()
    reporter = BugReporter(app)
    reporter.install()
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
        reporter.uninstall()
