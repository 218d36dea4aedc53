"""Decoding thumbnails and previews off the GUI thread.

Files are decoded to a QImage in a small QThreadPool (QImage, unlike QPixmap, may be made
off the GUI thread) with the core's reduced-size JPEG decode and EXIF rotation; the caller
turns it into a QPixmap on the GUI thread. Requests wait in a bounded queue served newest
first, so scrolling quickly through 100,000 rows decodes what is on screen now, and what
scrolled past is dropped instead of piling up.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal
from PySide6.QtGui import QImage

from resnet_desktop.core.imaging import DecodeError, open_image

log = logging.getLogger(__name__)


def decode_scaled(path: Path, size: int) -> QImage:
    """``path`` scaled to fit ``size`` x ``size``; a null QImage if it cannot be decoded."""

    try:
        image = open_image(path, min_size=size)
        image.thumbnail((size, size))
    except DecodeError:
        return QImage()
    data = image.tobytes()
    width, height = image.size
    # copy(): the QImage must own its pixels, ``data`` is freed when this function returns
    return QImage(data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class ImageLoader(QObject):
    """Decodes requested files in the background, newest request first.

    Signals:
        loaded(object, QImage): a request finished; the image is null if decoding failed.
        dropped(object): a request left the bounded queue without being decoded.
    """

    loaded = Signal(object, QImage)
    dropped = Signal(object)
    _decoded = Signal(object, QImage)  # from pool threads; queued to this object's thread

    def __init__(
        self, size: int, *, threads: int = 2, max_pending: int = 256, parent: Any = None
    ) -> None:
        super().__init__(parent)
        self.size = size
        self._max_pending = max_pending
        self._pending: OrderedDict[Path, None] = OrderedDict()
        self._running = 0
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(threads)
        self._threads = threads
        self._closed = False
        self._decoded.connect(self._on_decoded)

    def request(self, path: Path) -> None:
        """Decode ``path`` soon; a repeated request moves it to the front of the queue."""
        if self._closed:
            return
        self._pending[path] = None
        self._pending.move_to_end(path)
        while len(self._pending) > self._max_pending:
            oldest, _ = self._pending.popitem(last=False)
            self.dropped.emit(oldest)
        self._start_next()

    def cancel_pending(self) -> None:
        """Forget queued requests (decodes already running still report)."""
        pending, self._pending = list(self._pending), OrderedDict()
        for path in pending:
            self.dropped.emit(path)

    def shutdown(self) -> None:
        """Drop the queue and wait for the running decodes; the loader accepts no more."""
        self._closed = True
        self._pending.clear()
        self._pool.waitForDone()

    def _start_next(self) -> None:
        while self._pending and self._running < self._threads:
            path, _ = self._pending.popitem(last=True)
            self._running += 1
            self._pool.start(functools.partial(self._decode, path))

    def _decode(self, path: Path) -> None:
        """Runs in a pool thread; always reports, so the running count stays right."""
        try:
            image = decode_scaled(path, self.size)
        except Exception:  # a bug, not a bad file (those give a null image): log it
            log.exception("thumbnail of %s failed", path)
            image = QImage()
        self._decoded.emit(path, image)

    def _on_decoded(self, path: Path, image: QImage) -> None:
        self._running -= 1
        if self._closed:
            return
        self.loaded.emit(path, image)
        self._start_next()
