"""The detail panel's "Why this label?" heatmap: top-1, a clicked class, computed in a worker."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QPoint, Qt

from resnet_desktop.app import explain as explain_app
from resnet_desktop.core.catalog_view import ViewRow
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.gui.detail_panel import DetailPanel
from resnet_desktop.gui.heatmap_view import NOT_CLASSIFIED, PHOTO_TEXT
from tests.helpers import write_colour_images

LABELS = ("cat", "dog", "ship")


@pytest.fixture
def panel(qtbot):
    panel = DetailPanel()
    qtbot.addWidget(panel)
    panel.resize(360, 640)
    panel.show()
    yield panel
    panel.heatmap.shutdown()


@pytest.fixture
def row(tmp_path) -> ViewRow:
    path = write_colour_images(tmp_path, 1, size=(64, 48))[0]
    prediction = Prediction(path, LABELS, (0.5, 0.3, 0.1), (3, 5, 8))
    return ViewRow(0, path, prediction)


@pytest.fixture
def explained_on(monkeypatch):
    """The threads heatmaps were computed on."""
    threads = []
    original = explain_app.explain_file

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(explain_app, "explain_file", recording)
    return threads


def test_the_toggle_shows_the_top_1_heatmap_in_place_of_the_preview(
    qtbot, panel, row, tiny_model, explained_on
):
    panel.show_row(row, model=tiny_model)
    with qtbot.waitSignal(panel.heatmap.shown, timeout=30_000) as shown:
        panel.heatmap.button.click()
    result = shown.args[0]
    assert result.request.label is None and result.request.model == tiny_model
    assert result.request.path == row.path
    assert panel.heatmap.image.isVisible() and not panel.preview.isVisible()
    assert panel.heatmap.button.text() == PHOTO_TEXT
    assert not panel.heatmap.image.pixmap().isNull()
    assert f"“{result.explanation.label}”" in panel.heatmap.caption.text()
    assert explained_on and threading.main_thread() not in explained_on
    panel.heatmap.button.click()
    assert panel.preview.isVisible() and not panel.heatmap.image.isVisible()


def test_a_click_on_a_bar_shows_that_class(qtbot, panel, row, tiny_model):
    panel.show_row(row, model=tiny_model)
    second_bar = QPoint(40, int(panel.bars.ROW_HEIGHT * 1.5))
    with qtbot.waitSignal(panel.heatmap.shown, timeout=30_000) as shown:
        qtbot.mouseClick(panel.bars, Qt.MouseButton.LeftButton, pos=second_bar)
    assert panel.heatmap.button.isChecked()  # a click turns the heatmap on
    assert shown.args[0].request.label == "dog"
    assert shown.args[0].explanation.label == "dog"
    assert "“dog”" in panel.heatmap.caption.text()


def test_the_same_row_shown_again_is_not_computed_again(
    qtbot, panel, row, tiny_model, explained_on
):
    panel.show_row(row, model=tiny_model)
    with qtbot.waitSignal(panel.heatmap.shown, timeout=30_000):
        panel.heatmap.button.click()
    for _ in range(3):  # the window shows the current row again after every batch
        panel.show_row(row, model=tiny_model)
    qtbot.wait(200)
    assert len(explained_on) == 1


def test_the_button_waits_for_a_classified_row(panel, row, tiny_model):
    button = panel.heatmap.button
    assert not button.isEnabled()  # nothing selected yet
    panel.show_row(ViewRow(0, row.path, None), model=tiny_model)
    assert not button.isEnabled()
    panel.show_row(row, model=None)  # results not known for the model
    assert not button.isEnabled()
    panel.show_row(row, model=tiny_model)
    assert button.isEnabled()
    panel.show_row(None, None)
    assert not button.isEnabled()


def test_an_unclassified_row_asks_to_classify_first(qtbot, panel, row, tiny_model, explained_on):
    panel.show_row(row, model=tiny_model)
    with qtbot.waitSignal(panel.heatmap.shown, timeout=30_000):
        panel.heatmap.button.click()
    panel.show_row(ViewRow(0, row.path.with_name("other.png"), None), model=tiny_model)
    assert panel.heatmap.caption.text() == NOT_CLASSIFIED
    assert panel.heatmap.button.isEnabled()  # on: it still turns the photo back on
    panel.heatmap.button.click()
    assert not panel.heatmap.button.isEnabled() and panel.preview.isVisible()
    qtbot.wait(100)
    assert len(explained_on) == 1


def test_a_failure_is_shown_in_the_caption(qtbot, panel, row, tiny_model):
    row.path.write_bytes(b"not an image any more")
    panel.show_row(row, model=tiny_model)
    with qtbot.waitSignal(panel.heatmap._runner.finished, timeout=30_000):
        panel.heatmap.button.click()
    assert "not an image" in panel.heatmap.caption.text()


def test_a_row_whose_model_left_the_library_says_so(qtbot, panel, row, tiny_model):
    ModelLibrary().rename(tiny_model, "elsewhere")
    panel.show_row(row, model=tiny_model)
    with qtbot.waitSignal(panel.heatmap._runner.finished, timeout=30_000):
        panel.heatmap.button.click()
    assert "is no longer in the library: classify the image again" in panel.heatmap.caption.text()
