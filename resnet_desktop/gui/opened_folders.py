"""The folders the window shows: its title, the table's file labels, and scan reports.

File → Open Folder… replaces the list and names the window after the folder; Add
Folder… adds one more. When a scan ends, its :class:`ScanSummary` is reported: nothing
found is a message that says what the folder held instead; otherwise the status bar
says how many images came and what was skipped.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMainWindow, QMessageBox

from resnet_desktop.app.scan_report import ScanSummary
from resnet_desktop.gui.messages import show_message
from resnet_desktop.gui.results_model import ResultsModel
from resnet_desktop.resources import APP_NAME

REPORT_TIMEOUT_MS = 10_000


class OpenedFolders(QObject):
    """Keeps the window's title and the table's file labels in step with the folders."""

    def __init__(self, window: QMainWindow, results: ResultsModel) -> None:
        super().__init__(window)
        self._window = window
        self._results = results

    def open(self, folder: Path) -> None:
        """``folder`` is now the only one listed."""
        self._results.names.set_roots([folder])
        self._changed()

    def add_folders(self, paths: list[str]) -> None:
        """The folders among ``paths`` (added, dropped) are listed too; files are not."""
        folders = [Path(path) for path in paths if os.path.isdir(path)]
        for folder in folders:
            self._results.names.add_root(folder)
        if folders:
            self._changed()

    def clear(self) -> None:
        self._results.names.set_roots([])
        self._changed()

    def _changed(self) -> None:
        self._results.labels_changed()
        self._window.setWindowTitle(window_title(self._results.names.roots))

    def report(self, summary: ScanSummary) -> None:
        if summary.found:
            self._window.statusBar().showMessage(summary.message(), REPORT_TIMEOUT_MS)
        else:
            box = show_message(
                self._window, "No images found", summary.message(), QMessageBox.Icon.Information
            )
            box.setObjectName("noImagesFound")


def window_title(roots: tuple[Path, ...]) -> str:
    """``Holiday — ResNet Desktop``; ``Holiday + 2 more — …`` when folders were added."""
    if not roots:
        return APP_NAME
    more = f" + {len(roots) - 1} more" if len(roots) > 1 else ""
    return f"{roots[0].name or roots[0]}{more} — {APP_NAME}"
