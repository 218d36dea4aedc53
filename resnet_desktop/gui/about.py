"""The About box: what is running, for bug reports."""

from __future__ import annotations

import platform
from html import escape

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from resnet_desktop import __version__
from resnet_desktop.app.startup import RuntimeInfo
from resnet_desktop.gui.messages import show_message
from resnet_desktop.resources import APP_NAME


def version_lines(runtime: RuntimeInfo | None) -> list[tuple[str, str]]:
    """(component, version) pairs; torch's are known only once it has loaded."""
    loading = "loading…"
    lines = [
        (APP_NAME, __version__),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("PyTorch", runtime.torch_version if runtime else loading),
        ("torchvision", runtime.torchvision_version if runtime else loading),
    ]
    if runtime is not None:
        lines.append(("Devices", ", ".join(runtime.devices)))
        if runtime.cuda_name:
            lines.append(("CUDA device", runtime.cuda_name))
    return lines


def show_about(parent: QWidget, runtime: RuntimeInfo | None) -> QMessageBox:
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>&nbsp;{escape(value)}</td></tr>"
        for name, value in version_lines(runtime)
    )
    text = (
        f"<h3>{APP_NAME}</h3><p>Classify photos with ResNet and DenseNet models, "
        f"and fine-tune them on your own classes.</p><table>{rows}</table>"
    )
    box = show_message(parent, f"About {APP_NAME}", text, open_now=False)
    box.setObjectName("aboutBox")
    box.setIconPixmap(parent.windowIcon().pixmap(64, 64))
    box.addButton(QMessageBox.StandardButton.Ok)
    box.open()
    return box
