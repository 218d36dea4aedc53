"""The wizard's third page: training settings, filled with the strategy's defaults."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.core.dataset import DatasetError
from resnet_desktop.core.device import DEVICES, PRECISIONS
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.train_config import (
    OPTIMIZERS,
    TrainConfig,
    TrainingError,
    default_config,
    resolve_config,
)
from resnet_desktop.core.zoo import SPECS, Preprocess
from resnet_desktop.gui.widgets import InlineError


@dataclass(frozen=True)
class _Field:
    """One TrainConfig setting: its widget and how to read/write it."""

    name: str
    label: str
    widget: QWidget
    get: Callable[[], Any]
    put: Callable[[Any], None]


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin


class _NumberSpin(QDoubleSpinBox):
    """Shows 0.0005, not 0.000500: no trailing zeros, never an exponent (which it cannot parse)."""

    def textFromValue(self, value: float) -> str:
        return f"{value:.{self.decimals()}f}".rstrip("0").rstrip(".") or "0"


def _double(low: float, high: float, decimals: int, step: float) -> QDoubleSpinBox:
    spin = _NumberSpin(decimals=decimals, singleStep=step)
    spin.setRange(low, high)
    return spin


def _combo(items: tuple[str, ...], editable: bool = False) -> QComboBox:
    combo = QComboBox(editable=editable)
    combo.addItems(list(items))
    return combo


def _spin_field(name: str, label: str, spin: QSpinBox | QDoubleSpinBox) -> _Field:
    return _Field(name, label, spin, spin.value, spin.setValue)


def _combo_field(name: str, label: str, combo: QComboBox) -> _Field:
    return _Field(name, label, combo, lambda: combo.currentText().strip(), combo.setCurrentText)


def _check_field(name: str, label: str, box: QCheckBox) -> _Field:
    return _Field(name, label, box, box.isChecked, box.setChecked)


# What each setting does, in a sentence a newcomer can act on (the fields' tooltips).
OPTION_TIPS = {
    "epochs": "How many times training goes through all the training images. Strategies "
    "that train more than the classifier stop early once validation stops improving.",
    "lr": "How big each learning step is. Too high: the loss jumps about or becomes NaN; "
    "too low: training hardly moves.",
    "batch_size": "Images per learning step. Larger batches are faster on a GPU but need "
    "more memory.",
    "optimizer": "The rule that updates the weights: AdamW adapts each step by itself; SGD "
    "(with momentum) is the classic choice for training from scratch.",
    "weight_decay": "Pulls the weights towards zero to fight overfitting; 0 turns it off.",
    "label_smoothing": "Trains towards slightly softened answers (e.g. 90 % sure instead "
    "of 100 %), so the model is less over-confident; 0 turns it off.",
    "augment": "Shows every training image randomly cropped and mirrored, so the model "
    "sees more variety. Not used when only the classifier trains: its features are "
    "computed once.",
    "device": "Where to train: auto picks the fastest available; cpu, cuda (an NVIDIA "
    "GPU) or mps (Apple silicon).",
    "precision": "Number format for training: auto chooses; bf16 and fp16 are faster on "
    "hardware that supports them, fp32 is exact everywhere.",
    "seed": "Fixes the random split, start and order, so a run can be repeated exactly.",
}
VAL_SPLIT_TIP = (
    "The share of each class's images kept aside to measure accuracy; they are never "
    "trained on. Disabled when a separate validation folder is given."
)


def _option_fields() -> list[_Field]:
    lr = _double(1e-6, 10.0, 6, 1e-4)
    lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    fields = [
        _spin_field("epochs", "Epochs:", _spin(1, 10_000)),
        _spin_field("lr", "Learning rate:", lr),
        _spin_field("batch_size", "Batch size:", _spin(1, 4096)),
        _combo_field("optimizer", "Optimizer:", _combo(OPTIMIZERS)),
        _spin_field("weight_decay", "Weight decay:", _double(0.0, 1.0, 5, 1e-4)),
        _spin_field("label_smoothing", "Label smoothing:", _double(0.0, 0.9, 2, 0.05)),
        _check_field("augment", "Augmentation:", QCheckBox("Random crops and flips")),
        _combo_field("device", "Device:", _combo(DEVICES, editable=True)),
        _combo_field("precision", "Precision:", _combo(PRECISIONS)),
        _spin_field("seed", "Random seed:", _spin(0, 2**31 - 1)),
    ]
    for field in fields:
        field.widget.setToolTip(OPTION_TIPS[field.name])
    return fields


class OptionsPage(QWizardPage):
    """Training settings, filled with the trainer's defaults for the chosen strategy."""

    def __init__(
        self,
        state: FineTuneState,
        runtime: RuntimeOptions = RuntimeOptions(),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.state = state
        self.runtime = runtime
        self.setTitle("Training options")
        self.setSubTitle("The defaults suit the chosen strategy; change them if you know why.")
        self._defaults: TrainConfig | None = None
        self.fields = {field.name: field for field in _option_fields()}
        self.val_percent = _spin(5, 50)
        self.val_percent.setSuffix(" %")
        self.val_percent.setValue(20)
        self.val_percent.setMinimumWidth(160)
        self.val_percent.setToolTip(VAL_SPLIT_TIP)
        self.val_percent.valueChanged.connect(self._show_split)
        self.split_label = QLabel()
        self.error = InlineError()
        restore = QPushButton(
            "Restore defaults", toolTip="Back to the settings suggested for the strategy"
        )
        restore.clicked.connect(self.restore_defaults)
        form = QFormLayout(fieldGrowthPolicy=QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("Validation split:", self.val_percent)
        form.addRow("", self.split_label)
        for field in self.fields.values():
            field.widget.setMinimumWidth(160)
            form.addRow(field.label, field.widget)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(restore, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.error)
        layout.addStretch(1)

    def initializePage(self) -> None:
        strategy_defaults = default_config(self.state.strategy, self._preprocess())
        defaults = dataclasses.replace(strategy_defaults, runtime=self.runtime)
        if defaults != self._defaults:  # a new strategy or input size: its own defaults
            self._defaults = defaults
            self.restore_defaults()
        self.fields["augment"].widget.setEnabled(self.state.strategy != "head")
        separate_val = self.state.scan is not None and self.state.scan.val_root is not None
        self.val_percent.setEnabled(not separate_val)
        self._show_split()

    def first_field(self) -> QWidget:
        return self.val_percent

    def _preprocess(self) -> Preprocess:
        return self.state.preprocess or SPECS["resnet50"].preprocess

    def restore_defaults(self) -> None:
        if self._defaults is None:
            return
        values = self._defaults.to_dict()
        for name, field in self.fields.items():
            field.put(values[name])
        self.error.clear()

    def set_value(self, name: str, value: Any) -> None:
        self.fields[name].put(value)

    def config(self) -> TrainConfig:
        """The form's settings over the defaults (which fill what the form does not show)."""
        base = self._defaults or TrainConfig(strategy=self.state.strategy)
        values = {name: field.get() for name, field in self.fields.items()}
        return base.updated(strategy=self.state.strategy, **values)

    def _show_split(self) -> None:
        self.state.val_fraction = self.val_percent.value() / 100
        try:
            split = self.state.split()
        except (DatasetError, ValueError) as error:
            self.split_label.setText(str(error))
            return
        text = f"{len(split.train)} training and {len(split.val)} validation images"
        if split.val_fraction is None:
            text += " (from the separate validation folder)"
        if split.leaked_duplicates:
            text += f"; {split.leaked_duplicates} identical image(s) are in both"
        self.split_label.setText(text + ".")

    def validatePage(self) -> bool:
        try:
            self.state.config = resolve_config(self.config(), self._preprocess())
        except TrainingError as error:
            self.error.setText(str(error))
            return False
        self.error.clear()
        return True

    def shutdown(self) -> None:
        """Nothing runs in the background here."""
