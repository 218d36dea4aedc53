"""Starting the app: no torch before the window is up, and ``resnet-desktop PATH`` opens it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from resnet_desktop.cli import main as cli_main
from resnet_desktop.gui import app as app_module
from resnet_desktop.gui.main_window import MainWindow
from tests.gui.imagefiles import write_noise_images

BUILD_WINDOW = """
import sys
from PySide6.QtWidgets import QApplication
import resnet_desktop.gui.app
from resnet_desktop.gui.main_window import MainWindow
app = QApplication([])
window = MainWindow()
window.add_paths([sys.argv[1]])
print("torch imported:", "torch" in sys.modules)
window.close()  # stops and joins the scan
"""


def test_the_window_is_built_without_importing_torch(tmp_path: Path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WINDOW, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    assert "torch imported: False" in result.stdout


def test_command_line_paths_open_in_the_window(qtbot, tmp_path: Path, tiny_model: str):
    images = write_noise_images(tmp_path, 5)
    seen: dict[str, object] = {}

    def close_when_loaded() -> None:
        windows = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
        window = next((w for w in windows if w.isVisible()), None)
        if window is None or window._scan is not None or len(window.results) < len(images):
            return
        if window.selector.current_model() != tiny_model:
            return
        seen.update(rows=len(window.results), title=window.windowTitle())
        timer.stop()
        window.close()

    timer = QTimer()
    timer.timeout.connect(close_when_loaded)
    timer.start(50)
    assert cli_main([str(tmp_path), "--model", tiny_model]) == 0
    assert seen == {"rows": 5, "title": f"{tmp_path.name} — ResNet Desktop"}  # a folder names it
    app = QApplication.instance()
    assert app.applicationName() == "ResNet Desktop"
    assert not app.windowIcon().isNull()


def test_a_missing_icon_is_not_fatal(qapp, monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("resnet-desktop-16.png")

    monkeypatch.setattr(app_module, "app_icon", missing)
    assert app_module.load_icon().isNull()


MANY_VOID_CALLS = """
from PySide6.QtCore import QCoreApplication, QObject
app = QCoreApplication([])
probe = QObject()
for _ in range(50_000):
    probe.setObjectName("probe")
    app.processEvents()
print("survived")
"""


def test_many_qt_calls_do_not_use_up_none():
    """PySide6 6.12.0 on Python 3.11 drops a reference to None per void call (pyproject.toml
    excludes it there); with such a build the loop ends the interpreter ("none_dealloc"),
    so it runs in a process of its own, whose exit the test can see."""
    result = subprocess.run(
        [sys.executable, "-c", MANY_VOID_CALLS], capture_output=True, text=True, timeout=120
    )
    assert (result.returncode, result.stdout.strip()) == (0, "survived"), result.stderr[-2000:]
