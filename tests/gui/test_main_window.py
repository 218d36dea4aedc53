"""The main window end to end with the real core and a tiny model (random CIFAR ResNet-20)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QWidget

from resnet_desktop.cli import main as cli_main
from resnet_desktop.core.export import csv_text
from resnet_desktop.core.settings import load_settings
from resnet_desktop.gui import main_window as main_window_module
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.results_model import Column, ResultsModel, ThumbState
from tests.gui.imagefiles import write_broken_image, write_noise_images
from tests.gui.threads import python_threads

RUN_TIMEOUT_MS = 60_000


def drop(target: QWidget, paths: list[Path]) -> None:
    """Drag ``paths`` onto ``target`` and drop them, as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
    centre = target.rect().center()
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, buttons, modifiers)
    QApplication.sendEvent(target, enter)
    assert enter.isAccepted(), "the window refused the drag"
    QApplication.sendEvent(
        target, QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    )


def add_and_wait(qtbot, window: MainWindow, paths: list[Path]) -> None:
    with qtbot.waitSignal(window.scanFinished, timeout=RUN_TIMEOUT_MS):
        window.add_paths(paths)


def classify_and_wait(qtbot, window: MainWindow) -> list:
    """Trigger Classify; returns the BatchResults of the run."""
    batches: list = []
    window.batchClassified.connect(batches.append)
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        action(window, "actionClassify").trigger()
    window.batchClassified.disconnect(batches.append)
    assert finished.args == [True]
    return batches


def action(window: MainWindow, name: str) -> QAction:
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def row_of(results: ResultsModel, path: Path) -> int:
    return [results.row_at(row).path for row in range(len(results))].index(path)


def has_image(window: MainWindow) -> bool:
    """Whether the detail panel's preview shows an image (not its placeholder text)."""
    return not window.detail.preview.pixmap().isNull()


def export_to(window: MainWindow, monkeypatch: pytest.MonkeyPatch, name: str, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    action(window, name).trigger()


def open_boxes(window: MainWindow) -> list[QMessageBox]:
    return [box for box in window.findChildren(QMessageBox) if box.isVisible()]


# --- the main flow ----------------------------------------------------------------------------


def test_drop_classify_export_matches_the_cli(
    qtbot, window: MainWindow, tmp_path: Path, tiny_weights: Path, monkeypatch
):
    folder = tmp_path / "photos"
    images = write_noise_images(folder, 30)
    write_broken_image(folder)
    with qtbot.waitSignal(window.scanFinished, timeout=RUN_TIMEOUT_MS):
        drop(window.pane.view.viewport(), [folder])  # anywhere on the window
    assert window.results.rowCount() == len(images) + 1

    classify_and_wait(qtbot, window)
    assert window.status.counts_label.text() == "31 images · 30 done · 1 failed"
    assert not action(window, "actionStop").isEnabled()

    gui_csv, cli_csv = tmp_path / "gui.csv", tmp_path / "cli.csv"
    export_to(window, monkeypatch, "actionExportCsv", gui_csv)
    argv = ["predict", str(folder), "--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    assert cli_main([*argv, "--precision", "fp32", "--csv", str(cli_csv)]) == 3  # one failed
    gui_rows = gui_csv.read_text(encoding="utf-8").splitlines()
    assert gui_rows == cli_csv.read_text(encoding="utf-8").splitlines()
    assert len(gui_rows) == 32
    assert next(row for row in gui_rows if "broken.jpg" in row).endswith('not supported"')


def test_broken_file_shows_an_error_row_with_the_reason(qtbot, window: MainWindow, tmp_path):
    good = write_noise_images(tmp_path, 2)
    broken = write_broken_image(tmp_path, "notes.jpg")
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    results = window.results
    row = row_of(results, broken)
    label = results.index(row, Column.LABEL)
    assert label.data() == "Error"
    assert isinstance(label.data(Qt.ItemDataRole.DecorationRole), QIcon)
    tooltip = results.index(row, Column.FILE).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("notes.jpg: ") and "not an image" in tooltip
    assert all(results.row_at(row_of(results, p)).ok for p in good)
    window.pane.view.selectRow(window.pane.proxy.mapFromSource(label).row())
    assert "not an image" in window.detail.status.text()
    assert window.detail.bars.bars() == []


def test_stop_ends_the_run_within_a_batch(qtbot, window: MainWindow, tmp_path: Path):
    write_noise_images(tmp_path, 200, size=96)
    add_and_wait(qtbot, window, [tmp_path])
    window.options.batch_spin.setValue(8)
    batches: list = []

    def stop_after_first(batch) -> None:
        batches.append(batch)
        if len(batches) == 1:
            assert action(window, "actionStop").isEnabled()
            action(window, "actionStop").trigger()

    window.batchClassified.connect(stop_after_first)
    with qtbot.waitSignal(window.runFinished, timeout=RUN_TIMEOUT_MS) as finished:
        action(window, "actionClassify").trigger()
    assert finished.args == [False]
    done = window.results.counts()[1]
    assert 8 <= done < 200 and done == batches[-1].done
    assert not action(window, "actionStop").isEnabled()
    assert action(window, "actionClassify").isEnabled()
    assert window.status.progress.text() == "Stopped"

    window.batchClassified.disconnect(stop_after_first)
    rest = classify_and_wait(qtbot, window)  # goes on with what is missing only
    assert rest[-1].total == 200 - done
    assert window.results.counts() == (200, 200, 0)


def test_closing_mid_run_stops_and_joins_every_worker(qtbot, window: MainWindow, tmp_path):
    write_noise_images(tmp_path, 200, size=96)
    add_and_wait(qtbot, window, [tmp_path])
    window.options.batch_spin.setValue(8)
    threads_before = python_threads()
    with qtbot.waitSignal(window.batchClassified, timeout=RUN_TIMEOUT_MS):
        action(window, "actionClassify").trigger()
    assert python_threads() > threads_before  # the decoding pool is running
    window.close()
    assert python_threads() == threads_before
    assert not any(w.isRunning() for w in window.workers._workers)
    assert window.results.counts()[1] < 200
    qtbot.waitUntil(lambda: len(window.workers) == 0, timeout=5000)


def test_an_unknown_event_from_the_classify_job_is_a_bug_not_ignored(window: MainWindow):
    with pytest.raises(TypeError, match="unknown event from the classify job: 'Loading…'"):
        window._run_item("Loading…")  # a bare string, as jobs yielded before events had types


def test_classifying_again_redoes_only_what_is_missing_or_changed(
    qtbot, window: MainWindow, tmp_path: Path
):
    images = write_noise_images(tmp_path / "a", 6)
    add_and_wait(qtbot, window, [tmp_path / "a"])
    first = classify_and_wait(qtbot, window)
    assert first[-1].total == 6

    write_noise_images(tmp_path / "changed", 1, seed=99)[0].replace(images[2])  # new content
    stat = os.stat(images[2])
    os.utime(images[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    extra = write_noise_images(tmp_path / "b", 1, seed=5)
    add_and_wait(qtbot, window, extra)
    second = classify_and_wait(qtbot, window)
    assert sorted(p.path for b in second for p in b.predictions) == sorted([images[2], *extra])

    assert classify_and_wait(qtbot, window) == []  # all up to date: no model is even loaded
    assert "up to date" in window.statusBar().currentMessage()

    window.options.top_k_spin.setValue(3)  # another top-k: everything again
    third = classify_and_wait(qtbot, window)
    assert third[-1].total == 7
    assert all(len(p.labels) == 3 for b in third for p in b.predictions)


def test_copy_puts_the_selected_rows_on_the_clipboard(qtbot, window: MainWindow, tmp_path):
    write_noise_images(tmp_path, 4)
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    view = window.pane.view
    view.selectRow(0)
    view.selectionModel().select(
        window.pane.proxy.index(2, 0),
        view.selectionModel().SelectionFlag.Select | view.selectionModel().SelectionFlag.Rows,
    )
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    expected = csv_text(window.results.predictions([0, 2]), 5)
    assert QApplication.clipboard().text() == expected
    assert expected.count("\n") == 3


def test_filters_and_filtered_export(qtbot, window: MainWindow, tmp_path: Path, monkeypatch):
    write_noise_images(tmp_path / "in", 20)
    add_and_wait(qtbot, window, [tmp_path / "in"])
    classify_and_wait(qtbot, window)
    proxy = window.pane.proxy
    label = window.results.row_at(0).label
    qtbot.keyClicks(window.pane.label_filter, label.upper())
    shown = [proxy.index(r, Column.LABEL).data() for r in range(proxy.rowCount())]
    assert shown and all(label in text for text in shown) and len(shown) <= 20
    window.pane.label_filter.clear()
    window.pane.confidence_filter.setValue(50)
    passing = [r for r in range(20) if window.results.row_at(r).confidence >= 0.5]
    assert window.pane.filtered_source_rows() == passing
    out = tmp_path / "filtered.csv"
    if passing:
        export_to(window, monkeypatch, "actionExportFilteredCsv", out)
        assert len(out.read_text(encoding="utf-8").splitlines()) == len(passing) + 1
    else:  # nothing passes: nothing is exported and the user is told
        export_to(window, monkeypatch, "actionExportFilteredCsv", out)
        assert not out.exists() and "Nothing to export" in window.statusBar().currentMessage()


def test_sorting_by_confidence_is_numeric(qtbot, window: MainWindow, tmp_path: Path):
    write_noise_images(tmp_path, 12)
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    window.pane.view.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    proxy = window.pane.proxy
    rows = [proxy.mapToSource(proxy.index(r, 0)).row() for r in range(proxy.rowCount())]
    values = [window.results.row_at(r).confidence for r in rows]
    assert values == sorted(values, reverse=True)


def test_thumbnails_load_only_for_visible_rows_and_the_preview_follows(
    qtbot, window: MainWindow, tmp_path: Path
):
    write_noise_images(tmp_path, 150)
    add_and_wait(qtbot, window, [tmp_path])
    rows = window.results

    def states() -> list[ThumbState]:
        return [rows.row_at(n).thumbnail for n in range(len(rows))]

    qtbot.waitUntil(lambda: ThumbState.READY in states(), timeout=10_000)
    qtbot.waitUntil(lambda: ThumbState.LOADING not in states(), timeout=10_000)
    assert 0 < states().count(ThumbState.READY) < 60  # what fits on screen, not all 150
    window.pane.view.selectRow(3)
    qtbot.waitUntil(lambda: has_image(window), timeout=10_000)
    assert window.detail.path == rows.row_at(window.pane.current_source_row()).path
    assert window.detail.status.text() == "Not classified yet"


# --- actions, dialogs, settings ---------------------------------------------------------------


def test_actions_and_their_shortcuts(window: MainWindow):
    expected = {
        "actionOpenFolder": ["Ctrl+O"],
        "actionClassify": ["F5", "Ctrl+R"],
        "actionStop": ["Esc"],
        "actionExportCsv": ["Ctrl+E"],
        "actionCopy": ["Ctrl+C"],
        "actionQuit": ["Ctrl+Q"],
    }
    for name, keys in expected.items():
        shortcuts = [s.toString() for s in action(window, name).shortcuts()]
        assert shortcuts == [QKeySequence(k).toString() for k in keys], name
    for name in ("actionFineTune", "actionEvaluate", "actionAbout", "actionAddImages"):
        action(window, name)
    assert not action(window, "actionStop").isEnabled()
    assert window.findChild(QWidget, "modelSelector") is window.selector
    assert window.findChild(QWidget, "resultsView") is window.pane.view
    assert window.findChild(QWidget, "progressBar") is window.status.progress


def test_classify_without_images_says_what_to_do(qtbot, window: MainWindow):
    action(window, "actionClassify").trigger()
    assert "Add images first" in window.statusBar().currentMessage()
    assert window.workers is not None and not action(window, "actionStop").isEnabled()


def test_settings_survive_a_restart(qtbot, tiny_model: str, tmp_path: Path):
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    qtbot.waitUntil(lambda: first.selector.findData(tiny_model) >= 0, timeout=10_000)
    first.select_model(tiny_model)
    first.options.top_k_spin.setValue(3)
    first.options.batch_spin.setValue(16)
    first.options.precision_box.setCurrentIndex(first.options.precision_box.findData("bf16"))
    first.options.engine_box.setCurrentIndex(first.options.engine_box.findData("openvino"))
    first.resize(700, 500)  # fits the offscreen 800x600 screen
    first.close()
    saved = load_settings()
    assert (saved.model, saved.top_k, saved.batch_size, saved.precision, saved.engine) == (
        tiny_model,
        3,
        16,
        "bf16",
        "openvino",
    )
    assert saved.window_geometry and saved.splitter_state

    second = MainWindow()
    qtbot.addWidget(second)
    runtime = second.options.runtime()
    assert second.options.top_k() == 3 and runtime.batch_size == 16
    assert runtime.precision == "bf16" and runtime.engine == "openvino"
    assert second.selector.wanted_model() == tiny_model
    assert second.size() == first.size()


def test_about_lists_the_versions(qtbot, window: MainWindow):
    qtbot.waitUntil(lambda: window.runtime is not None, timeout=60_000)
    action(window, "actionAbout").trigger()
    box = window.findChild(QMessageBox, "aboutBox")
    assert box is not None and box.isVisible()
    import torch

    assert torch.__version__ in box.text() and "Qt" in box.text()
    box.close()


class _FakeWizard(QDialog):
    modelSaved = Signal(str, bool)

    def __init__(self, parent: QWidget | None = None, runtime: object = None) -> None:
        super().__init__(parent)


def test_a_model_saved_by_the_wizard_is_selected(
    qtbot, window: MainWindow, monkeypatch, tiny_weights: Path
):
    monkeypatch.setattr(main_window_module, "FineTuneWizard", _FakeWizard)
    action(window, "actionFineTune").trigger()
    wizard = window.findChild(_FakeWizard)
    assert wizard is not None and wizard.isVisible()
    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.zoo import CIFAR10_CLASSES

    ModelLibrary().import_file(tiny_weights, "cifar_resnet20", CIFAR10_CLASSES, "flowers")
    wizard.modelSaved.emit("flowers", True)
    qtbot.waitUntil(lambda: window.selector.current_model() == "flowers", timeout=10_000)
    assert "library" in window.selector.currentText()
    wizard.close()


def test_fine_tune_and_evaluate_open_with_the_toolbar_runtime(qtbot, window: MainWindow):
    from resnet_desktop.gui.evaluate_dialog import EvaluateDialog
    from resnet_desktop.gui.wizard import FineTuneWizard

    window.options.engine_box.setCurrentIndex(window.options.engine_box.findData("torch"))
    window.options.batch_spin.setValue(12)
    chosen = window.options.runtime()
    assert (chosen.precision, chosen.engine, chosen.batch_size) == ("fp32", "torch", 12)
    action(window, "actionFineTune").trigger()
    action(window, "actionEvaluate").trigger()
    wizard = window.findChild(FineTuneWizard)
    dialog = window.findChild(EvaluateDialog)
    assert wizard is not None and wizard.isVisible()
    assert dialog is not None and dialog.isVisible()
    assert dialog.runtime == chosen and wizard.options_page.runtime == chosen
    wizard.close()
    dialog.close()


def test_the_detail_panel_says_when_nothing_is_selected(qtbot, window: MainWindow, tmp_path):
    assert window.detail.preview.text() == "No image selected"
    write_noise_images(tmp_path, 2)
    add_and_wait(qtbot, window, [tmp_path])
    window.pane.view.selectRow(0)
    qtbot.waitUntil(lambda: has_image(window), timeout=10_000)
    action(window, "actionClearList").trigger()
    assert window.detail.preview.text() == "No image selected"
    assert not has_image(window)
