"""The gallery and review mode in the main window, with the tiny model and real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMenu

from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.settings import load_settings
from resnet_desktop.core.zoo import CIFAR10_CLASSES
from resnet_desktop.gui.image_viewer import ImageViewer
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.results_model import Column, ResultsModel
from resnet_desktop.gui.results_view import EMPTY_HINT, empty_hint
from resnet_desktop.gui.review_pane import GalleryPane
from tests.gui.imagefiles import write_noise_images
from tests.gui.test_main_window import (
    action,
    add_and_wait,
    classify_and_wait,
    export_and_wait,
    rows,
    show_and_wait,
)


def _reviewing(qtbot, window: MainWindow, tmp_path: Path, count: int = 6) -> list[Path]:
    images = write_noise_images(tmp_path / "photos", count)
    add_and_wait(qtbot, window, images)
    classify_and_wait(qtbot, window)
    show_and_wait(qtbot, window, action(window, "actionReview").trigger)
    rows(qtbot, window.results)
    return images


def _press(qtbot, window: MainWindow, key: str | Qt.Key) -> None:
    """Press ``key`` in the gallery and wait until the row shows what the catalog did."""
    with qtbot.waitSignal(window.review.labelShown, timeout=10_000):
        qtbot.keyClick(window.review.view, key)


def _person_labels(paths: list[Path]) -> dict[Path, str | None]:
    with Catalog.open(read_only=True) as catalog:
        return dict(catalog.person_labels(paths))


def test_the_gallery_toggles_with_ctrl_g_and_remembers_itself(qtbot, window: MainWindow):
    views = window.pane.views
    assert views.currentWidget() is window.pane.view
    gallery = window.review.view  # the table's rows and selection, not a copy of them
    assert gallery.model() is window.results
    assert gallery.selectionModel() is window.pane.view.selectionModel()
    qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert views.currentWidget() is window.review.gallery
    assert action(window, "actionGallery").isChecked()
    assert empty_hint(gallery) == EMPTY_HINT  # an empty gallery says what to do, as the table
    window.review.gallery.size_slider.setValue(200)
    assert window.review.view.delegate.tile == 200
    window.close()
    saved = load_settings()
    assert (saved.gallery_shown, saved.gallery_tile) == (True, 200)

    again = MainWindow()
    qtbot.addWidget(again)
    assert again.pane.views.currentWidget() is again.review.gallery
    assert again.review.gallery.size_slider.value() == 200
    again.close()


def test_review_keys_label_accept_undo_and_type_into_the_catalog(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    images = _reviewing(qtbot, window, tmp_path)
    view, results = window.review.view, window.results
    assert window.pane.views.currentWidget() is window.review.gallery
    assert window.review.gallery.review_box.isChecked()
    shown = rows(qtbot, results)
    confidences = [row.prediction.probs[0] for row in shown]
    assert confidences == sorted(confidences)  # least sure first
    assert view.current_row() == 0

    _press(qtbot, window, "3")  # the tiny model has CIFAR-10's classes: 3 is the third
    assert results.row_at(0).person_label == CIFAR10_CLASSES[2]
    assert view.current_row() == 1  # on to the next image
    _press(qtbot, window, Qt.Key.Key_Return)  # accept the model's answer
    assert results.row_at(1).person_label == shown[1].prediction.labels[0]
    assert window.review.count_label.text() == "✎ 2 labelled"
    assert results.index(0, Column.LABEL).data() == f"✎ {CIFAR10_CLASSES[2]}"

    _press(qtbot, window, Qt.Key.Key_Backspace)  # takes the accepted label back
    assert results.row_at(1).person_label is None and view.current_row() == 1
    qtbot.waitUntil(lambda: window.review.count_label.text() == "✎ 1 labelled")

    qtbot.keyClick(view, "t")  # typing opens the label box
    box = window.review.gallery.label_box
    assert box.isVisible() and box.text() == "t"
    qtbot.keyClicks(box, "RUCK")
    with qtbot.waitSignal(window.review.labelShown, timeout=10_000):
        qtbot.keyClick(box, Qt.Key.Key_Return)
    assert results.row_at(1).person_label == "truck"  # the class, whatever the case typed

    labels = _person_labels([shown[0].path, shown[1].path, shown[2].path])
    assert labels == {shown[0].path: "bird", shown[1].path: "truck", shown[2].path: None}
    csv = export_and_wait(qtbot, window, monkeypatch, "actionExportCsv", tmp_path / "out.csv")
    assert csv[0].endswith(",error,label_by_person")
    exported = {line.split(",")[0]: line.rsplit(",", 1)[1] for line in csv[1:]}
    assert exported[str(shown[1].path)] == "truck" and exported[str(shown[2].path)] == ""
    assert len(exported) == len(images)


def test_leaving_review_brings_the_tables_order_back(qtbot, window: MainWindow, tmp_path: Path):
    images = _reviewing(qtbot, window, tmp_path, count=4)
    show_and_wait(qtbot, window, action(window, "actionReview").trigger)
    assert [row.path for row in rows(qtbot, window.results)] == images  # the order added
    show_and_wait(qtbot, window, action(window, "actionGroupByLabel").trigger)
    labels = [row.prediction.labels[0].lower() for row in rows(qtbot, window.results)]
    assert labels == sorted(labels) and window.results.query.grouped


def test_double_click_opens_the_image_large_and_the_menu_hands_it_to_the_desktop(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _reviewing(qtbot, window, tmp_path, count=2)
    view = window.review.view
    first = view.visualRect(window.results.index(0, Column.THUMBNAIL)).center()
    assert view.rect().contains(first)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=first)  # as a user does
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=first)
    viewer = window.findChild(ImageViewer)
    assert viewer is not None and viewer.path == window.results.row_at(0).path
    qtbot.waitUntil(viewer.has_image, timeout=10_000)
    viewer.close()

    opened: list[str] = []
    monkeypatch.setattr(
        QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True
    )
    view.customContextMenuRequested.emit(first)
    menu = view.findChild(QMenu)
    assert [a.text().replace("&", "") for a in menu.actions()] == [
        "Open Large", "Open in System Viewer", "Show in File Manager"
    ]  # fmt: skip
    menu.actions()[1].trigger()
    menu.actions()[2].trigger()
    path = window.results.row_at(0).path
    assert opened == [str(path), str(path.parent)]
    menu.close()
    assert view.indexAt(QPoint(-5, -5)).isValid() is False


def test_a_label_picked_from_the_completions_is_the_one_given(qtbot):
    pane = GalleryPane(ResultsModel())
    qtbot.addWidget(pane)
    pane.show()
    pane.set_class_names(["airplane", "automobile", "bird"])
    given: list[str] = []
    pane.labelTyped.connect(given.append)
    pane.start_typing("a")
    popup = pane.label_box.completer().popup()
    qtbot.waitUntil(popup.isVisible)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Down)
    qtbot.keyClick(popup, Qt.Key.Key_Return)
    assert given == ["automobile"] and not pane.label_box.isVisible()
    pane.start_typing("b")
    qtbot.keyClick(pane.label_box, Qt.Key.Key_Escape)
    assert given == ["automobile"] and not pane.label_box.isVisible()
    pane.view.shutdown()
