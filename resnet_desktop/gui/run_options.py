"""How a run goes: top-k in the toolbar, and the runtime choices that Preferences edit.

Device, precision, engine and batch size are for people who tune speed, so they live in
*Edit → Preferences…* (:mod:`resnet_desktop.gui.preferences`); this object holds them as
one :class:`RuntimeOptions` value that runs, Evaluate and the wizard take, and says when
it changes. Only top-k, which changes what the table shows, stays in the toolbar.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QWidget

from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.settings import MAX_TOP_K, Settings


class RunOptions(QWidget):
    """The toolbar's top-k control and the current runtime choices.

    Signals:
        runtimeChanged(): :meth:`runtime` returns another value.
    """

    runtimeChanged = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.top_k_spin = QSpinBox(objectName="topKSpin", minimum=1, maximum=MAX_TOP_K)
        self.top_k_spin.setToolTip("How many of the likeliest classes to list per image")
        self._runtime = RuntimeOptions()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        label = QLabel("Top-k", self)
        label.setBuddy(self.top_k_spin)
        label.setToolTip(self.top_k_spin.toolTip())
        layout.addWidget(label)
        layout.addWidget(self.top_k_spin)

    def apply(self, settings: Settings) -> None:
        self.set_runtime(
            RuntimeOptions(
                settings.device, settings.precision, settings.engine, settings.batch_size
            )
        )
        self.top_k_spin.setValue(settings.top_k)

    def store(self, settings: Settings) -> None:
        runtime = self.runtime()
        settings.device, settings.precision = runtime.device, runtime.precision
        settings.engine, settings.batch_size = runtime.engine, runtime.batch_size
        settings.top_k = self.top_k()

    def runtime(self) -> RuntimeOptions:
        """The runtime choices as one value: runs, Evaluate and the wizard take it."""
        return self._runtime

    def set_runtime(self, runtime: RuntimeOptions) -> None:
        if runtime != self._runtime:
            self._runtime = runtime
            self.runtimeChanged.emit()

    def top_k(self) -> int:
        return self.top_k_spin.value()
