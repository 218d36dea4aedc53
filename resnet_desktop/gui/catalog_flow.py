"""Which results catalog the window records into: choosing one, and a damaged or newer one.

The window's list lives in the listing's catalog connection, so every change of catalog
is a request to the listing (:class:`~resnet_desktop.app.listing.OpenCatalog`), which
moves the list along. A catalog that cannot be used never stops the window: the listing
falls back to a temporary catalog and this flow says why; a damaged one can be set aside
(renamed, kept for recovery) and a new one started in its place. The choice is
remembered in the settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from resnet_desktop.app.listing import CatalogOpened, CatalogProblem, ListingService, OpenCatalog
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.settings import Settings
from resnet_desktop.gui.messages import show_message

CATALOG_FILTER = "Catalogs (*.sqlite3 *.sqlite *.db);;All files (*)"
NEW_CATALOG_NAME = "catalog.sqlite3"


def catalog_file(settings: Settings) -> Path:
    """The catalog the settings name, else the user's default one."""
    return Path(settings.catalog) if settings.catalog else app_paths.catalog_path()


class CatalogFlow(QObject):
    """Opens catalogs through the listing and explains the ones that cannot be used.

    Signals:
        opened(object, bool): the catalog now in use, and whether it is temporary.
        message(str): a short status line for the window's status bar.
    """

    opened = Signal(object, bool)
    message = Signal(str)

    def __init__(self, listing: ListingService, settings: Settings, parent: QWidget) -> None:
        super().__init__(parent)
        self._listing = listing
        self._settings = settings
        self.path: Path | None = None  # the catalog in use, once the listing opened it
        self.temporary = False
        self._box: QMessageBox | None = None

    @property
    def _window(self) -> QWidget:
        return cast(QWidget, self.parent())

    def open_catalog(self) -> None:
        """File → Open Catalog…: record into an existing catalog file (or create it)."""
        path, _ = QFileDialog.getOpenFileName(
            self._window, "Open Catalog", str(self._folder()), CATALOG_FILTER
        )
        if path:
            self._listing.submit(OpenCatalog(Path(path)))

    def new_catalog(self) -> None:
        """File → New Catalog…: start an empty catalog in a new file."""
        path, _ = QFileDialog.getSaveFileName(
            self._window, "New Catalog", str(self._folder() / NEW_CATALOG_NAME), CATALOG_FILTER
        )
        if not path:
            return
        if Path(path).exists():
            self.message.emit(f"{path} already exists: open it with File → Open Catalog…")
            return
        self._listing.submit(OpenCatalog(Path(path)))

    def _folder(self) -> Path:
        return (self.path or catalog_file(self._settings)).parent

    # --- answers from the listing ---------------------------------------------------

    def catalog_opened(self, event: CatalogOpened) -> None:
        self.path, self.temporary = event.path, event.temporary
        if not event.temporary:
            default = app_paths.catalog_path()
            self._settings.catalog = "" if event.path == default else str(event.path)
        if event.aside is not None:
            self.message.emit(f"Started a new catalog; the damaged one is kept as {event.aside}")
        self.opened.emit(event.path, event.temporary)

    def catalog_problem(self, event: CatalogProblem) -> None:
        """Say why a catalog cannot be used; offer to set a damaged one aside."""
        if self._box is not None and self._box.isVisible():
            return  # one question at a time: later requests fail for the same reason
        text = event.message[:1].upper() + event.message[1:] + "."
        if self.path is None or self.temporary:
            text += "\n\nUntil another catalog is chosen, results are kept only until you quit."
        icon = QMessageBox.Icon.Warning
        box = show_message(self._window, "Catalog problem", text, icon, open_now=False)
        box.setObjectName("catalogProblem")
        if event.corrupt:
            box.setInformativeText(
                f"Start a new, empty catalog at {event.path}? The damaged file is kept "
                "beside it, renamed, for recovery."
            )
            start = box.addButton("Start a New Catalog", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole)
            start.clicked.connect(lambda: self._listing.submit(OpenCatalog(event.path, True)))
        else:
            box.addButton(QMessageBox.StandardButton.Ok)
        self._box = box
        box.open()
