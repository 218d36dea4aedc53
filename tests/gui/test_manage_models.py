"""Model → Manage Models…: listing off the GUI thread, rename, class names, delete, export."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.gui.class_names_dialog import ClassNamesDialog
from resnet_desktop.gui.manage_models import ManageModelsDialog

TIMEOUT = 30_000


@pytest.fixture
def dialog(qtbot, tiny_model):
    dialog = ManageModelsDialog(current=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.listed, timeout=TIMEOUT):
        dialog.show()
    yield dialog
    dialog.close()


def cells(dialog: ManageModelsDialog, row: int = 0) -> list[str]:
    model = dialog.table_model
    return [model.index(row, column).data() for column in range(model.columnCount())]


def test_the_library_is_listed_in_a_worker(qtbot, tiny_model, monkeypatch):
    readers = []
    original = ModelLibrary.contents

    def recording(self):
        readers.append(threading.current_thread())
        return original(self)

    monkeypatch.setattr(ModelLibrary, "contents", recording)
    dialog = ManageModelsDialog()
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.listed, timeout=TIMEOUT):
        dialog.show()
    assert readers and threading.main_thread() not in readers
    dialog.close()


def test_each_model_shows_its_architecture_classes_and_source(dialog, qtmodeltester, tiny_model):
    qtmodeltester.check(dialog.table_model)
    name, architecture, classes, source, created, accuracy, threshold = cells(dialog)
    assert (name, classes, source) == (tiny_model, "10", "imported weights file")
    assert architecture == "CIFAR ResNet-20 (32x32)"
    assert created[:2] == "20" and accuracy == "" and threshold == ""
    assert "airplane" in dialog.table_model.index(0, 2).data(3)  # the tooltip names the classes
    assert dialog.status.text() == f"1 model in {ModelLibrary().root}"


def test_the_first_model_is_selected_and_the_buttons_need_one(dialog, tiny_model):
    assert dialog.selected().name == tiny_model
    assert dialog.rename_button.isEnabled() and dialog.export_button.isEnabled()
    dialog.table.clearSelection()
    assert not dialog.rename_button.isEnabled() and not dialog.delete_button.isEnabled()


def test_rename(qtbot, dialog, tiny_model):
    dialog.table.selectRow(0)
    dialog.rename_button.click()
    question = dialog.findChild(QInputDialog)
    question.setTextValue("renamed model")
    with qtbot.waitSignal(dialog.modelsChanged, timeout=TIMEOUT) as changed:
        question.accept()
    assert changed.args == ["renamed model"]  # the window's model: it selects the new name
    assert [m.name for m in ModelLibrary().list()] == ["renamed model"]
    assert cells(dialog)[0] == "renamed model"
    assert dialog.selected().name == "renamed model"


def test_a_refused_name_is_said_inline_and_changes_nothing(qtbot, dialog, tiny_model):
    dialog.table.selectRow(0)
    dialog.rename_button.click()
    question = dialog.findChild(QInputDialog)
    question.setTextValue("resnet50")
    with qtbot.waitSignal(dialog.runner.finished, timeout=TIMEOUT):
        question.accept()
    assert "built-in architecture" in dialog.error.text() and dialog.error.isVisibleTo(dialog)
    assert [m.name for m in ModelLibrary().list()] == [tiny_model]


def test_edit_class_names(qtbot, dialog, tiny_model):
    dialog.table.selectRow(0)
    dialog.classes_button.click()
    editor = dialog.findChild(ClassNamesDialog)
    names = [f"thing {index}" for index in range(10)]
    editor.editor.setPlainText("\n".join(names))
    editor.editor.setPlainText("\n".join(names[:9]))  # one short: cannot be saved
    assert not editor.ok_button.isEnabled() and "9 names for 10 classes" in editor.error.text()
    editor.editor.setPlainText("\n".join(names))
    with qtbot.waitSignal(dialog.modelsChanged, timeout=TIMEOUT) as changed:
        editor.accept()
    assert changed.args == [None]
    assert list(ModelLibrary().get(tiny_model).class_names) == names


def test_delete_asks_first(qtbot, dialog, tiny_model):
    dialog.table.selectRow(0)
    dialog.delete_button.click()
    box = dialog.findChild(QMessageBox)
    assert tiny_model in box.text()
    box.button(QMessageBox.StandardButton.Cancel).click()
    qtbot.wait(100)
    assert tiny_model in ModelLibrary()
    dialog.delete_button.click()
    box = next(b for b in dialog.findChildren(QMessageBox) if b.isVisible())
    with qtbot.waitSignal(dialog.modelsChanged, timeout=TIMEOUT):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert ModelLibrary().list() == []
    assert dialog.table_model.rowCount() == 0 and "No models" in dialog.status.text()


def test_a_damaged_entry_is_greyed_with_the_reason_and_can_be_deleted(qtbot, tiny_model):
    """A JSON file that cannot be used is listed after the models, greyed with why; only
    Delete… acts on it, after asking, and its file goes (the CLI's ``models remove``)."""
    library = ModelLibrary()
    (library.root / "broken.json").write_text("{not json", encoding="utf-8")
    dialog = ManageModelsDialog(current=tiny_model)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.listed, timeout=TIMEOUT):
        dialog.show()
    assert dialog.table_model.rowCount() == 2 and cells(dialog, 0)[0] == tiny_model
    name, problem, *_ = cells(dialog, 1)
    assert name == "broken" and problem.startswith("Damaged: Expecting property name")
    foreground = [dialog.table_model.index(row, 0).data(Qt.ItemDataRole.ForegroundRole)
                  for row in (0, 1)]  # fmt: skip
    assert foreground[0] is None and foreground[1] is not None  # greyed
    assert "1 damaged entry" in dialog.status.text()
    dialog.table.selectRow(1)
    assert dialog.delete_button.isEnabled()
    others = (dialog.rename_button, dialog.classes_button, dialog.threshold_button)
    assert not any(button.isEnabled() for button in (*others, dialog.export_button))
    dialog.delete_button.click()
    box = dialog.findChild(QMessageBox)
    assert "damaged entry “broken”" in box.text() and "Expecting property name" in box.text()
    with qtbot.waitSignal(dialog.modelsChanged, timeout=TIMEOUT):
        box.button(QMessageBox.StandardButton.Yes).click()
    assert library.damaged() == [] and not (library.root / "broken.json").exists()
    assert [m.name for m in library.list()] == [tiny_model]
    assert dialog.table_model.rowCount() == 1 and "damaged" not in dialog.status.text()
    dialog.close()


def test_show_files_opens_the_library_folder(dialog, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", opened.append)
    dialog.reveal_button.click()
    assert [url.toLocalFile() for url in opened] == [str(ModelLibrary().root)]


def test_export_writes_the_files_in_a_worker(qtbot, dialog, tiny_model, tmp_path, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_: str(tmp_path))
    dialog.table.selectRow(0)
    action = dialog.export_button.menu().findChild(QAction, "export_onnx")
    with qtbot.waitSignal(dialog.runner.finished, timeout=TIMEOUT):
        action.trigger()
    assert (tmp_path / f"{tiny_model}.onnx").is_file()
    assert (tmp_path / f"{tiny_model}.classes.txt").is_file()
    assert "Exported to" in dialog.status.text() and not dialog.error.text()


def test_the_window_keeps_its_model_selected_through_a_rename(qtbot, window, tiny_model):
    window.named_actions["actionManageModels"].trigger()
    dialog = window.findChild(ManageModelsDialog)
    qtbot.waitUntil(lambda: dialog.selected() is not None, timeout=TIMEOUT)
    assert dialog.selected().name == tiny_model
    dialog.rename_button.click()
    question = dialog.findChild(QInputDialog)
    question.setTextValue("tiny two")
    question.accept()
    qtbot.waitUntil(lambda: window.selector.current_model() == "tiny two", timeout=TIMEOUT)
