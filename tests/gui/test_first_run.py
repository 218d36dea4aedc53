"""A first run offline: the window says what the default model needs and offers each way."""

from __future__ import annotations

import socket
import string
import urllib.error
import urllib.request

import pytest
from PySide6.QtWidgets import QFileDialog, QLabel, QMessageBox

from resnet_desktop.app.getting_started import Way
from resnet_desktop.app.models import WeightsState
from resnet_desktop.core.weights import imagenet_weights_path
from resnet_desktop.core.zoo import get_spec
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.wizard import FineTuneWizard

TIMEOUT_MS = 30_000


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No network, failing as a machine without one does (a name lookup error); the
    URLs asked for are recorded."""
    asked: list[str] = []

    def refuse(url, *args, **kwargs):
        asked.append(url)
        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return asked


@pytest.fixture
def first_run(qtbot, offline):
    """The window as a new user first sees it: no settings, empty torch cache, offline."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: _state(window) == WeightsState.DOWNLOAD, timeout=TIMEOUT_MS)
    yield window
    window.close()
    qtbot.waitUntil(lambda: len(window.workers) == 0, timeout=TIMEOUT_MS)


def _state(window: MainWindow) -> WeightsState | None:
    choice = window.selector.current_choice()
    return None if choice is None else choice.state


def _texts(window: MainWindow) -> str:
    return "\n".join(label.text() for label in window.welcome.findChildren(QLabel))


def test_first_start_explains_the_ways_to_get_a_model(first_run: MainWindow):
    window = first_run
    assert window.selector.current_model() == "resnet50"
    assert window.welcome.isVisible()
    assert set(window.welcome.buttons) == {Way.DOWNLOAD, Way.IMPORT, Way.FINE_TUNE}
    text = _texts(window)
    assert "ResNet-50 needs its ImageNet weights" in text
    assert "98 MB" in text
    assert str(imagenet_weights_path(get_spec("resnet50")).parent) in text
    assert "name its classes" in text and "folders of labelled photos" in text


def test_download_offline_says_no_internet_and_names_the_menu_item(
    qtbot, first_run: MainWindow, offline: list[str]
):
    first_run.welcome.buttons[Way.DOWNLOAD].click()
    qtbot.waitUntil(lambda: _visible(first_run, "weightsMissing") is not None, timeout=TIMEOUT_MS)
    text = _visible(first_run, "weightsMissing").text()
    assert offline == ["https://download.pytorch.org/models/resnet50-11ad3fa6.pth"]
    assert "no internet connection" in text
    assert "Model → Import Weights File…" in text
    assert "--weights" not in text and "Errno" not in text
    assert first_run.welcome.isVisible()  # still nothing that can classify


def test_the_panel_follows_the_selected_model(qtbot, first_run: MainWindow, tiny_model: str):
    window = first_run
    window.refresh_models()
    qtbot.waitUntil(lambda: window.selector.findData(tiny_model) >= 0, timeout=TIMEOUT_MS)
    window.select_model(tiny_model)
    assert not window.welcome.isVisible()  # a library model can classify
    window.select_model("cifar_resnet20")
    assert window.welcome.isVisible()
    assert set(window.welcome.buttons) == {Way.IMPORT, Way.FINE_TUNE}  # nothing to download
    assert "has no built-in weights" in _texts(window)


def test_the_buttons_open_the_import_and_the_wizard(qtbot, first_run: MainWindow, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(
        QFileDialog, "getOpenFileName", lambda _parent, title, *a, **k: (asked.append(title), "")
    )
    first_run.welcome.buttons[Way.IMPORT].click()
    assert asked == ["Import Weights File"]
    first_run.welcome.buttons[Way.FINE_TUNE].click()
    qtbot.waitUntil(lambda: first_run.findChild(FineTuneWizard) is not None, timeout=TIMEOUT_MS)
    first_run.findChild(FineTuneWizard).reject()


def _visible(window: MainWindow, name: str) -> QMessageBox | None:
    boxes = [b for b in window.findChildren(QMessageBox, name) if b.isVisible()]
    return boxes[0] if boxes else None


def test_the_window_words_every_remedy_with_its_menu():
    """Every remedy the core can name has the window's words, none of them a flag."""
    from resnet_desktop.core import errors
    from resnet_desktop.gui.workers import REMEDIES

    remedies = {value for name, value in vars(errors).items() if name.startswith("REMEDY_")}
    assert set(REMEDIES) == remedies
    assert all(" → " in text for text in REMEDIES.values())  # a menu item
    assert "Model → Import Weights File…" in REMEDIES[errors.REMEDY_WEIGHTS_FILE]
    assert not any("--" in text for text in REMEDIES.values())
    assert "Edit → Undo Sort…" in REMEDIES[errors.REMEDY_SORT_FINISH_UNDO]
    assert "Model → Manage Models…" in REMEDIES[errors.REMEDY_LIBRARY_REMOVE]


def test_each_remedy_takes_the_same_fields_in_both_front_ends():
    """An error's fields fill the command line's words and the window's alike, so a
    remedy worded with a place the other lacks cannot fail only in one front end."""
    from resnet_desktop.commands.common import REMEDIES as CLI
    from resnet_desktop.core.errors import REMEDY_SORT_SAME_MODE
    from resnet_desktop.gui.workers import REMEDIES as WINDOW

    def places(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert set(CLI) == set(WINDOW)
    beyond = {key: places(WINDOW[key]) - places(CLI[key]) for key in CLI}
    assert not any(beyond.values()), beyond
    assert places(CLI[REMEDY_SORT_SAME_MODE]) == {"mode", "journal"}
