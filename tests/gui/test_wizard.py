"""The fine-tuning wizard, driven like a user: a tiny colour dataset and a CIFAR ResNet-20."""

from __future__ import annotations

import math
import os
import subprocess
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

from pathlib import Path

import pytest
import shiboken6
from PySide6.QtWidgets import QApplication, QMessageBox, QWizard

from resnet_desktop.app.finetune import FineTuneState, TrainingProgress
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.charts import LineChart, nice_ticks
from resnet_desktop.gui.wizard import FineTuneWizard
from resnet_desktop.gui.wizard.options_page import OptionsPage
from resnet_desktop.gui.wizard.review_page import name_problem
from resnet_desktop.gui.wizard.train_page import TrainPage, result_text

COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}
CLASSES = sorted(COLOURS)
TRAIN_TIMEOUT_MS = 120_000


def write_colour_dataset(root: Path, per_class: int = 12, classes: dict | None = None) -> Path:
    """One folder per colour of 32x32 PNGs: the colour plus seeded noise."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, rgb in (classes or COLOURS).items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            noisy = np.array(rgb) + rng.normal(0, 25, (32, 32, 3))
            pixels = np.clip(noisy, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:02d}.png")
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_colour_dataset(tmp_path / "colours")


@pytest.fixture
def wizard(qtbot):
    wizard = FineTuneWizard()
    qtbot.addWidget(wizard)
    wizard.show()
    yield wizard
    wizard.close()


def next_enabled(wizard: FineTuneWizard) -> bool:
    return wizard.button(QWizard.WizardButton.NextButton).isEnabled()


def scan(qtbot, wizard: FineTuneWizard, folder: Path) -> None:
    wizard.dataset_page.set_folders(folder)
    qtbot.waitUntil(lambda: not wizard.dataset_page.runner.running, timeout=30_000)


def to_model_page(qtbot, wizard: FineTuneWizard) -> None:
    """Next from the dataset page, then wait for the model list (read in a worker)."""
    wizard.next()
    assert wizard.currentPage() is wizard.model_page
    qtbot.waitUntil(lambda: not wizard.model_page.lister.running, timeout=10_000)


def start_training(qtbot, wizard: FineTuneWizard, dataset: Path, epochs: int) -> None:
    """Dataset → cifar_resnet20 from random weights, full training → options → train page."""
    scan(qtbot, wizard, dataset)
    to_model_page(qtbot, wizard)
    wizard.model_page.set_model("cifar_resnet20", "random", "full")
    wizard.next()
    wizard.options_page.set_value("epochs", epochs)
    wizard.options_page.set_value("device", "cpu")
    wizard.next()
    assert wizard.currentPage() is wizard.train_page
    assert wizard.train_page.runner.running


def save_page(wizard: FineTuneWizard, tmp_path: Path, name: str) -> None:
    image = wizard.grab()
    assert not image.isNull() and image.width() > 400
    assert image.save(str(tmp_path / f"wizard_{name}.png"))


def test_walk_through_trains_and_saves(qtbot, wizard, dataset, tmp_path):
    from resnet_desktop.core.library import ModelLibrary

    scan(qtbot, wizard, dataset)
    page = wizard.dataset_page
    assert page.counts.rowCount() == 3
    assert [page.counts.item(row, 1).text() for row in range(3)] == ["12", "12", "12"]
    assert page.gallery.thumbnails.rowCount() == 3 * 4
    qtbot.waitUntil(lambda: page.gallery.thumbnails.loaded_count() == 12, timeout=10_000)
    assert next_enabled(wizard)
    save_page(wizard, tmp_path, "1_dataset")

    to_model_page(qtbot, wizard)
    wizard.model_page.set_model("cifar_resnet20", "random", "full")
    assert not wizard.model_page.weights_group.button(0).isEnabled()  # no built-in weights
    save_page(wizard, tmp_path, "2_model")
    wizard.next()
    wizard.options_page.set_value("epochs", 3)
    wizard.options_page.set_value("device", "cpu")
    assert "training and" in wizard.options_page.split_label.text()
    save_page(wizard, tmp_path, "3_options")
    wizard.next()

    train = wizard.train_page
    qtbot.waitUntil(lambda: not train.runner.running, timeout=TRAIN_TIMEOUT_MS)
    assert not train.error.text()
    result = wizard.state.result
    assert result is not None and result.savable and not result.cancelled
    for chart in (train.loss_chart, train.accuracy_chart):
        assert [x for x, _ in chart.points("train")] == [1.0, 2.0, 3.0]
        assert [x for x, _ in chart.points("val")] == [1.0, 2.0, 3.0]
    assert train.log.toPlainText().count("Epoch ") == 3
    assert next_enabled(wizard)
    save_page(wizard, tmp_path, "4_train")

    wizard.next()
    review = wizard.review_page
    assert review.report_view.confusion.rowCount() == 3
    assert review.report_view.confusion.columnCount() == 3
    assert review.name_edit.text() == "colours-cifar_resnet20"  # the suggestion
    review.name_edit.setText("resnet50")
    assert "built-in" in review.name_error.text()
    assert not wizard.button(QWizard.WizardButton.FinishButton).isEnabled()
    review.name_edit.setText("my colours")
    assert not review.name_error.text()
    save_page(wizard, tmp_path, "5_review")

    with qtbot.waitSignal(wizard.modelSaved, timeout=30_000) as saved:
        wizard.button(QWizard.WizardButton.FinishButton).click()
    assert saved.args == ["my colours", True]
    assert not wizard.isVisible()
    model = ModelLibrary().get("my colours")
    assert model.class_names == tuple(CLASSES)
    assert model.architecture == "cifar_resnet20"
    assert len(model.training["history"]) == 3
    assert model.base_weights == "random"  # as the command line records it
    assert model.training["device"] == "cpu"


def test_one_class_folder_is_an_inline_error(qtbot, wizard, tmp_path):
    write_colour_dataset(tmp_path / "one", classes={"red": COLOURS["red"]})
    scan(qtbot, wizard, tmp_path / "one")
    page = wizard.dataset_page
    assert page.error.isVisible()
    assert "class" in page.error.text()
    assert wizard.state.scan is None
    assert not page.isComplete()
    assert not next_enabled(wizard)
    assert not [w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox)]


def test_missing_folder_is_an_inline_error(qtbot, wizard, tmp_path):
    wizard.dataset_page.set_folders(tmp_path / "nowhere")
    assert "does not exist" in wizard.dataset_page.error.text()
    assert not wizard.dataset_page.runner.running
    assert not next_enabled(wizard)


def test_warnings_unreadable_files_and_a_validation_folder(qtbot, wizard, dataset, tmp_path):
    (dataset / "red" / "broken.png").write_text("not a PNG", encoding="utf-8")
    val = write_colour_dataset(tmp_path / "val", per_class=2)
    wizard.dataset_page.set_folders(dataset, val)
    qtbot.waitUntil(lambda: wizard.state.scan is not None, timeout=30_000)
    page = wizard.dataset_page
    assert page.warnings.isVisible() and "unreadable" in page.warnings.text()
    assert "broken.png" in page.unreadable.toPlainText()
    assert page.tabs.tabText(1) == "Unreadable files (1)"
    to_model_page(qtbot, wizard)
    wizard.model_page.set_model("cifar_resnet20", "random", "head")
    wizard.next()
    options = wizard.options_page
    assert not options.val_percent.isEnabled()
    assert options.split_label.text().startswith("36 training and 6 validation images")
    assert not options.fields["augment"].widget.isEnabled()  # the head trains on fixed features


def test_a_new_folder_replaces_the_previous_scan(qtbot, wizard, dataset, tmp_path):
    scan(qtbot, wizard, dataset)
    assert wizard.state.scan is not None
    write_colour_dataset(tmp_path / "two", per_class=6, classes=dict(list(COLOURS.items())[:2]))
    wizard.dataset_page.folder_edit.setText(str(tmp_path / "two"))
    assert wizard.state.scan is None and not next_enabled(wizard)  # until the new scan is in
    qtbot.waitUntil(lambda: wizard.state.scan is not None, timeout=30_000)
    assert wizard.state.scan.class_names == ["green", "red"]


def test_stop_keeps_the_best_epoch(qtbot, wizard, dataset):
    start_training(qtbot, wizard, dataset, epochs=500)
    train = wizard.train_page
    qtbot.waitUntil(lambda: len(train.loss_chart.points("val")) >= 1, timeout=TRAIN_TIMEOUT_MS)
    train.stop_button.click()
    qtbot.waitUntil(lambda: not train.runner.running, timeout=TRAIN_TIMEOUT_MS)
    result = wizard.state.result
    assert result is not None and result.cancelled
    assert 1 <= len(result.history) < 500
    assert result.savable
    assert "Stopped after" in train.result_label.text()
    assert next_enabled(wizard)
    assert train.restart_button.isEnabled() and not train.stop_button.isEnabled()


def test_closing_mid_training_joins_the_worker(qtbot, wizard, dataset):
    start_training(qtbot, wizard, dataset, epochs=500)
    worker = wizard.train_page.runner.worker
    assert worker is not None
    qtbot.waitUntil(lambda: bool(wizard.train_page.status.text()), timeout=30_000)
    wizard.close()
    assert worker.isFinished()
    assert wizard.state.result is None  # the weights are not kept alive by a closed wizard


def test_a_bad_weights_file_is_shown_on_the_train_page(qtbot, wizard, dataset, tmp_path):
    scan(qtbot, wizard, dataset)
    to_model_page(qtbot, wizard)
    bogus = tmp_path / "bogus.pth"
    bogus.write_text("not a checkpoint", encoding="utf-8")
    wizard.model_page.set_model("cifar_resnet20", "file", "head")
    wizard.model_page.weights_file.setText(str(bogus))
    wizard.next()
    wizard.next()
    train = wizard.train_page
    qtbot.waitUntil(lambda: not train.runner.running, timeout=30_000)
    assert train.error.isVisible() and "bogus.pth" in train.error.text()
    assert wizard.state.result is None and not next_enabled(wizard)
    assert train.restart_button.isEnabled()


def test_result_text_says_what_is_kept():
    from resnet_desktop.core.trainer import EpochReport, FitResult, TrainConfig
    from resnet_desktop.core.zoo import SPECS

    epoch = EpochReport(1, 5, 1.0, 0.5, 0.9, 0.75, 0.01, 1.0, 10.0, 8, True)
    result = FitResult(
        "cifar_resnet20",
        "random",
        CLASSES,
        SPECS["cifar_resnet20"].preprocess,
        TrainConfig(),
        history=[epoch],
        best_epoch=1,
        state_dict={},
    )
    assert result_text(result) == "Done: the best epoch (1, validation accuracy 75.0%) is kept."
    result.error = "the loss became NaN in epoch 2; lower the learning rate"
    assert result_text(result).startswith("Training ended early: the loss became NaN")
    result.state_dict, result.best_epoch = None, None
    assert result_text(result).startswith("Nothing to save: the loss became NaN")


def test_back_from_training_stops_the_run(qtbot, wizard, dataset):
    start_training(qtbot, wizard, dataset, epochs=500)
    worker = wizard.train_page.runner.worker
    wizard.back()
    assert worker.should_stop()  # asked at once; Back does not wait for the batch
    assert wizard.currentPage() is wizard.options_page
    assert wizard.state.result is None and not wizard.train_page.runner.running
    qtbot.waitUntil(lambda: not shiboken6.isValid(worker), timeout=30_000)  # ended, deleted
    assert wizard.state.result is None  # nothing arrived from the abandoned run


def test_model_page_weights_choices(qtbot, wizard, tmp_path):
    page = wizard.model_page
    page.initializePage()
    qtbot.waitUntil(lambda: not page.lister.running, timeout=10_000)
    page.set_model("resnet18")
    assert page.weights_group.button(0).isEnabled()
    assert "ImageNet" in page.weights_group.button(0).text()
    page.set_model("cifar_resnet20", "file")
    assert not page.isComplete()  # no file chosen
    weights = tmp_path / "w.pth"
    weights.write_bytes(b"x")
    page.weights_file.setText(str(weights))
    assert page.isComplete()
    assert page.validatePage()
    assert wizard.state.weights == str(weights)
    assert wizard.state.preprocess.crop == 32


def test_the_model_list_is_read_in_a_worker(qtbot, wizard, monkeypatch):
    import threading

    from resnet_desktop.gui.wizard import model_page

    threads: list[threading.Thread] = []
    original = model_page.list_model_choices

    def listing():
        threads.append(threading.current_thread())
        return original()

    monkeypatch.setattr(model_page, "list_model_choices", listing)
    page = wizard.model_page
    page.initializePage()
    assert not threads or threads[0] is not threading.main_thread()
    assert not page.isComplete() and "Looking for models" in page.hint.text()
    qtbot.waitUntil(lambda: not page.lister.running, timeout=10_000)
    assert threads and threads[0] is not threading.main_thread()
    assert page.isComplete() and "Looking" not in page.hint.text()


def test_next_takes_a_library_models_preprocessing_without_reading_it(qtbot, wizard, monkeypatch):
    """The lister's worker read the library model's JSON; Next, on the GUI thread, reads
    no model metadata from disk, yet the wizard trains with the model's own preprocessing."""
    import threading

    from resnet_desktop.core import library
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import Preprocess, get_spec

    spec = get_spec("cifar_resnet20")
    own = Preprocess(40, 48, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6))
    assert own != spec.preprocess
    network = build_network(spec, 2)
    library.ModelLibrary().add("mine", spec.name, network.state_dict(), ["a", "b"], own)
    reads: list[threading.Thread] = []
    original = library.ModelLibrary._read

    def reading(self, path):
        reads.append(threading.current_thread())
        return original(self, path)

    monkeypatch.setattr(library.ModelLibrary, "_read", reading)
    page = wizard.model_page
    page.initializePage()
    qtbot.waitUntil(lambda: not page.lister.running, timeout=10_000)
    assert reads and threading.main_thread() not in reads  # listed in the worker
    page.set_model("mine")
    assert page.validatePage()
    assert wizard.state.preprocess == own
    assert threading.main_thread() not in reads  # Next read nothing on the GUI thread


def strategy_of(page) -> str:
    return page.strategy()


def test_a_random_start_trains_every_layer_by_default(qtbot, wizard):
    page = wizard.model_page
    page.initializePage()
    qtbot.waitUntil(lambda: not page.lister.running, timeout=10_000)
    page.selector.select_model("resnet18")
    assert (page.weights_key(), page.strategy()) == ("builtin", "head")
    page.weights_group.button(1).click()  # None (random start)
    assert (page.weights_key(), page.strategy()) == ("random", "full")
    assert "only 'Train every layer'" not in page.hint.text()  # the advice is followed
    page.strategy_group.button(0).click()  # the user insists on the classifier only
    assert "only 'Train every layer' learns" in page.hint.text()  # ... and is warned
    page.selector.select_model("cifar_resnet20")  # no pretrained weights: random, so full
    assert (page.weights_key(), page.strategy()) == ("random", "full")
    page.selector.select_model("resnet34")  # pretrained again: its own default start
    assert (page.weights_key(), page.strategy()) == ("builtin", "head")


def test_every_option_has_a_tooltip(qtbot, wizard):
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit

    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit)
    for page in (wizard.model_page, wizard.options_page):
        inputs = [w for kind in kinds for w in page.findChildren(kind)]
        inputs = [w for w in inputs if not isinstance(w.parent(), (QAbstractSpinBox, QComboBox))]
        assert len(inputs) >= 4
        untipped = [f"{type(w).__name__} {getattr(w, 'text', str)()!r}" for w in inputs
                    if not w.toolTip()]  # fmt: skip
        assert not untipped, f"{type(page).__name__}: {untipped}"


def test_keyboard_focus_starts_in_the_first_field_of_each_page(qtbot, wizard, dataset):
    from PySide6.QtWidgets import QApplication

    wizard.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.dataset_page.folder_edit)
    scan(qtbot, wizard, dataset)
    to_model_page(qtbot, wizard)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.model_page.selector)
    wizard.model_page.set_model("cifar_resnet20", "random", "full")  # nothing to download
    wizard.model_page.selector.setFocus()
    wizard.next()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.options_page.val_percent)
    wizard.back()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is wizard.model_page.selector)


def test_nested_class_folders_are_a_warning_on_the_dataset_page(qtbot, wizard, tmp_path):
    write_colour_dataset(tmp_path / "photos" / "train", per_class=5)
    write_colour_dataset(tmp_path / "photos" / "val", per_class=2)
    scan(qtbot, wizard, tmp_path / "photos")
    page = wizard.dataset_page
    assert wizard.state.scan is not None and wizard.state.scan.class_names == ["train", "val"]
    assert page.warnings.isVisible()
    first = page.warnings.text().splitlines()[0]
    assert "sub-folders of images: train (blue, green, red)" in first
    assert str(tmp_path / "photos" / "train") in first


class FakeBox:
    """Stands in for the question box: records the question, answers as told."""

    def __init__(self, answer):
        self.answer, self.asked = answer, []

    def __call__(self, parent, text):
        self.asked.append(text)
        box = QMessageBox(parent)
        box.setStandardButtons(
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        box.exec = lambda: box.button(self.answer).click()
        return box


def savable_result():
    from resnet_desktop.core.trainer import EpochReport, FitResult, TrainConfig
    from resnet_desktop.core.zoo import SPECS

    epoch = EpochReport(1, 5, 1.0, 0.5, 0.9, 0.75, 0.01, 1.0, 10.0, 8, True)
    return FitResult(
        "cifar_resnet20",
        "random",
        CLASSES,
        SPECS["cifar_resnet20"].preprocess,
        TrainConfig(),
        history=[epoch],
        best_epoch=1,
        state_dict={},
    )


def test_cancel_asks_before_throwing_a_trained_model_away(qtbot, wizard):
    keep = FakeBox(QMessageBox.StandardButton.Cancel)
    wizard.ask_discard = keep
    cancel = wizard.button(QWizard.WizardButton.CancelButton)
    assert wizard.should_close() and not keep.asked  # nothing trained: no question
    wizard.state.result = savable_result()
    cancel.click()
    assert keep.asked == ["The trained model has not been saved. Close the wizard and discard it?"]
    assert wizard.isVisible() and wizard.state.result is not None  # kept
    discard = FakeBox(QMessageBox.StandardButton.Discard)
    wizard.ask_discard = discard
    cancel.click()
    assert len(discard.asked) == 1 and not wizard.isVisible()
    assert wizard.state.result is None


def test_the_default_question_keeps_the_model_on_enter(qtbot, wizard):
    from resnet_desktop.gui.wizard.fine_tune_wizard import discard_box

    box = discard_box(wizard, "The trained model has not been saved.")
    qtbot.addWidget(box)
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Cancel)
    assert box.button(QMessageBox.StandardButton.Cancel).text() == "Keep Working"
    assert box.button(QMessageBox.StandardButton.Discard) is not None


def test_cancel_while_training_asks_too(qtbot, wizard, dataset):
    start_training(qtbot, wizard, dataset, epochs=500)
    keep = FakeBox(QMessageBox.StandardButton.Cancel)
    wizard.ask_discard = keep
    wizard.reject()
    assert keep.asked and keep.asked[0].startswith("Training is still running")
    assert wizard.isVisible() and wizard.train_page.runner.running


def test_options_start_from_the_window_runtime(qtbot):
    from resnet_desktop.core.zoo import SPECS

    state = FineTuneState(strategy="head", preprocess=SPECS["cifar_resnet20"].preprocess)
    page = OptionsPage(state, RuntimeOptions("cpu", "bf16", "openvino", 8))
    qtbot.addWidget(page)
    page.initializePage()
    assert page.fields["device"].widget.currentText() == "cpu"
    page.set_value("precision", "fp32")
    assert page.config().runtime == RuntimeOptions("cpu", "fp32", "openvino", 8)
    page.restore_defaults()
    assert page.config().runtime.precision == "bf16"


def test_options_restore_defaults(qtbot):
    from resnet_desktop.core.trainer import default_config
    from resnet_desktop.core.zoo import SPECS

    preprocess = SPECS["cifar_resnet20"].preprocess
    state = FineTuneState(strategy="full", preprocess=preprocess)
    page = OptionsPage(state)
    qtbot.addWidget(page)
    page.initializePage()
    defaults = default_config("full", preprocess)
    assert page.config() == defaults
    page.set_value("epochs", 7)
    page.set_value("lr", 0.0005)
    page.set_value("optimizer", "adamw")
    assert (page.config().epochs, page.config().lr, page.config().optimizer) == (7, 0.0005, "adamw")
    assert page.fields["lr"].widget.text() == "0.0005"
    page.restore_defaults()
    assert page.config() == defaults
    assert page.validatePage()
    assert state.config == defaults
    assert "no dataset" in page.split_label.text()


def test_name_rules():
    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    assert name_problem("ok name") == ""
    assert "built-in" in name_problem("ResNet50")
    assert name_problem("a/b")
    assert name_problem("")
    spec = get_spec("cifar_resnet20")
    network = build_network(spec, 2)
    ModelLibrary().add("taken", spec.name, network.state_dict(), ["a", "b"], spec.preprocess)
    assert "already exists" in name_problem("taken")


def test_train_page_shows_each_kind_of_event(qtbot):
    from resnet_desktop.core.events import Status
    from resnet_desktop.core.trainer import BatchProgress, Phase, Stage, StageProgress

    page = TrainPage(FineTuneState())
    qtbot.addWidget(page)
    page._on_item(Status("Loading the base model…"))
    assert page.status.text() == "Loading the base model…"
    page._on_item(StageProgress(Stage.CACHING_FEATURES, 3, 10))
    assert page.status.text() == "Caching features: 3 / 10"
    page._progress = TrainingProgress(epochs=1, train=80, val=20)
    page._on_item(BatchProgress(1, 1, Phase.TRAIN, 10, 80, 0.5, 10.0, 5.0))
    assert "training 10/80" in page.status.text()
    assert page.status.text().endswith("estimating time left…")
    page._on_item(BatchProgress(1, 1, Phase.TRAIN, 12, 80, 0.5, 10.0, 5.5))
    assert page.status.text().endswith("estimating time left…")  # 2 images in 0.5 s: too soon
    page._on_item(BatchProgress(1, 1, Phase.TRAIN, 30, 80, 0.5, 10.0, 9.0))
    assert page.status.text().endswith("5 images/s · about 0:14 left")  # 20 in 4 s, 70 to go
    with pytest.raises(AssertionError, match="unknown event 'a bare string'"):
        page._on_item("a bare string")


def test_dataset_page_fails_on_an_unknown_event(qtbot, wizard):
    with pytest.raises(AssertionError, match="unknown event"):
        wizard.dataset_page._on_item("Listing files")


def test_the_wizard_and_the_evaluate_dialog_load_without_torch():
    """torch loads when a page needs the trainer, not when the window imports the dialogs."""
    code = (
        "import sys, resnet_desktop.gui.wizard, resnet_desktop.gui.evaluate_dialog; "
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_nice_ticks():
    assert nice_ticks(0, 1) == [0.0, 0.5, 1.0]
    assert nice_ticks(0, 1, max_ticks=6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0.13, 2.71) == [1.0, 2.0]
    assert nice_ticks(1, 300, max_ticks=8) == [50.0 * i for i in range(7)][1:]
    assert nice_ticks(1, 1)  # a flat range still gets ticks
    assert nice_ticks(0, math.nan) == []


def test_chart_skips_non_finite_values(qtbot):
    chart = LineChart("Loss")
    qtbot.addWidget(chart)
    chart.add_series("train", "training", chart.palette().text().color())
    for x, y in ((1, 1.0), (2, math.nan), (3, math.inf), (4, 0.5)):
        chart.append("train", x, y)
    chart.resize(400, 250)
    assert not chart.grab().isNull()  # paints without raising
    assert len(chart.points("train")) == 4
    chart.clear()
    assert chart.points("train") == []
