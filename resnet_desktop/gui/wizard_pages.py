"""The fine-tuning wizard's set-up pages: dataset, base model and strategy, training options.

Each page edits one part of a shared :class:`FineTuneState` (plain data, no Qt) when the
user presses Next, so the later pages and the tests read one object. torch is imported
only when a page needs the trainer, never when this module is imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from resnet_desktop.app.models import ModelChoice, WeightsState, list_model_choices
from resnet_desktop.core.dataset import DatasetError, DatasetScan, scan_dataset, split_dataset
from resnet_desktop.core.device import DEVICES, PRECISIONS
from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.train_config import (
    OPTIMIZERS,
    STRATEGIES,
    TrainConfig,
    TrainingError,
    default_config,
    resolve_config,
)
from resnet_desktop.core.zoo import SPECS
from resnet_desktop.gui.evaluation_view import (
    InlineError,
    Thumb,
    ThumbnailGallery,
    folder_row,
)
from resnet_desktop.gui.model_selector import ModelSelector
from resnet_desktop.gui.workers import JobRunner

if TYPE_CHECKING:
    from resnet_desktop.core.dataset import DatasetSplit, ScanProgress
    from resnet_desktop.core.train_config import FitResult
    from resnet_desktop.core.zoo import Preprocess

THUMBNAILS_PER_CLASS = 4
SCAN_DELAY_MS = 400  # typing pause before a path in the line edit is scanned
BUILTIN, RANDOM, FILE = "builtin", "random", "file"
WARNING_STYLE = "color: #9a6700;"
STRATEGY_TEXT = {
    "head": (
        "Train the classifier only",
        "Fast: features are computed once. Best for small datasets and pretrained weights.",
    ),
    "last": (
        "Train the last stage and the classifier",
        "Slower; helps when your images look unlike the pretraining data.",
    ),
    "full": (
        "Train every layer",
        "Slowest and needs more images; the right choice when starting from random weights.",
    ),
}


@dataclass
class FineTuneState:
    """What the pages have decided so far; the wizard's single source of truth."""

    scan: DatasetScan | None = None
    model_name: str | None = None  # what load_model takes
    weights: str | None = None  # None: the model's own weights; "random"; or a file path
    strategy: str = "head"
    preprocess: Preprocess | None = None
    config: TrainConfig | None = None
    val_fraction: float = 0.2
    result: FitResult | None = None

    def split(self) -> DatasetSplit:
        if self.scan is None:
            raise ValueError("no dataset has been scanned")
        seed = self.config.seed if self.config is not None else 0
        return split_dataset(self.scan, self.val_fraction, seed)


# ------------------------------------------------------------------------------ 1. dataset


class DatasetPage(QWizardPage):
    """Choose the dataset folder(s) and show the pre-flight report of a background scan."""

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Dataset")
        self.setSubTitle("A folder with one sub-folder of images per class.")
        self.runner = JobRunner(self)
        self.runner.item.connect(self._on_item)
        self.runner.failed.connect(self._on_failed)
        self.runner.finished.connect(self._on_finished)
        self._timer = QTimer(self, singleShot=True, interval=SCAN_DELAY_MS)
        self._timer.timeout.connect(self.rescan)
        self._build()

    def _build(self) -> None:
        self.folder_edit = QLineEdit(placeholderText="Folder with one sub-folder per class")
        self.val_edit = QLineEdit(placeholderText="Optional: a separate validation folder")
        for edit in (self.folder_edit, self.val_edit):
            edit.textChanged.connect(self._schedule_scan)
        form = QFormLayout()
        form.addRow("Training images:", folder_row(self.folder_edit, "Dataset folder", self))
        form.addRow("Validation images:", folder_row(self.val_edit, "Validation folder", self))
        self.progress = QProgressBar(textVisible=False, maximumHeight=10)
        self.progress.hide()
        self.status = QLabel("Choose a folder to check it.")
        self.error = InlineError()
        self.warnings = QLabel(wordWrap=True, styleSheet=WARNING_STYLE)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        for widget in (self.progress, self.status, self.error, self.warnings):
            layout.addWidget(widget)
        layout.addWidget(self._report_area(), 1)

    def _report_area(self) -> QSplitter:
        self.counts = QStandardItemModel(0, 2, self)
        self.counts.setHorizontalHeaderLabels(["Class", "Images"])
        table = QTableView(editTriggers=QAbstractItemView.EditTrigger.NoEditTriggers)
        table.setModel(self.counts)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.gallery = ThumbnailGallery(size=72)
        self.unreadable = QPlainTextEdit(readOnly=True)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.gallery, "Examples")
        self.tabs.addTab(self.unreadable, "Unreadable files")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(table)
        splitter.addWidget(self.tabs)
        splitter.setSizes([260, 600])
        return splitter

    def set_folders(self, folder: str | Path, val_folder: str | Path | None = None) -> None:
        """Fill in the folders and scan at once (what Browse + waiting does)."""
        self.val_edit.setText("" if val_folder is None else str(val_folder))
        self.folder_edit.setText(str(folder))
        self.rescan()

    def _schedule_scan(self) -> None:
        self.runner.abandon()
        self._show_scan(None)
        self._timer.start()

    def rescan(self) -> None:
        """Scan the folders now (abandoning a scan of earlier ones)."""

        self._timer.stop()
        self._show_scan(None)
        root, val = self.folder_edit.text().strip(), self.val_edit.text().strip()
        if not root:
            self.status.setText("Choose a folder to check it.")
            return
        problem = _missing(root, "Folder") or (val and _missing(val, "Validation folder"))
        if problem:
            self.error.setText(problem)
            return
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText("Listing files…")
        self.runner.start(lambda stop: scan_dataset(root, val or None, should_stop=stop))
        self.completeChanged.emit()

    def _on_item(self, item: ScanProgress | DatasetScan) -> None:
        if isinstance(item, DatasetScan):
            if not item.cancelled:
                self._show_scan(item)
            return
        if item.total:
            self.progress.setRange(0, item.total)
            self.progress.setValue(item.done)
            self.status.setText(f"Checking files: {item.done} / {item.total}")
        else:
            self.status.setText(f"Listing files: {item.done} found")

    def _on_failed(self, message: str) -> None:
        self.error.setText(message)
        self.status.setText("")

    def _on_finished(self, _completed: bool) -> None:
        self.progress.hide()
        self.completeChanged.emit()

    def _show_scan(self, scan: DatasetScan | None) -> None:
        self.state.scan = scan
        self.progress.hide()
        self.error.clear()
        self.status.clear()
        counts = scan.counts() if scan else {}
        self.counts.setRowCount(0)
        for name, count in counts.items():
            number = QStandardItem()
            number.setData(count, Qt.ItemDataRole.DisplayRole)
            self.counts.appendRow([QStandardItem(name), number])
        warnings = scan.warnings() if scan else []
        self.warnings.setText("\n".join(f"⚠ {line}" for line in warnings))
        self.warnings.setVisible(bool(warnings))
        problems = scan.unreadable if scan else []
        self.unreadable.setPlainText("\n".join(f"{p.path}: {p.reason}" for p in problems))
        self.tabs.setTabText(1, f"Unreadable files ({len(problems)})")
        self.gallery.set_items(_examples(scan) if scan else [])
        if scan:
            self.status.setText(
                f"{sum(counts.values())} images in {len(counts)} classes. Ready to train."
            )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.state.scan is not None and not self.runner.running

    def shutdown(self) -> None:
        self._timer.stop()
        self.runner.shutdown()
        self.gallery.shutdown()


def _missing(folder: str, what: str) -> str:
    return "" if Path(folder).is_dir() else f"{what} {folder} does not exist."


def _examples(scan: DatasetScan) -> list[Thumb]:
    """The first few images of every class, captioned with the class name."""
    shown: dict[int, int] = {}
    thumbs = []
    for sample in scan.samples:
        if shown.get(sample.label, 0) < THUMBNAILS_PER_CLASS:
            shown[sample.label] = shown.get(sample.label, 0) + 1
            name = scan.class_names[sample.label]
            thumbs.append(Thumb(sample.path, name, f"{name}: {sample.path}"))
    return thumbs


# ------------------------------------------------------------------------------ 2. model


class ModelPage(QWizardPage):
    """The base network, where its starting weights come from, and how much of it to train."""

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Base model and strategy")
        self.setSubTitle("Start from a network that already knows images, then adapt it.")
        self.selector = ModelSelector()
        self.selector.currentIndexChanged.connect(self._update)
        self.hint = QLabel(wordWrap=True)
        form = QFormLayout()
        form.addRow("Model:", self.selector)
        form.addRow("", self.hint)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._weights_box())
        layout.addWidget(self._strategy_box())
        layout.addStretch(1)

    def _weights_box(self) -> QGroupBox:
        box = QGroupBox("Starting weights")
        self.weights_group = QButtonGroup(self)
        self.weights_file = QLineEdit(placeholderText="A .pth / .safetensors file for this model")
        self.weights_file.textChanged.connect(self._update)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_weights)
        grid = QGridLayout(box)
        for row, (key, text) in enumerate(
            ((BUILTIN, "Pretrained"), (RANDOM, "None (random start)"), (FILE, "From a file:"))
        ):
            button = QRadioButton(text)
            button.setObjectName(f"weights_{key}")
            self.weights_group.addButton(button, row)
            grid.addWidget(button, row, 0)
        grid.addWidget(self.weights_file, 2, 1)
        grid.addWidget(browse, 2, 2)
        grid.setColumnStretch(1, 1)
        self.weights_group.idToggled.connect(self._update)
        return box

    def _strategy_box(self) -> QGroupBox:
        box = QGroupBox("What to train")
        self.strategy_group = QButtonGroup(self)
        grid = QGridLayout(box)
        for row, key in enumerate(STRATEGIES):
            title, explanation = STRATEGY_TEXT[key]
            button = QRadioButton(title)
            button.setObjectName(f"strategy_{key}")
            button.setChecked(key == "head")
            self.strategy_group.addButton(button, row)
            grid.addWidget(button, row, 0)
            note = QLabel(explanation, wordWrap=True)
            note.setEnabled(False)
            grid.addWidget(note, row, 1)
        grid.setColumnStretch(1, 1)
        self.strategy_group.idToggled.connect(self._update)
        return box

    def initializePage(self) -> None:
        # A few stat() calls and the library's small JSON files: quick enough to do here.
        self.selector.set_choices(list_model_choices())
        self._update()

    def _browse_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Weights file", "", "Weights (*.pth *.pt *.th *.safetensors *.bin);;All (*)"
        )
        if path:
            self.weights_file.setText(path)
            self.set_weights(FILE)

    def set_model(self, name: str, weights: str = BUILTIN, strategy: str = "head") -> None:
        """Select a model, where its weights come from, and the strategy (tests, presets)."""
        self.selector.select_model(name)
        self.set_weights(weights)
        self.strategy_group.button(STRATEGIES.index(strategy)).setChecked(True)

    def set_weights(self, key: str) -> None:
        self.weights_group.button((BUILTIN, RANDOM, FILE).index(key)).setChecked(True)

    def weights_key(self) -> str:
        index = self.weights_group.checkedId()
        return (BUILTIN, RANDOM, FILE)[index] if index >= 0 else BUILTIN

    def strategy(self) -> str:
        return STRATEGIES[max(0, self.strategy_group.checkedId())]

    def _update(self, *_args: Any) -> None:
        choice = self.selector.current_choice()
        builtin = self.weights_group.button(0)
        builtin.setEnabled(choice is not None and choice.state != WeightsState.NEEDS_FILE)
        builtin.setText(_builtin_label(choice))
        if not builtin.isEnabled() and builtin.isChecked():
            self.set_weights(RANDOM)
        elif self.weights_group.checkedId() < 0:
            self.set_weights(BUILTIN if builtin.isEnabled() else RANDOM)
        self.weights_file.setEnabled(self.weights_key() == FILE)
        self.hint.setText(_model_hint(choice, self.weights_key(), self.strategy()))
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.selector.current_choice() is None:
            return False
        return self.weights_key() != FILE or Path(self.weights_file.text().strip()).is_file()

    def validatePage(self) -> bool:
        choice = self.selector.current_choice()
        if choice is None:
            return False
        key = self.weights_key()
        self.state.model_name = choice.name
        self.state.weights = {BUILTIN: None, RANDOM: "random"}.get(
            key, self.weights_file.text().strip()
        )
        self.state.strategy = self.strategy()
        self.state.preprocess = _preprocess_of(choice)
        return True

    def shutdown(self) -> None:
        """Nothing runs in the background here."""


def _builtin_label(choice: ModelChoice | None) -> str:
    if choice is None or choice.state == WeightsState.NEEDS_FILE:
        return "Pretrained (none built in)"
    if choice.state == WeightsState.LIBRARY:
        return "The library model's weights"
    cached = "cached" if choice.state == WeightsState.CACHED else "will be downloaded"
    return f"Pretrained on ImageNet ({cached})"


def _model_hint(choice: ModelChoice | None, weights: str, strategy: str) -> str:
    if choice is None:
        return ""
    spec = choice.spec
    text = f"Input {spec.preprocess.crop}×{spec.preprocess.crop} pixels."
    if choice.state == WeightsState.NEEDS_FILE:
        text += " This model has no built-in weights: bring a weights file or start from random."
    if weights == RANDOM and strategy != "full":
        text += " With random weights only 'Train every layer' learns useful features."
    return text


def _preprocess_of(choice: ModelChoice) -> Preprocess:
    """The library model's own preprocessing, or the architecture's."""
    if choice.state == WeightsState.LIBRARY:
        try:
            return ModelLibrary().get(choice.name).preprocess
        except LibraryError:
            pass  # damaged entry: loading it will report the problem
    return choice.spec.preprocess


# ------------------------------------------------------------------------------ 3. options


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


def _option_fields() -> list[_Field]:
    lr = _double(1e-6, 10.0, 6, 1e-4)
    lr.setStepType(QDoubleSpinBox.StepType.AdaptiveDecimalStepType)
    return [
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


class OptionsPage(QWizardPage):
    """Training settings, filled with the trainer's defaults for the chosen strategy.

    Device and precision start as ``runtime`` has them: the main window's choices.
    """

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
        self.val_percent.valueChanged.connect(self._show_split)
        self.split_label = QLabel()
        self.error = InlineError()
        restore = QPushButton("Restore defaults")
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
        separate_val = self.state.scan is not None and self.state.scan.val_root is not None
        self.val_percent.setEnabled(not separate_val)
        self._show_split()

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
