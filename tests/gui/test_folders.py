"""Opening and adding folders: the list, the file labels, the title, what was skipped, and
the detail panel's file facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QPixmap, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QFileDialog, QMessageBox, QTableView

from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.results_model import Column
from resnet_desktop.gui.thumbnail_delegate import CentredPixmapDelegate
from tests.gui.imagefiles import write_noise_images
from tests.gui.test_main_window import RUN_TIMEOUT_MS, action, rows


@pytest.fixture
def albums(tmp_path: Path) -> Path:
    """Two camera folders that both hold 0000.jpg and 0001.jpg."""
    for album in ("spring", "summer"):
        write_noise_images(tmp_path / "photos" / album, 2, seed=len(album))
    write_noise_images(tmp_path / "other", 1)
    return tmp_path


def _open(qtbot, window: MainWindow, folder: Path) -> None:
    with qtbot.waitSignal(window.scanFinished, timeout=RUN_TIMEOUT_MS):
        window.show_folder(folder)


def _labels(qtbot, window: MainWindow) -> list[str]:
    rows(qtbot, window.results)  # every page loaded
    results = window.results
    return [results.index(n, Column.FILE).data() for n in range(len(results))]


def test_rows_show_paths_relative_to_the_opened_folder(qtbot, window: MainWindow, albums: Path):
    _open(qtbot, window, albums / "photos")
    labels = _labels(qtbot, window)
    assert sorted(labels) == [
        "spring/img_0000.jpg",
        "spring/img_0001.png",
        "summer/img_0000.jpg",
        "summer/img_0001.png",
    ]
    assert window.windowTitle() == "photos — ResNet Desktop"


def test_open_folder_replaces_the_list_and_add_folder_adds(
    qtbot, window: MainWindow, albums: Path, monkeypatch
):
    _open(qtbot, window, albums / "photos")
    _open(qtbot, window, albums / "other")
    assert _labels(qtbot, window) == ["img_0000.jpg"]  # the photos are gone
    assert window.windowTitle() == "other — ResNet Desktop"

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a: str(albums / "photos"))
    with qtbot.waitSignal(window.scanFinished, timeout=RUN_TIMEOUT_MS):
        action(window, "actionAddFolder").trigger()
    labels = _labels(qtbot, window)
    assert (
        len(labels) == 5
        and "other/img_0000.jpg" in labels
        and "photos/summer/img_0001.png" in labels
    )
    assert window.windowTitle() == "other + 1 more — ResNet Desktop"
    assert "4 images added" in window.statusBar().currentMessage()

    action(window, "actionClearList").trigger()
    assert window.windowTitle() == "ResNet Desktop"


def _no_images_box(qtbot, window: MainWindow) -> QMessageBox:
    qtbot.waitUntil(lambda: window.findChild(QMessageBox, "noImagesFound") is not None)
    return window.findChild(QMessageBox, "noImagesFound")


def test_an_empty_folder_says_no_images_found(qtbot, window: MainWindow, tmp_path: Path):
    (tmp_path / "empty").mkdir()
    _open(qtbot, window, tmp_path / "empty")
    box = _no_images_box(qtbot, window)
    assert box.text() == f"No images found in {tmp_path / 'empty'}: it is empty"


def test_a_folder_of_documents_says_what_was_skipped(qtbot, window: MainWindow, tmp_path: Path):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "sub/c.txt", "report.pdf", ".hidden.jpg"):
        (docs / name).write_text("not a photo")
    _open(qtbot, window, docs)
    box = _no_images_box(qtbot, window)
    assert box.text() == (
        f"No images found in {docs}: 5 files skipped: 4 not images (.txt, .pdf), 1 hidden"
    )
    assert len(window.results) == 0


def test_the_detail_panel_shows_path_size_dimensions_and_date(
    qtbot, window: MainWindow, albums: Path
):
    _open(qtbot, window, albums / "other")
    rows(qtbot, window.results)
    window.pane.view.selectRow(0)
    path = albums / "other" / "img_0000.jpg"
    facts = window.detail.facts
    qtbot.waitUntil(lambda: "px" in facts.text(), timeout=RUN_TIMEOUT_MS)
    text = facts.text().replace("\u200b", "")  # the path may wrap after a separator
    assert str(path) in text and facts.toolTip() == str(path)
    assert "40 × 40 px" in text
    assert f"{path.stat().st_size} bytes" in text or "KB" in text


def test_thumbnails_are_centred_in_their_cell(qtbot):
    model = QStandardItemModel(1, 1)
    portrait = QPixmap(20, 60)
    portrait.fill(QColor("red"))
    item = QStandardItem()
    item.setData(portrait, Qt.ItemDataRole.DecorationRole)
    model.setItem(0, 0, item)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegateForColumn(0, CentredPixmapDelegate(view))
    view.setColumnWidth(0, 100)
    view.setRowHeight(0, 80)
    view.setIconSize(QSize(64, 64))
    view.resize(200, 200)
    image = view.viewport().grab().toImage()
    red = [(x, y) for x in range(100) for y in range(80) if image.pixelColor(x, y) == QColor("red")]
    xs, ys = [x for x, _ in red], [y for _, y in red]
    assert (min(xs) + max(xs)) / 2 == pytest.approx(50, abs=1.5)
    assert (min(ys) + max(ys)) / 2 == pytest.approx(40, abs=1.5)


def test_dropped_folders_label_their_rows_too(qtbot, window: MainWindow, albums: Path):
    single = write_noise_images(albums / "loose", 1, seed=9)[0]
    with qtbot.waitSignal(window.scanFinished, timeout=RUN_TIMEOUT_MS):
        window.add_paths([albums / "photos" / "spring", albums / "photos" / "summer", single])
    assert sorted(_labels(qtbot, window)) == [
        "img_0000.jpg",  # a file dropped on its own: its name
        "spring/img_0000.jpg",
        "spring/img_0001.png",
        "summer/img_0000.jpg",
        "summer/img_0001.png",
    ]
    assert window.windowTitle() == "spring + 1 more — ResNet Desktop"
