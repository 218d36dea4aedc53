"""The Qt layer: windows, item models, workers and the fine-tuning wizard.

``MainWindow`` is imported lazily so that ``import resnet_desktop.gui`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MainWindow"]


def __getattr__(name: str) -> Any:
    if name == "MainWindow":
        from resnet_desktop.gui.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)
