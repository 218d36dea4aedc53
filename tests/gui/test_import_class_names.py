"""Model → Import Weights File…: works whatever model is selected, and names the classes."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel

from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.gui.class_names_dialog import ClassNamesDialog
from resnet_desktop.gui.main_window import MainWindow
from tests.gui.test_main_window import action

TIMEOUT_MS = 60_000
FIVE = ["apple", "pear", "plum", "fig", "kiwi"]


@pytest.fixture
def five_class_weights(tmp_path: Path) -> Path:
    """A CIFAR ResNet-20 with a 5-class head, as trained elsewhere."""
    import torch

    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    path = tmp_path / "fruit.pth"
    torch.save(build_network(get_spec("cifar_resnet20"), 5).state_dict(), path)
    return path


def _import(qtbot, window: MainWindow, monkeypatch, weights: Path) -> ClassNamesDialog:
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(weights), ""))
    action(window, "actionImportWeights").trigger()
    qtbot.waitUntil(lambda: window.findChild(ClassNamesDialog) is not None, timeout=TIMEOUT_MS)
    return window.findChild(ClassNamesDialog)


def test_import_with_a_library_model_selected_asks_the_class_names(
    qtbot, window: MainWindow, monkeypatch, five_class_weights: Path, tiny_model: str
):
    assert window.selector.current_model() == tiny_model  # a library model
    dialog = _import(qtbot, window, monkeypatch, five_class_weights)
    assert dialog.names() == [f"class_{n}" for n in range(5)]  # the head's 5 outputs
    assert dialog.model_name() == "cifar_resnet20-fruit"

    dialog.editor.setPlainText("apple\npear\nplum")  # pasted, one short
    assert not dialog.ok_button.isEnabled()
    assert "3 names for 5 classes" in dialog.error.text()
    dialog.accept()  # Enter cannot bypass the check
    assert dialog.isVisible()

    dialog.editor.setPlainText("  apple\n\npear\nplum\nfig\nkiwi  \n")
    assert dialog.ok_button.isEnabled() and dialog.error.isHidden()
    with qtbot.waitSignal(window.weights.ready, timeout=TIMEOUT_MS) as ready:
        dialog.ok_button.click()
    assert ready.args == ["cifar_resnet20-fruit"]
    assert list(ModelLibrary().get("cifar_resnet20-fruit").class_names) == FIVE
    qtbot.waitUntil(
        lambda: window.selector.current_model() == "cifar_resnet20-fruit", timeout=TIMEOUT_MS
    )


def test_a_names_file_beside_the_weights_is_suggested(
    qtbot, window: MainWindow, monkeypatch, five_class_weights: Path
):
    (five_class_weights.parent / "labels.txt").write_text("a\nb\n")  # 2 names: not this head's
    five_class_weights.with_suffix(".txt").write_text("\n".join(FIVE) + "\n")
    dialog = _import(qtbot, window, monkeypatch, five_class_weights)
    assert dialog.names() == FIVE
    assert any("read from fruit.txt" in label.text() for label in dialog.findChildren(QLabel))
    dialog.reject()


def test_names_load_from_a_file_and_must_be_unique(
    qtbot, window: MainWindow, monkeypatch, five_class_weights: Path, tmp_path: Path
):
    dialog = _import(qtbot, window, monkeypatch, five_class_weights)
    bad_file = tmp_path / "bad.json"
    bad_file.write_text('["a", "b", "c", "d", "a"]')
    with qtbot.waitSignal(dialog.reader.finished, timeout=TIMEOUT_MS):
        dialog.load_file(bad_file)
    assert "bad.json: class names must be unique" in dialog.error.text()
    assert dialog.names() == [f"class_{n}" for n in range(5)]  # a refused file changes nothing

    short_file = tmp_path / "short.txt"
    short_file.write_text("a\nb\nc\nd\n")
    with qtbot.waitSignal(dialog.reader.finished, timeout=TIMEOUT_MS):
        dialog.load_file(short_file)
    assert dialog.names() == ["a", "b", "c", "d"]
    assert "4 names for 5 classes" in dialog.error.text() and not dialog.ok_button.isEnabled()

    dialog.editor.setPlainText("a\nb\nc\nd\na")
    assert "repeated: a" in dialog.error.text() and not dialog.ok_button.isEnabled()
    dialog.reject()


def test_the_file_need_not_be_for_the_selected_architecture(
    qtbot, window: MainWindow, monkeypatch, five_class_weights: Path
):
    """With ResNet-50 selected, a CIFAR ResNet-20 file is found to be one and imported."""
    window.select_model("resnet50")
    dialog = _import(qtbot, window, monkeypatch, five_class_weights)
    assert any("CIFAR ResNet-20" in label.text() for label in dialog.findChildren(QLabel))
    dialog.editor.setPlainText("\n".join(FIVE))
    with qtbot.waitSignal(window.weights.ready, timeout=TIMEOUT_MS):
        dialog.ok_button.click()
    model = ModelLibrary().get("cifar_resnet20-fruit")
    assert model.architecture == "cifar_resnet20" and list(model.class_names) == FIVE
