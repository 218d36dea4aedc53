"""The model selector's states, and getting weights: download, cancel, offline import."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from PySide6.QtWidgets import (
    QFileDialog,
    QMessageBox,
    QProgressDialog,
    QPushButton,
)

from resnet_desktop.app.models import WeightsState
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.weights import imagenet_weights_path
from resnet_desktop.core.zoo import CIFAR10_CLASSES, get_spec
from resnet_desktop.gui.class_names_dialog import ClassNamesDialog
from resnet_desktop.gui.main_window import MainWindow
from tests.gui.imagefiles import write_noise_images
from tests.gui.test_main_window import action, add_and_wait

RUN_TIMEOUT_MS = 60_000


@pytest.fixture
def resnet18_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random ResNet-18 state dict, as a user would have downloaded it elsewhere."""
    import torch

    from resnet_desktop.core.networks import build_network

    path = tmp_path_factory.mktemp("download") / "resnet18-f37072fd.pth"
    torch.save(build_network(get_spec("resnet18")).state_dict(), path)
    return path


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def _choose(qtbot, window: MainWindow, name: str) -> None:
    """Pick ``name`` in the selector as a user does (which emits ``activated``)."""
    index = window.selector.findData(name)
    assert index >= 0, name
    window.selector.setCurrentIndex(index)
    window.selector.activated.emit(index)


def _box(qtbot, window: MainWindow, name: str) -> QMessageBox:
    qtbot.waitUntil(lambda: _visible_box(window, name) is not None, timeout=RUN_TIMEOUT_MS)
    return _visible_box(window, name)


def _visible_box(window: MainWindow, name: str) -> QMessageBox | None:
    boxes = [b for b in window.findChildren(QMessageBox, name) if b.isVisible()]
    return boxes[0] if boxes else None


def _button(box: QMessageBox, text: str):
    return next(b for b in box.buttons() if b.text() == text)


def _state(window: MainWindow, name: str) -> WeightsState | None:
    choice = window.selector.choice(name)
    return None if choice is None else choice.state


def test_selector_items_carry_the_model_name(qtbot, window: MainWindow, tiny_model: str):
    selector = window.selector
    names = [selector.itemData(i) for i in range(selector.count())]
    assert names[-1] == tiny_model and "densenet121" in names
    assert selector.currentText().startswith("tiny — library")
    assert window.status.model_label.text() == f"Model: {tiny_model}"


def test_offline_classify_offers_an_import_then_goes_on(
    qtbot, window: MainWindow, tmp_path: Path, offline, monkeypatch, resnet18_weights: Path
):
    write_noise_images(tmp_path, 3)
    add_and_wait(qtbot, window, [tmp_path])
    window.select_model("resnet18")
    action(window, "actionClassify").trigger()
    box = _box(qtbot, window, "weightsMissing")
    assert "could not be downloaded: no internet connection" in box.text()
    assert box.text().endswith("or choose it with Model → Import Weights File…")
    assert "--weights" not in box.text() and "Errno" not in box.text()

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(resnet18_weights), ""))
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        _button(box, "Import weights file…").click()
    assert finished.args == [True]
    assert imagenet_weights_path(get_spec("resnet18")).read_bytes() == (
        resnet18_weights.read_bytes()
    )
    qtbot.waitUntil(lambda: _state(window, "resnet18") == WeightsState.CACHED, timeout=10_000)
    assert window.results.counts() == (3, 3, 0)
    assert len(window.results.row_at(0).prediction.labels) == 5  # ImageNet names, top-5


def test_a_file_that_does_not_fit_is_refused(
    qtbot, window: MainWindow, offline, monkeypatch, tmp_path: Path
):
    import torch

    misfit = tmp_path / "misfit.pth"  # a ResNet head over nothing: fits no architecture
    torch.save({"fc.weight": torch.zeros(1000, 7), "fc.bias": torch.zeros(1000)}, misfit)
    _choose(qtbot, window, "resnet18")
    box = _box(qtbot, window, "weightsMissing")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(misfit), ""))
    _button(box, "Import weights file…").click()
    qtbot.waitUntil(lambda: _visible_box(window, "") is not None, timeout=RUN_TIMEOUT_MS)
    text = _visible_box(window, "").text()
    assert text.startswith("misfit.pth fits none of the 14 architectures this app knows; ")
    assert "as ResNet-18: the weights do not fit" in text  # the one selected
    assert not imagenet_weights_path(get_spec("resnet18")).exists()


class _EndlessDownload:
    """A response that trickles bytes until the reader gives up."""

    def __init__(self) -> None:
        self.headers = {"Content-Length": str(200 << 20)}

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> bool:
        return False

    def read(self, size: int) -> bytes:
        time.sleep(0.01)
        return b"\0" * 4096


def test_a_download_can_be_cancelled(qtbot, window: MainWindow, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _EndlessDownload())
    _choose(qtbot, window, "resnet50")
    dialog = window.findChild(QProgressDialog, "weightsProgress")
    qtbot.waitUntil(lambda: dialog.isVisible() and dialog.labelText().endswith("MB"), timeout=5000)
    dialog.findChild(QPushButton).click()
    qtbot.waitUntil(lambda: "cancelled" in window.statusBar().currentMessage(), timeout=5000)
    assert not window.weights.busy
    assert not imagenet_weights_path(get_spec("resnet50")).exists()
    assert list(imagenet_weights_path(get_spec("resnet50")).parent.iterdir()) == []
    assert _visible_box(window, "weightsMissing") is None


def test_closing_during_a_download_stops_it(qtbot, window: MainWindow, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: _EndlessDownload())
    _choose(qtbot, window, "resnet50")
    qtbot.waitUntil(lambda: window.weights.busy, timeout=5000)
    qtbot.wait(100)
    window.close()
    assert not window.findChildren(QMessageBox)


def test_an_architecture_without_weights_imports_a_file_into_the_library(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch, tiny_weights: Path
):
    write_noise_images(tmp_path, 2)
    add_and_wait(qtbot, window, [tmp_path])
    window.select_model("cifar_resnet20")
    action(window, "actionClassify").trigger()
    box = _box(qtbot, window, "weightsMissing")
    assert "no built-in weights" in box.text()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(tiny_weights), ""))
    _button(box, "Import weights file…").click()
    qtbot.waitUntil(lambda: window.findChild(ClassNamesDialog) is not None, timeout=RUN_TIMEOUT_MS)
    names = window.findChild(ClassNamesDialog)
    assert names.names() == list(CIFAR10_CLASSES)  # a 10-class CIFAR head: CIFAR-10's names
    names.name_edit.setText("my cifar")
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS):
        names.ok_button.click()
    assert "my cifar" in ModelLibrary()
    qtbot.waitUntil(lambda: window.selector.current_model() == "my cifar", timeout=10_000)
    assert window.results.counts() == (2, 2, 0)
