"""The main window end to end with the real core and a tiny model (random CIFAR ResNet-20)."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QKeySequence, QPixmap
from PySide6.QtWidgets import QApplication, QDialog, QFileDialog, QMessageBox, QWidget

from resnet_desktop.app.identity import identity_for
from resnet_desktop.cli import main as cli_main
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.catalog_schema import APPLICATION_ID
from resnet_desktop.core.export import csv_text
from resnet_desktop.core.settings import load_settings
from resnet_desktop.gui import main_window as main_window_module
from resnet_desktop.gui.main_window import MainWindow
from resnet_desktop.gui.results_model import NOT_CLASSIFIED, Column, ResultsModel
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


def set_runtime(window: MainWindow, **choices: object) -> None:
    """Change some runtime choices, as Edit → Preferences does."""
    window.options.set_runtime(dataclasses.replace(window.options.runtime(), **choices))


def action(window: MainWindow, name: str) -> QAction:
    found = window.findChild(QAction, name)
    assert found is not None, name
    return found


def rows(qtbot, results: ResultsModel) -> list:
    """Every row of the table, once the pages that hold them have come."""
    qtbot.waitUntil(lambda: all(results.row_at(n) for n in range(len(results))), timeout=5000)
    return [results.row_at(n) for n in range(len(results))]


def column(results: ResultsModel, name: Column) -> list:
    return [results.index(n, name).data() for n in range(results.rowCount())]


def row_of(qtbot, results: ResultsModel, path: Path) -> int:
    return [row.path for row in rows(qtbot, results)].index(path)


def has_image(window: MainWindow) -> bool:
    """Whether the detail panel's preview shows an image (not its placeholder text)."""
    return not window.detail.preview.pixmap().isNull()


def export_to(window: MainWindow, monkeypatch: pytest.MonkeyPatch, name: str, path: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    action(window, name).trigger()


def export_and_wait(qtbot, window, monkeypatch, name: str, path: Path) -> list[str]:
    export_to(window, monkeypatch, name, path)
    qtbot.waitUntil(lambda: "Exported" in window.statusBar().currentMessage(), timeout=10_000)
    return path.read_text(encoding="utf-8").splitlines()


def show_and_wait(qtbot, window: MainWindow, change) -> None:
    """Make a change that asks for a new view, and wait until the table shows it."""
    with qtbot.waitSignal(window.viewShown, timeout=10_000):
        change()


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
    gui_rows = export_and_wait(qtbot, window, monkeypatch, "actionExportCsv", gui_csv)
    argv = ["predict", str(folder), "--model", "cifar_resnet20", "--weights", str(tiny_weights)]
    assert cli_main([*argv, "--precision", "fp32", "--csv", str(cli_csv)]) == 3  # one failed
    assert gui_rows == cli_csv.read_text(encoding="utf-8").splitlines()
    assert len(gui_rows) == 32
    assert next(row for row in gui_rows if "broken.jpg" in row).endswith('not supported"')


def test_broken_file_shows_an_error_row_with_the_reason(qtbot, window: MainWindow, tmp_path):
    good = write_noise_images(tmp_path, 2)
    broken = write_broken_image(tmp_path, "notes.jpg")
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    results = window.results
    row = row_of(qtbot, results, broken)
    label = results.index(row, Column.LABEL)
    assert label.data() == "Error"
    assert isinstance(label.data(Qt.ItemDataRole.DecorationRole), QPixmap)
    tooltip = results.index(row, Column.FILE).data(Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith("notes.jpg: ") and "not an image" in tooltip
    assert all(results.row_at(row_of(qtbot, results, p)).prediction.ok for p in good)
    window.pane.view.selectRow(row)
    assert "not an image" in window.detail.status.text()
    assert window.detail.bars.bars() == []


def test_stop_ends_the_run_within_a_batch(qtbot, window: MainWindow, tmp_path: Path):
    write_noise_images(tmp_path, 200, size=96)
    add_and_wait(qtbot, window, [tmp_path])
    set_runtime(window, batch_size=8)
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


def test_closing_mid_run_keeps_what_was_computed_and_joins_every_worker(
    qtbot, window: MainWindow, tmp_path, tiny_model: str
):
    images = write_noise_images(tmp_path, 200, size=96)
    add_and_wait(qtbot, window, [tmp_path])
    set_runtime(window, batch_size=8)
    threads_before = python_threads()
    batches: list = []
    window.batchClassified.connect(batches.append)
    with qtbot.waitSignal(window.batchClassified, timeout=RUN_TIMEOUT_MS):
        action(window, "actionClassify").trigger()
    assert python_threads() > threads_before  # the decoding pool is running
    window.close()
    assert python_threads() == threads_before
    assert not any(w.isRunning() for w in window.workers._workers)
    qtbot.waitUntil(lambda: len(window.workers) == 0, timeout=5000)

    with Catalog.open(app_paths.catalog_path()) as catalog:
        model = catalog.find_model(identity_for(tiny_model))
        stored = [path for path, result in catalog.results_for(images, model, 5) if result]
    shown = {p.path for batch in batches for p in batch.predictions}
    assert shown <= set(stored) and len(stored) < 200  # every batch seen, and no more than
    assert len(stored) - len(shown) <= 8  # the one in flight at the close


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

    show_and_wait(qtbot, window, lambda: window.options.top_k_spin.setValue(3))
    assert classify_and_wait(qtbot, window) == []  # five classes are stored: none to compute
    assert all(len(row.prediction.labels) == 3 for row in rows(qtbot, window.results))
    window.options.top_k_spin.setValue(7)  # more than stored: everything again
    third = classify_and_wait(qtbot, window)
    assert third[-1].total == 7
    assert all(len(p.labels) == 7 for b in third for p in b.predictions)


def test_copy_puts_the_selected_rows_on_the_clipboard(qtbot, window: MainWindow, tmp_path):
    write_noise_images(tmp_path, 4)
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    QApplication.clipboard().clear()
    view = window.pane.view
    view.selectRow(0)
    view.selectionModel().select(
        window.results.index(2, 0),
        view.selectionModel().SelectionFlag.Select | view.selectionModel().SelectionFlag.Rows,
    )
    view.setFocus()
    qtbot.keyClick(view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    shown = rows(qtbot, window.results)
    expected = csv_text([shown[0].prediction, shown[2].prediction], 5)
    qtbot.waitUntil(lambda: QApplication.clipboard().text() == expected, timeout=5000)
    assert expected.count("\n") == 3


def test_filters_sort_and_filtered_export_in_the_tables_order(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
):
    write_noise_images(tmp_path / "in", 20)
    add_and_wait(qtbot, window, [tmp_path / "in"])
    classify_and_wait(qtbot, window)
    everything = rows(qtbot, window.results)
    label = everything[0].prediction.labels[0]
    show_and_wait(qtbot, window, lambda: qtbot.keyClicks(window.pane.label_filter, label.upper()))
    shown = column(window.results, Column.LABEL)
    assert shown and all(label in text for text in shown) and len(shown) <= 20

    show_and_wait(qtbot, window, window.pane.label_filter.clear)
    show_and_wait(qtbot, window, lambda: window.pane.confidence_filter.setValue(30))
    passing = [row for row in everything if row.prediction.probs[0] >= 0.3]
    show_and_wait(
        qtbot,
        window,
        lambda: window.pane.view.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder),
    )
    by_confidence = sorted(passing, key=lambda row: -row.prediction.probs[0])
    assert [row.path for row in rows(qtbot, window.results)] == [r.path for r in by_confidence]
    out = tmp_path / "filtered.csv"
    if passing:
        lines = export_and_wait(qtbot, window, monkeypatch, "actionExportFilteredCsv", out)
        assert [line.split(",")[0] for line in lines[1:]] == [str(r.path) for r in by_confidence]
    else:  # nothing passes: nothing is exported and the user is told
        export_to(window, monkeypatch, "actionExportFilteredCsv", out)
        assert not out.exists() and "Nothing to export" in window.statusBar().currentMessage()
    every = export_and_wait(qtbot, window, monkeypatch, "actionExportCsv", tmp_path / "all.csv")
    assert len(every) == 21  # all rows, the filter aside


def test_sorting_by_confidence_is_numeric(qtbot, window: MainWindow, tmp_path: Path):
    write_noise_images(tmp_path, 12)
    add_and_wait(qtbot, window, [tmp_path])
    classify_and_wait(qtbot, window)
    view = window.pane.view
    show_and_wait(
        qtbot, window, lambda: view.sortByColumn(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    )
    values = [row.prediction.probs[0] for row in rows(qtbot, window.results)]
    assert values == sorted(values, reverse=True)


def test_thumbnails_load_only_for_visible_rows_and_the_preview_follows(
    qtbot, window: MainWindow, tmp_path: Path
):
    write_noise_images(tmp_path, 150)
    requested: list[Path] = []
    window.results.thumbnailNeeded.connect(requested.append)
    add_and_wait(qtbot, window, [tmp_path])
    results = window.results

    def first_thumbnail() -> object:
        return results.index(0, Column.THUMBNAIL).data(Qt.ItemDataRole.DecorationRole)

    qtbot.waitUntil(lambda: isinstance(first_thumbnail(), QPixmap), timeout=10_000)
    assert 0 < len(set(requested)) < 60  # what fits on screen, not all 150
    window.pane.view.selectRow(3)
    qtbot.waitUntil(lambda: has_image(window), timeout=10_000)
    assert window.detail.path == results.row_at(window.pane.current_row()).path
    assert window.detail.status.text() == "Not classified yet"


# --- models and the catalog -------------------------------------------------------------------


def _five_class_model(tmp_path: Path, name: str) -> None:
    """A library model with other classes than ``tiny``, as the fine-tune wizard saves one."""
    import torch

    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    weights = tmp_path / f"{name}.pth"
    torch.save(build_network(get_spec("cifar_resnet20"), 5).state_dict(), weights)
    classes = ["daisy", "dandelion", "rose", "sunflower", "tulip"]
    ModelLibrary().import_file(weights, "cifar_resnet20", classes, name)


def test_a_model_switch_never_shows_another_models_labels(
    qtbot, window: MainWindow, tmp_path: Path, tiny_model: str, monkeypatch
):
    write_noise_images(tmp_path / "photos", 10)
    add_and_wait(qtbot, window, [tmp_path / "photos"])
    classify_and_wait(qtbot, window)
    tiny_labels = column(window.results, Column.LABEL)
    assert NOT_CLASSIFIED not in tiny_labels

    # Fine-tune, then "Use this model now": a 5-class model with none of tiny's labels.
    _five_class_model(tmp_path, "flowers")
    monkeypatch.setattr(main_window_module, "FineTuneWizard", _FakeWizard)
    action(window, "actionFineTune").trigger()
    window.findChild(_FakeWizard).modelSaved.emit("flowers", True)
    qtbot.waitUntil(lambda: window.results.query.model == "flowers", timeout=10_000)
    assert window.status.model_label.text() == "Model: flowers"
    assert column(window.results, Column.LABEL) == [NOT_CLASSIFIED] * 10
    assert column(window.results, Column.CONFIDENCE) == [""] * 10
    assert window.status.counts_label.text() == "10 images · 0 done · 0 failed"
    window.pane.view.selectRow(0)
    assert window.detail.status.text() == "Not classified yet"
    export_to(window, monkeypatch, "actionExportCsv", tmp_path / "flowers.csv")
    assert "Nothing to export" in window.statusBar().currentMessage()
    assert not (tmp_path / "flowers.csv").exists()

    classify_and_wait(qtbot, window)
    flower_labels = set(column(window.results, Column.LABEL))
    assert flower_labels <= {"daisy", "dandelion", "rose", "sunflower", "tulip"}

    # Back to tiny: its stored labels at once, without classifying again.
    runs: list[bool] = []
    window.runFinished.connect(runs.append)
    window.select_model(tiny_model)
    qtbot.waitUntil(lambda: column(window.results, Column.LABEL) == tiny_labels, timeout=10_000)
    assert runs == []


def test_a_new_window_shows_what_the_catalog_knows_at_once(qtbot, tiny_model: str, tmp_path):
    images = write_noise_images(tmp_path, 8)
    first = MainWindow()
    qtbot.addWidget(first)
    first.show()
    qtbot.waitUntil(lambda: first.selector.findData(tiny_model) >= 0, timeout=10_000)
    first.select_model(tiny_model)
    add_and_wait(qtbot, first, [tmp_path])
    classify_and_wait(qtbot, first)
    labels = column(first.results, Column.LABEL)
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    second.show()
    add_and_wait(qtbot, second, images)
    qtbot.waitUntil(lambda: column(second.results, Column.LABEL) == labels, timeout=10_000)
    assert second.status.counts_label.text() == "8 images · 8 done · 0 failed"
    second.close()


def _write_newer_catalog(path: Path) -> None:
    with Catalog.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 99")
    db.close()


def _catalog_box(qtbot, window: MainWindow) -> QMessageBox:
    qtbot.waitUntil(
        lambda: bool(window.findChildren(QMessageBox, "catalogProblem")), timeout=10_000
    )
    return window.findChildren(QMessageBox, "catalogProblem")[0]


def test_a_damaged_catalog_at_start_is_explained_and_can_be_replaced(
    qtbot, window: MainWindow, tmp_path: Path
):
    window.close()
    default = app_paths.catalog_path()
    default.write_bytes(b"not a catalog at all " * 50)
    broken = MainWindow()
    qtbot.addWidget(broken)
    broken.show()
    box = _catalog_box(qtbot, broken)
    assert "damaged" in box.text() and str(default) in box.text()
    assert "kept beside it" in box.informativeText()
    qtbot.waitUntil(lambda: broken.catalog.temporary, timeout=5000)
    assert broken.status.catalog_label.text() == "Catalog: temporary"
    add_and_wait(qtbot, broken, write_noise_images(tmp_path, 3))  # the window works
    assert broken.results.rowCount() == 3

    start = next(b for b in box.buttons() if b.text() == "Start a New Catalog")
    start.click()
    qtbot.waitUntil(lambda: broken.catalog.path == default, timeout=5000)
    assert broken.status.catalog_label.text() == f"Catalog: {default.name}"
    aside = list(default.parent.glob(f"{default.name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"not a catalog")
    assert broken.results.rowCount() == 3  # the list stayed
    with Catalog.open(default) as catalog:
        assert catalog.check() == []
    broken.close()


def test_a_catalog_from_a_newer_version_is_refused_clearly_and_left_alone(qtbot, tmp_path):
    default = app_paths.catalog_path()
    default.parent.mkdir(parents=True, exist_ok=True)
    _write_newer_catalog(default)
    before = default.read_bytes()
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    box = _catalog_box(qtbot, window)
    assert "newer version" in box.text() and "kept only until you quit" in box.text()
    assert [b.text() for b in box.buttons()] == ["OK"]
    qtbot.waitUntil(lambda: window.catalog.temporary, timeout=5000)
    window.close()
    assert default.read_bytes() == before


def test_a_new_catalog_takes_the_list_along_and_is_remembered(
    qtbot, window: MainWindow, tmp_path: Path, monkeypatch
):
    add_and_wait(qtbot, window, write_noise_images(tmp_path / "imgs", 3))
    classify_and_wait(qtbot, window)
    chosen = tmp_path / "project" / "results.sqlite3"
    chosen.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(chosen), ""))
    with qtbot.waitSignal(window.viewShown, timeout=10_000):
        action(window, "actionNewCatalog").trigger()
    assert window.catalog.path == chosen and chosen.exists()
    assert window.status.catalog_label.text() == "Catalog: results.sqlite3"
    assert column(window.results, Column.LABEL) == [NOT_CLASSIFIED] * 3  # a new, empty one
    action(window, "actionNewCatalog").trigger()  # it exists now: open it instead, it says
    assert "already exists" in window.statusBar().currentMessage()
    window.close()
    assert load_settings().catalog == str(chosen)


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
    for name in (
        "actionFineTune",
        "actionEvaluate",
        "actionAbout",
        "actionAddImages",
        "actionOpenCatalog",
        "actionNewCatalog",
    ):
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
    set_runtime(first, batch_size=16, precision="bf16", engine="openvino")
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
    second.close()  # its listing thread runs from the start: close it, as the app does


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

    set_runtime(window, engine="torch", batch_size=12)
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
    show_and_wait(qtbot, window, action(window, "actionClearList").trigger)
    assert window.detail.preview.text() == "No image selected"
    assert not has_image(window) and window.results.rowCount() == 0
