"""The status bar tells the truth, Preferences hold the runtime choices, a small window stays
usable, Help shows the guide and the real shortcuts, and closing asks the wizard first."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTextBrowser,
    QToolBar,
    QWidget,
)

from resnet_desktop.app.identity import identity_for
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog import Catalog, RunInfo
from resnet_desktop.core.device import Hardware
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.settings import load_settings
from resnet_desktop.core.zoo import SPECS
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.preferences import PreferencesDialog
from resnet_desktop.gui.side_panel import TABLE_MIN_WIDTH
from resnet_desktop.gui.wizard import FineTuneWizard
from tests.gui.imagefiles import write_noise_images
from tests.gui.test_main_window import (
    RUN_TIMEOUT_MS,
    action,
    add_and_wait,
    classify_and_wait,
    set_runtime,
)

CIFAR = SPECS["cifar_resnet20"].preprocess
CPU_ONLY = Hardware(("cpu",))
CUDA_NO_BF16 = Hardware(("cuda", "cpu"), cuda_bf16=False)


def offered(combo: QComboBox) -> list[str]:
    return [combo.itemData(n) for n in range(combo.count())]


def wait_for_hardware(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: window.runtime is not None, timeout=60_000)


# --- the status bar -----------------------------------------------------------------------


def test_clear_list_leaves_no_count_of_before_on_the_bar(qtbot, window: MainWindow, tmp_path):
    write_noise_images(tmp_path, 3)
    add_and_wait(qtbot, window, [tmp_path])
    assert window.status.progress.text() == "3 images"
    action(window, "actionClearList").trigger()
    qtbot.waitUntil(lambda: len(window.results) == 0, timeout=5000)
    assert window.status.counts_label.text().startswith("0 images")
    assert "3" not in window.status.progress.text()


def test_stop_is_said_on_the_bar_and_replaced_by_stopped(qtbot, window: MainWindow, tmp_path):
    write_noise_images(tmp_path, 64, size=48)
    add_and_wait(qtbot, window, [tmp_path])
    set_runtime(window, batch_size=4)
    seen: list[str] = []

    def stop_after_first(_batch) -> None:
        if not seen:
            action(window, "actionStop").trigger()
            seen.append(window.status.progress.text())

    window.batchClassified.connect(stop_after_first)
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        action(window, "actionClassify").trigger()
    assert finished.args == [False]
    assert seen == ["Stopping…"]
    assert window.status.progress.text() == "Stopped"
    assert "Stopping" not in window.statusBar().currentMessage()


def test_the_device_field_shows_what_the_current_choices_run_as(qtbot, window: MainWindow):
    wait_for_hardware(qtbot, window)
    label = window.status.device_label
    set_runtime(window, device="cpu", precision="fp32", engine="torch", batch_size=None)
    assert label.text() == "Device: cpu (fp32, PyTorch, batch 256)"  # a 32x32 model
    set_runtime(window, batch_size=7)
    assert label.text() == "Device: cpu (fp32, PyTorch, batch 7)"
    set_runtime(window, precision="bf16")
    assert label.text() == "Device: cpu (bf16, PyTorch, batch 7)"


def test_a_long_message_gets_the_room_of_the_fields_shown_elsewhere(qtbot, window: MainWindow):
    window.resize(700, 420)
    qtbot.waitUntil(lambda: window.statusBar().width() <= 700)
    status = window.status
    window.statusBar().showMessage("x" * 20)
    assert status.counts_label.isVisible() and status.progress.isVisible()
    long = "All 281 images are up to date for this model; Classify Again computes them anew"
    window.statusBar().showMessage(long)
    assert not status.catalog_label.isVisible() and not status.model_label.isVisible()
    assert status.counts_label.isVisible() and window.statusBar().toolTip() == long
    window.statusBar().clearMessage()
    window.resize(1200, 420)
    qtbot.waitUntil(lambda: status.catalog_label.isVisible(), timeout=5000)
    assert status.model_label.isVisible() and status.device_label.isVisible()


# --- classifying again after a change of runtime -------------------------------------------


def test_a_new_precision_is_explained_and_classify_again_runs_it(
    qtbot, window: MainWindow, tmp_path: Path, tiny_model: str
):
    write_noise_images(tmp_path, 3)
    add_and_wait(qtbot, window, [tmp_path])
    set_runtime(window, device="cpu", precision="fp32", engine="torch")
    assert classify_and_wait(qtbot, window)[-1].total == 3

    set_runtime(window, precision="bf16")
    assert classify_and_wait(qtbot, window) == []  # up to date: nothing computed
    offer = window.findChild(QMessageBox, "redoOffer")
    assert offer is not None and offer.isVisible()
    assert "cpu (fp32, PyTorch)" in offer.text() and "cpu (bf16, PyTorch)" in offer.text()
    again = next(b for b in offer.findChildren(QPushButton) if b.text() == "Classify Again")
    batches: list = []
    window.batchClassified.connect(batches.append)
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS):
        again.click()
    assert batches[-1].total == 3 and {p.path for b in batches for p in b.predictions} == set(
        tmp_path.iterdir()
    )
    with Catalog.open(app_paths.catalog_path()) as catalog:
        runs = catalog.runs(catalog.find_model(identity_for(tiny_model)))
    assert runs == {RunInfo("cpu", "bf16", "torch")}

    assert classify_and_wait(qtbot, window) == []  # same choices as the results: no question
    assert "up to date" in window.statusBar().currentMessage()
    assert len(window.findChildren(QMessageBox, "redoOffer")) <= 1


def test_classify_again_recomputes_every_image(qtbot, window: MainWindow, tmp_path: Path):
    action(window, "actionClassifyAgain").trigger()
    assert "Add images first" in window.statusBar().currentMessage()
    write_noise_images(tmp_path, 4)
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    batches: list = []
    window.batchClassified.connect(batches.append)
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS):
        action(window, "actionClassifyAgain").trigger()
        assert not action(window, "actionClassifyAgain").isEnabled()  # one run at a time
    assert batches and batches[-1].total == 4
    assert action(window, "actionClassifyAgain").isEnabled()


# --- Preferences ----------------------------------------------------------------------------


def test_the_toolbar_keeps_model_top_k_and_classify_only(window: MainWindow):
    toolbar = window.findChild(QToolBar, "mainToolBar")
    inside = {w.objectName() for w in toolbar.findChildren(QWidget) if w.objectName()}
    assert {"modelSelector", "topKSpin"} <= inside
    jargon = {"deviceSelector", "precisionSelector", "engineSelector", "batchSizeSpin"}
    assert not inside & jargon
    assert {a.objectName() for a in toolbar.actions()} >= {"actionClassify", "actionStop"}


def test_preferences_never_offer_what_cannot_run(qtbot):
    dialog = PreferencesDialog(RuntimeOptions(precision="fp16"), CPU_ONLY, CIFAR)
    qtbot.addWidget(dialog)
    assert offered(dialog.device_box) == ["auto", "cpu"]
    assert "fp16" not in offered(dialog.precision_box)
    assert dialog.precision_box.currentData() == "auto"  # the saved fp16 cannot run here

    gpu = PreferencesDialog(RuntimeOptions(device="cuda"), CUDA_NO_BF16, CIFAR)
    qtbot.addWidget(gpu)
    assert offered(gpu.precision_box) == ["auto", "fp32", "fp16"]  # no bf16 on this GPU
    assert "openvino" not in offered(gpu.engine_box)  # OpenVINO runs on the CPU only
    gpu.precision_box.setCurrentIndex(gpu.precision_box.findData("fp16"))
    gpu.device_box.setCurrentIndex(gpu.device_box.findData("cpu"))
    assert "fp16" not in offered(gpu.precision_box)
    assert gpu.runtime().precision == "auto"


def test_preferences_say_what_classify_will_run_as(qtbot):
    dialog = PreferencesDialog(RuntimeOptions(), CPU_ONLY, CIFAR)
    qtbot.addWidget(dialog)
    dialog.precision_box.setCurrentIndex(dialog.precision_box.findData("fp32"))
    dialog.engine_box.setCurrentIndex(dialog.engine_box.findData("torch"))
    dialog.batch_spin.setValue(12)
    assert dialog.summary.text() == "Classify will run as: cpu (fp32, PyTorch, batch 12)"
    assert dialog.runtime() == RuntimeOptions("auto", "fp32", "torch", 12)
    for widget in (dialog.device_box, dialog.precision_box, dialog.engine_box, dialog.batch_spin):
        assert len(widget.toolTip()) > 40  # plain words on every choice


def test_accepted_preferences_apply_and_are_saved_at_once(qtbot, window: MainWindow):
    wait_for_hardware(qtbot, window)
    action(window, "actionPreferences").trigger()
    dialog = window.findChild(PreferencesDialog)
    assert dialog is not None and dialog.isVisible()
    assert action(window, "actionPreferences").shortcut().toString() == "Ctrl+,"
    dialog.device_box.setCurrentIndex(dialog.device_box.findData("cpu"))
    dialog.precision_box.setCurrentIndex(dialog.precision_box.findData("bf16"))
    dialog.engine_box.setCurrentIndex(dialog.engine_box.findData("torch"))
    dialog.batch_spin.setValue(24)
    dialog.accept()
    assert window.options.runtime() == RuntimeOptions("cpu", "bf16", "torch", 24)
    saved = load_settings()
    assert (saved.device, saved.precision, saved.engine, saved.batch_size) == (
        "cpu",
        "bf16",
        "torch",
        24,
    )
    assert window.status.device_label.text() == "Device: cpu (bf16, PyTorch, batch 24)"


# --- a small window ---------------------------------------------------------------------------


def test_a_small_window_keeps_the_table_and_classify(qtbot, window: MainWindow):
    window.resize(640, 420)
    qtbot.waitUntil(lambda: window.width() == 640)
    assert window.splitter.sizes()[1] == 0  # the side panel folded away first
    assert window.pane.width() >= TABLE_MIN_WIDTH
    toolbar = window.findChild(QToolBar, "mainToolBar")
    button = toolbar.widgetForAction(action(window, "actionClassify"))
    assert button.isVisible() and toolbar.rect().contains(button.geometry())

    window.resize(790, 420)
    qtbot.waitUntil(lambda: window.splitter.sizes()[1] > 0, timeout=5000)
    assert window.pane.width() >= TABLE_MIN_WIDTH


# --- Help -------------------------------------------------------------------------------------


def test_the_user_guide_shows_the_usage_section(qtbot, window: MainWindow):
    action(window, "actionUserGuide").trigger()
    dialog = window.findChild(QDialog, "userGuide")
    assert dialog is not None and dialog.isVisible()
    text = dialog.findChild(QTextBrowser).toPlainText()
    assert text.startswith("Using the app") and "Classify Again" in text
    assert "## " not in text  # rendered, not shown as Markdown source


def test_the_shortcut_list_comes_from_the_actions(qtbot, window: MainWindow):
    extra = QAction("&Frobnicate…", window)
    extra.setShortcut("Ctrl+Alt+J")
    window.addAction(extra)
    action(window, "actionShortcuts").trigger()
    table = window.findChild(QTableWidget, "shortcutTable")
    assert table is not None and table.isVisible()
    rows = {table.item(n, 0).text(): table.item(n, 1).text() for n in range(table.rowCount())}
    assert rows["Classify"] == "F5, Ctrl+R"
    assert rows["Classify Again"] == "Ctrl+Shift+R"
    assert rows["Preferences"] == "Ctrl+,"
    assert rows["Frobnicate"] == "Ctrl+Alt+J"
    assert "Clear List" not in rows  # no keys, not listed


# --- closing ----------------------------------------------------------------------------------


class Answer:
    """Stands in for the wizard's question box and answers as told."""

    def __init__(self, button: QMessageBox.StandardButton) -> None:
        self.button, self.asked = button, 0

    def __call__(self, parent: QWidget, text: str) -> QMessageBox:
        self.asked += 1
        box = QMessageBox(parent)
        box.setStandardButtons(
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        )
        box.exec = lambda: box.button(self.button).click()
        return box


def test_closing_the_window_respects_the_wizard_keeping_its_model(
    qtbot, window: MainWindow, monkeypatch
):
    action(window, "actionFineTune").trigger()
    wizard = window.findChild(FineTuneWizard)
    assert wizard is not None and wizard.isVisible()
    monkeypatch.setattr(wizard, "unsaved_work", lambda: "The trained model has not been saved.")
    keep = Answer(QMessageBox.StandardButton.Cancel)
    wizard.ask_discard = keep
    assert not window.close()
    assert keep.asked == 1 and window.isVisible() and wizard.isVisible()

    discard = Answer(QMessageBox.StandardButton.Discard)
    wizard.ask_discard = discard
    assert window.close()
    assert discard.asked == 1 and not window.isVisible() and not wizard.isVisible()
