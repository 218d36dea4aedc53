"""The wizard's second page: the base network, its starting weights, what to train.

Its defaults follow its own advice: each model starts from its pretrained weights when it
has some, and a random start trains every layer. ImageNet weights that are not cached are
downloaded here, when Next is clicked: offline, the page says so and offers the other
starts, rather than letting the user reach training and fail there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
    QWizardPage,
)

from resnet_desktop.app.finetune import FineTuneState
from resnet_desktop.app.getting_started import DOWNLOAD_MB
from resnet_desktop.app.models import ModelChoice, WeightsState, list_model_choices
from resnet_desktop.core.errors import REMEDY_NO_WEIGHTS, REMEDY_WEIGHTS_FILE
from resnet_desktop.core.train_config import STRATEGIES
from resnet_desktop.core.weights import ensure_imagenet_weights
from resnet_desktop.core.zoo import ModelSpec
from resnet_desktop.gui.model_selector import ModelSelector
from resnet_desktop.gui.widgets import InlineError
from resnet_desktop.gui.workers import JobRunner

MEGABYTE = 1 << 20

BUILTIN, RANDOM, FILE = "builtin", "random", "file"
WEIGHTS_TEXT = {
    BUILTIN: (
        "Pretrained",
        "Start from weights that already recognise images: ImageNet's for a built-in "
        "network, its own for a model of your library. The best start for most photos.",
    ),
    RANDOM: (
        "None (random start)",
        "Start from random numbers: the network learns everything from your images. "
        "Needs many images, and training every layer.",
    ),
    FILE: (
        "From a file:",
        "Start from weights saved in a file (.pth, .safetensors…) for the same network.",
    ),
}
# The ways out of missing weights, in this page's words (the window's menu is out of reach).
_OTHER_STARTS = f"below with “{WEIGHTS_TEXT[FILE][0]}”, or start from “{WEIGHTS_TEXT[RANDOM][0]}”"
WIZARD_REMEDIES = {
    REMEDY_WEIGHTS_FILE: f"or choose it {_OTHER_STARTS}",
    REMEDY_NO_WEIGHTS: f"so choose one {_OTHER_STARTS}",
}
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


class ModelPage(QWizardPage):
    """The base network, where its starting weights come from, and how much of it to train.

    Signals:
        downloaded(int, int): bytes of ImageNet weights downloaded so far, and in all (0:
            unknown); emitted from the download's thread, shown on the GUI thread.
    """

    downloaded = Signal(int, int)

    def __init__(self, state: FineTuneState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.setTitle("Base model and strategy")
        self.setSubTitle("Start from a network that already knows images, then adapt it.")
        self.lister = JobRunner(self)
        self.lister.item.connect(self.selector_choices)
        self.lister.failed.connect(self._on_list_failed)
        self.lister.finished.connect(self._update)
        self._model: str | None = None  # the model whose default weights were last set
        self._list_error = ""
        self._next_when_listed = False  # weights were just downloaded: go on once re-listed
        self.fetcher = JobRunner(self, WIZARD_REMEDIES)
        self.fetcher.failed.connect(self._fetch_failed)
        self.fetcher.finished.connect(self._fetched)
        self.downloaded.connect(self._show_download)
        self.error = InlineError(self)
        self.selector = ModelSelector()
        self.selector.setToolTip(
            "The network to start from: a built-in architecture, or a model of your library "
            "to train further"
        )
        self.selector.currentIndexChanged.connect(self._update)
        self.hint = QLabel(wordWrap=True)
        form = QFormLayout()
        form.addRow("Model:", self.selector)
        form.addRow("", self.hint)
        form.addRow("", self.error)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self._weights_box())
        layout.addWidget(self._strategy_box())
        layout.addStretch(1)

    def _weights_box(self) -> QGroupBox:
        box = QGroupBox("Starting weights")
        self.weights_group = QButtonGroup(self)
        self.weights_file = QLineEdit(placeholderText="A .pth / .safetensors file for this model")
        self.weights_file.setToolTip("The weights file to start from")
        self.weights_file.textChanged.connect(self._update)
        browse = QPushButton("Browse…", toolTip="Choose the weights file")
        browse.clicked.connect(self._browse_weights)
        grid = QGridLayout(box)
        for row, (key, (text, tip)) in enumerate(WEIGHTS_TEXT.items()):
            button = QRadioButton(text, toolTip=tip)
            button.setObjectName(f"weights_{key}")
            self.weights_group.addButton(button, row)
            grid.addWidget(button, row, 0)
        grid.addWidget(self.weights_file, 2, 1)
        grid.addWidget(browse, 2, 2)
        grid.setColumnStretch(1, 1)
        self.weights_group.idToggled.connect(self._weights_toggled)
        return box

    def _strategy_box(self) -> QGroupBox:
        box = QGroupBox("What to train")
        self.strategy_group = QButtonGroup(self)
        grid = QGridLayout(box)
        for row, key in enumerate(STRATEGIES):
            title, explanation = STRATEGY_TEXT[key]
            button = QRadioButton(title, toolTip=explanation)
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
        """List the models in a worker: it reads the torch hub cache and the library."""
        self._list_error = ""
        self.lister.start(lambda _stop: [list_model_choices()])
        self._update()

    def selector_choices(self, choices: list[ModelChoice]) -> None:
        self.selector.set_choices(choices)
        choice = self.selector.current_choice()
        if self._next_when_listed and choice is not None and choice.ready:
            self._next_when_listed = False
            self.wizard().next()

    def _on_list_failed(self, message: str) -> None:
        self._list_error = f"Could not list the models: {message}. "

    def first_field(self) -> QWidget:
        return self.selector

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

    def _weights_toggled(self, _id: int, checked: bool) -> None:
        if checked:
            self._suggest_strategy()
        self._update()

    def _suggest_strategy(self) -> None:
        """The strategy that suits the start: a random start trains every layer."""
        strategy = "full" if self.weights_key() == RANDOM else "head"
        self.strategy_group.button(STRATEGIES.index(strategy)).setChecked(True)

    def _update(self, *_args: Any) -> None:
        choice = self.selector.current_choice()
        builtin = self.weights_group.button(0)
        builtin.setEnabled(choice is not None and choice.state != WeightsState.NEEDS_FILE)
        builtin.setText(_builtin_label(choice))
        if choice is not None and choice.name != self._model:
            self._model = choice.name  # another model: its own default start and strategy
            if self.weights_key() != FILE:
                self.set_weights(BUILTIN if builtin.isEnabled() else RANDOM)
            self._suggest_strategy()
        elif not builtin.isEnabled() and builtin.isChecked():
            self.set_weights(RANDOM)
        self.weights_file.setEnabled(self.weights_key() == FILE)
        if not self.fetcher.running:  # else the hint shows the download's progress
            self.hint.setText(
                "Looking for models and their weights…"
                if self.lister.running
                else self._list_error + _model_hint(choice, self.weights_key(), self.strategy())
            )
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        if self.lister.running or self.fetcher.running or self.selector.current_choice() is None:
            return False
        return self.weights_key() != FILE or Path(self.weights_file.text().strip()).is_file()

    def validatePage(self) -> bool:
        choice = self.selector.current_choice()
        if choice is None:
            return False
        key = self.weights_key()
        if key == BUILTIN and choice.state == WeightsState.DOWNLOAD:
            self._download(choice.spec)  # Next again once the weights are on disk
            return False
        self.state.model_name = choice.name
        self.state.weights = {BUILTIN: None, RANDOM: "random"}.get(
            key, self.weights_file.text().strip()
        )
        self.state.strategy = self.strategy()
        self.state.preprocess = choice.preprocess  # read by the lister: no disk read here
        return True

    def shutdown(self) -> None:
        self.lister.shutdown()
        self.fetcher.shutdown()

    # --- the base model's ImageNet weights ---------------------------------------------

    def _download(self, spec: ModelSpec) -> None:
        self.error.clear()
        self.hint.setText(f"Downloading the ImageNet weights of {spec.title}…")
        self.fetcher.start(lambda stop: [ensure_imagenet_weights(spec, self.downloaded.emit, stop)])
        self._update()

    def _show_download(self, done: int, total: int) -> None:
        if self.fetcher.running:
            of = f" of {total / MEGABYTE:.1f} MB" if total else " MB"
            self.hint.setText(f"Downloading the ImageNet weights… {done / MEGABYTE:.1f}{of}")

    def _fetch_failed(self, message: str) -> None:
        self.error.setText(message)

    def _fetched(self, completed: bool) -> None:
        if completed:  # re-read the weights' states; Next goes on once they say cached
            self._next_when_listed = True
            self.lister.start(lambda _stop: [list_model_choices()])
        self._update()


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
    if choice.state == WeightsState.DOWNLOAD and weights == BUILTIN:
        size = DOWNLOAD_MB.get(spec.name)
        text += f" Next downloads its ImageNet weights first ({size:.0f} MB)." if size else ""
    if weights == RANDOM and strategy != "full":
        text += " With random weights only 'Train every layer' learns useful features."
    return text
