"""One image large, and handing an image to the desktop: its viewer, its file manager.

The viewer decodes off the GUI thread like every thumbnail (a 50-megapixel photo takes
a while), shows "Loading…" meanwhile, and scales the picture to the window as it is
resized. Small images (CIFAR's 32x32) are enlarged with visible pixels, not blurred.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QProcess, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QImage, QPixmap, QResizeEvent
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout, QWidget

from resnet_desktop.gui.image_loader import ImageLoader

VIEWER_SIZE = 2048  # longest side decoded: sharp on a 4K screen, bounded in memory
SCREEN_SHARE = 0.8  # of the available screen the viewer opens at


def open_in_system_viewer(path: Path) -> bool:
    """Open ``path`` in the desktop's default program for it; False if none took it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


def reveal_in_file_manager(path: Path) -> bool:
    """Show ``path`` selected in the file manager (on Linux: its folder opened)."""
    if sys.platform == "win32":
        return QProcess.startDetached("explorer.exe", ["/select,", str(path)])[0]
    if sys.platform == "darwin":
        return QProcess.startDetached("open", ["-R", str(path)])[0]
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


class ImageViewer(QDialog):
    """``path`` as large as the dialog allows, with a caption (say, its labels)."""

    def __init__(self, path: Path, caption: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.path = path
        self.setObjectName("imageViewer")
        self.setWindowTitle(path.name)
        self._pixmap: QPixmap | None = None
        self.picture = QLabel("Loading…", self, objectName="viewerPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(200, 150)
        self.caption = QLabel(caption or str(path), self, objectName="viewerCaption")
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setToolTip(str(path))
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        self._loader = ImageLoader(VIEWER_SIZE, threads=1, max_pending=1, parent=self)
        self._loader.loaded.connect(self._loaded)
        self._loader.request(path)
        self._fit_screen()

    def _fit_screen(self) -> None:
        screen = self.screen().availableGeometry()
        self.resize(int(screen.width() * SCREEN_SHARE), int(screen.height() * SCREEN_SHARE))

    def _loaded(self, path: Path, image: QImage) -> None:
        if path != self.path:
            return
        if image.isNull():
            self.picture.setText(f"{path.name} cannot be read as an image")
            return
        self._pixmap = QPixmap.fromImage(image)
        self._show_scaled()

    def _show_scaled(self) -> None:
        if self._pixmap is None:
            return
        area = self.picture.size()
        small = (
            self._pixmap.width() * 2 <= area.width() and self._pixmap.height() * 2 <= area.height()
        )
        mode = (
            Qt.TransformationMode.FastTransformation
            if small
            else Qt.TransformationMode.SmoothTransformation
        )
        self.picture.setPixmap(self._pixmap.scaled(area, Qt.AspectRatioMode.KeepAspectRatio, mode))

    def has_image(self) -> bool:
        return self._pixmap is not None

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._show_scaled()

    def closeEvent(self, event: QCloseEvent) -> None:
        self._loader.shutdown()
        super().closeEvent(event)

    def done(self, result: int) -> None:  # Esc and reject() close without closeEvent
        self._loader.shutdown()
        super().done(result)
