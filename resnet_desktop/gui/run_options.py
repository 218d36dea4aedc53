"""How a run goes: device, precision, engine, top-k and batch size, as a toolbar strip.

The devices this machine has are only known once torch has loaded; until then the list
holds Auto and the device saved in the settings, and :meth:`set_available_devices` fills it.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from resnet_desktop.core.device import ENGINE_TITLES, ENGINES, PRECISIONS
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.settings import MAX_TOP_K, Settings

DEVICE_TITLES = {"auto": "Auto", "cpu": "CPU", "cuda": "CUDA", "mps": "MPS"}
PRECISION_TITLES = {"auto": "Auto", "fp32": "FP32", "bf16": "BF16", "fp16": "FP16", "int8": "INT8"}
MAX_BATCH_SIZE = 4096


def _combo(name: str, tooltip: str) -> QComboBox:
    combo = QComboBox()
    combo.setObjectName(name)
    combo.setToolTip(tooltip)
    return combo


def _select_data(combo: QComboBox, value: str) -> bool:
    index = combo.findData(value)
    if index >= 0:
        combo.setCurrentIndex(index)
    return index >= 0


class RunOptions(QWidget):
    """Device, precision, engine, top-k and batch-size controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.device_box = _combo("deviceSelector", "Where the model runs (Auto: GPU if any)")
        self.precision_box = _combo(
            "precisionSelector",
            "Numeric precision (Auto: fastest at full accuracy;\n"
            "INT8: faster, quantised on your images, needs resnet-desktop[int8])",
        )
        for value in PRECISIONS:
            self.precision_box.addItem(PRECISION_TITLES[value], value)
        self.engine_box = _combo(
            "engineSelector",
            "What runs the network (Auto: OpenVINO on the CPU when installed, else PyTorch)",
        )
        for value in ENGINES:
            self.engine_box.addItem(ENGINE_TITLES[value], value)
        self.top_k_spin = QSpinBox(objectName="topKSpin", minimum=1, maximum=MAX_TOP_K)
        self.top_k_spin.setToolTip("Classes listed per image")
        self.batch_spin = QSpinBox(objectName="batchSizeSpin", minimum=0, maximum=MAX_BATCH_SIZE)
        self.batch_spin.setSpecialValueText("Auto")
        self.batch_spin.setToolTip("Images per forward pass (Auto: chosen for the device)")
        self._saved_device = "auto"
        self.set_available_devices([])
        self._lay_out()

    def _lay_out(self) -> None:
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        pairs = (
            ("Device", self.device_box),
            ("Precision", self.precision_box),
            ("Engine", self.engine_box),
            ("Top-k", self.top_k_spin),
            ("Batch", self.batch_spin),
        )
        for title, widget in pairs:
            label = QLabel(title, self)
            label.setBuddy(widget)
            layout.addWidget(label)
            layout.addWidget(widget)

    def set_available_devices(self, devices: list[str]) -> None:
        """Offer Auto plus ``devices``; an empty list means "not known yet"."""
        wanted = self.runtime().device if self.device_box.count() else self._saved_device
        offered = devices or ([self._saved_device] if self._saved_device != "auto" else [])
        self.device_box.clear()
        for device in ("auto", *offered):
            self.device_box.addItem(DEVICE_TITLES.get(device, device), device)
        if not _select_data(self.device_box, wanted):
            self.device_box.setCurrentIndex(0)

    def apply(self, settings: Settings) -> None:
        self._saved_device = settings.device
        self.set_available_devices([])
        _select_data(self.device_box, settings.device)
        _select_data(self.precision_box, settings.precision)
        _select_data(self.engine_box, settings.engine)
        self.top_k_spin.setValue(settings.top_k)
        self.batch_spin.setValue(settings.batch_size or 0)

    def store(self, settings: Settings) -> None:
        runtime = self.runtime()
        settings.device, settings.precision = runtime.device, runtime.precision
        settings.engine, settings.batch_size = runtime.engine, runtime.batch_size
        settings.top_k = self.top_k()

    def runtime(self) -> RuntimeOptions:
        """The strip's runtime choices as one value: runs, Evaluate and the wizard take it."""
        return RuntimeOptions(
            device=self.device_box.currentData() or "auto",
            precision=self.precision_box.currentData() or "auto",
            engine=self.engine_box.currentData() or "auto",
            batch_size=self.batch_spin.value() or None,
        )

    def top_k(self) -> int:
        return self.top_k_spin.value()
