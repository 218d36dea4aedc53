"""Edit → Preferences: where and how the network runs, in plain words.

Device, precision, engine and batch size only change speed (the scores barely), so they
are kept out of the toolbar. Each list offers only what can run on this machine (no FP16
on a processor, OpenVINO and INT8 only when installed, per :mod:`resnet_desktop.core.device`),
and a line under the form says what Classify will run as, decided by the same code a run
uses (:meth:`RuntimeOptions.decide`), so the dialog never promises what a run does not do.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from resnet_desktop.core.device import (
    Hardware,
    OptionError,
    openvino_installed,
    runnable_precisions,
)
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.settings import MAX_BATCH_SIZE
from resnet_desktop.core.zoo import Preprocess

DEVICE_WORDS = {
    "auto": "Automatic (the graphics card when there is one)",
    "cpu": "Processor (CPU)",
    "cuda": "NVIDIA graphics card (CUDA)",
    "mps": "Apple graphics (Metal)",
}
PRECISION_WORDS = {
    "auto": "Automatic (fastest at full accuracy)",
    "fp32": "Full (32-bit floats, slowest)",
    "bf16": "Half (bfloat16)",
    "fp16": "Half (float16, graphics cards only)",
    "int8": "Quantised (8-bit, fastest, slightly less accurate)",
}
ENGINE_WORDS = {
    "auto": "Automatic (OpenVINO on the processor when installed)",
    "torch": "PyTorch",
    "openvino": "OpenVINO (processor only)",
}
TIPS = {
    "device": "Which part of the computer computes the network. Graphics cards are much "
    "faster when there is one.",
    "precision": "How exactly numbers are computed. Half precision is faster on recent "
    "hardware and gives the same labels; 8-bit is faster still and may change a few (offered "
    "on the processor when the optional int8 support is installed).",
    "engine": "The software that runs the network. OpenVINO is 1.5-2x faster than PyTorch "
    "on the processor, at the same accuracy.",
    "batch": "How many images go through the network at once. Automatic picks a size "
    "that fits the device's memory; larger batches can be faster and need more memory.",
}


def runs_as(options: RuntimeOptions, hardware: Hardware | None, preprocess: Preprocess) -> str:
    """What ``options`` run as for a model with ``preprocess``: ``cpu (bf16, PyTorch,
    batch 256)``, or why they cannot run; "checking…" until the hardware is known."""
    if hardware is None:
        return "checking the devices…"
    try:
        return options.decide(hardware, preprocess).describe()
    except OptionError as error:
        return f"cannot run: {error}"


class PreferencesDialog(QDialog):
    """The runtime choices; :meth:`runtime` is the edited value once accepted."""

    def __init__(
        self,
        runtime: RuntimeOptions,
        hardware: Hardware | None,
        preprocess: Preprocess,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("preferencesDialog")
        self.setWindowTitle("Preferences")
        self.hardware = hardware
        self.preprocess = preprocess
        self.device_box = self._combo("deviceSelector", TIPS["device"])
        self.precision_box = self._combo("precisionSelector", TIPS["precision"])
        self.engine_box = self._combo("engineSelector", TIPS["engine"])
        self.batch_spin = QSpinBox(self, objectName="batchSizeSpin")
        self.batch_spin.setRange(0, MAX_BATCH_SIZE)
        self.batch_spin.setSpecialValueText("Automatic")
        self.batch_spin.setToolTip(TIPS["batch"])
        self.summary = QLabel(self, objectName="runsAsLabel", wordWrap=True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self._lay_out()
        self._fill(runtime)
        self.device_box.currentIndexChanged.connect(self._device_changed)
        self.precision_box.currentIndexChanged.connect(self._precision_changed)
        self.engine_box.currentIndexChanged.connect(self._show_summary)
        self.batch_spin.valueChanged.connect(self._show_summary)
        self._show_summary()

    def _combo(self, name: str, tip: str) -> QComboBox:
        combo = QComboBox(self, objectName=name)
        combo.setToolTip(tip)
        return combo

    def _lay_out(self) -> None:
        form = QFormLayout()
        rows = (
            ("Run on:", self.device_box),
            ("Precision:", self.precision_box),
            ("Run the network with:", self.engine_box),
            ("Images at once:", self.batch_spin),
        )
        for text, widget in rows:
            label = QLabel(text, self)
            label.setBuddy(widget)
            label.setToolTip(widget.toolTip())
            form.addRow(label, widget)
        intro = QLabel(
            "How images are classified on this computer. These settings change the speed; "
            "the labels stay the same (8-bit may change a few scores).",
            self,
            wordWrap=True,
        )
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    # --- the lists --------------------------------------------------------------------

    def _fill(self, runtime: RuntimeOptions) -> None:
        """Offer what runs here, selecting ``runtime``'s choices where they are offered."""
        devices = self.hardware.devices if self.hardware else ()
        if runtime.device != "auto" and runtime.device not in devices and not self.hardware:
            devices = (runtime.device,)  # not probed yet: keep the saved choice
        _set_items(self.device_box, ("auto", *devices), DEVICE_WORDS, runtime.device)
        self._fill_precisions(runtime.precision)
        self._fill_engines(runtime.engine)
        self.batch_spin.setValue(runtime.batch_size or 0)

    def device_type(self) -> str:
        """The device the chosen one means: Auto is the best there is (a CPU until known)."""
        chosen = self.device_box.currentData()
        if chosen != "auto":
            return chosen
        return self.hardware.devices[0] if self.hardware else "cpu"

    def _fill_precisions(self, wanted: str) -> None:
        offered = runnable_precisions(self.device_type(), self.hardware or Hardware())
        _set_items(self.precision_box, offered, PRECISION_WORDS, wanted)

    def _fill_engines(self, wanted: str) -> None:
        offered = ["auto"]
        if self.precision_box.currentData() != "int8":
            offered.append("torch")
        if self.device_type() == "cpu" and openvino_installed():
            offered.append("openvino")
        _set_items(self.engine_box, offered, ENGINE_WORDS, wanted)

    def _device_changed(self) -> None:
        self._fill_precisions(self.precision_box.currentData())
        self._precision_changed()

    def _precision_changed(self) -> None:
        self._fill_engines(self.engine_box.currentData())
        self._show_summary()

    # --- the result -------------------------------------------------------------------

    def runtime(self) -> RuntimeOptions:
        return RuntimeOptions(
            device=self.device_box.currentData() or "auto",
            precision=self.precision_box.currentData() or "auto",
            engine=self.engine_box.currentData() or "auto",
            batch_size=self.batch_spin.value() or None,
        )

    def _show_summary(self) -> None:
        described = runs_as(self.runtime(), self.hardware, self.preprocess)
        self.summary.setText(f"Classify will run as: {described}")
        cannot = described.startswith("cannot run")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not cannot)


def _set_items(combo: QComboBox, values: Sequence[str], words: dict[str, str], wanted: str) -> None:
    """Replace ``combo``'s items with ``values`` and select ``wanted`` (Auto if not offered)."""
    combo.blockSignals(True)
    combo.clear()
    for value in values:
        combo.addItem(words.get(value, value), value)
    index = combo.findData(wanted)
    combo.setCurrentIndex(max(index, 0))
    combo.blockSignals(False)
