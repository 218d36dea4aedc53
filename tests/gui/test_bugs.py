"""Bugs look like bugs in the window: a dialog with the traceback to copy, and a log record."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import logging
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from resnet_desktop.app.logs import BugReport
from resnet_desktop.cli import main as cli_main
from resnet_desktop.core.errors import UserError
from resnet_desktop.gui import app as app_module
from resnet_desktop.gui.app import BugReporter
from resnet_desktop.gui.messages import BugDialog, show_bug
from resnet_desktop.gui.workers import JobRunner
from tests.gui.imagefiles import write_noise_images


def _visible(widgets) -> list:
    return [widget for widget in widgets if widget.isVisible()]


def _top_level_bug_dialogs() -> list[BugDialog]:
    return _visible(w for w in QApplication.topLevelWidgets() if isinstance(w, BugDialog))


def _top_level_boxes() -> list[QMessageBox]:
    return _visible(w for w in QApplication.topLevelWidgets() if isinstance(w, QMessageBox))


def _bug_logged(caplog: pytest.LogCaptureFixture, error_type: type[BaseException]) -> bool:
    return any(
        record.levelno == logging.ERROR
        and record.exc_info is not None
        and isinstance(record.exc_info[1], error_type)
        for record in caplog.records
    )


def test_a_job_with_a_bug_shows_the_bug_dialog_whose_copy_puts_the_traceback_on_the_clipboard(
    qtbot, caplog
):
    def job_with_a_bug(_stop):
        yield 1
        raise KeyError("label")  # once counted as the user's error; a bug in our code

    parent = QWidget()
    qtbot.addWidget(parent)
    runner = JobRunner(parent)
    events: list[tuple[str, object]] = []
    runner.failed.connect(lambda message: events.append(("failed", message)))
    runner.finished.connect(lambda completed: events.append(("finished", completed)))
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.start(job_with_a_bug)
    qtbot.waitUntil(lambda: bool(_visible(parent.findChildren(BugDialog))), timeout=5_000)

    assert events == [("finished", False)]  # not a calm message to show in the page
    dialog = parent.findChild(BugDialog, "bugDialog")
    assert dialog.report.message.startswith("KeyError: 'label' — this is a bug")
    assert _bug_logged(caplog, KeyError)
    QGuiApplication.clipboard().clear()
    dialog.copy_button.click()
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith(dialog.report.message)
    assert "Traceback (most recent call last)" in copied and "in job_with_a_bug" in copied
    assert dialog.isVisible()  # copying leaves it open
    dialog.close()
    assert runner.shutdown(5_000)


def test_a_user_error_in_a_job_is_a_message_and_no_bug_dialog(qtbot, caplog):
    def refusing(_stop):
        raise UserError("the folder has no class sub-folders")
        yield

    parent = QWidget()
    qtbot.addWidget(parent)
    runner = JobRunner(parent)
    messages: list[str] = []
    runner.failed.connect(messages.append)
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.start(refusing)
    qtbot.wait(50)
    assert messages == ["the folder has no class sub-folders"]
    assert not parent.findChildren(BugDialog)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


def test_a_bug_while_adding_images_shows_the_bug_dialog_not_a_message(
    qtbot, window, tmp_path: Path, monkeypatch
):
    write_noise_images(tmp_path, 2)

    def broken_scan(*args, **kwargs):
        raise RuntimeError("walk went wrong")

    monkeypatch.setattr("resnet_desktop.app.classify.scan_images", broken_scan)
    window.add_paths([tmp_path])
    qtbot.waitUntil(lambda: bool(_visible(window.findChildren(BugDialog))), timeout=10_000)
    assert not _visible(window.findChildren(QMessageBox))
    dialog = window.findChild(BugDialog)
    assert "RuntimeError: walk went wrong — this is a bug" in dialog.report.message
    dialog.close()


def test_a_missing_folder_is_a_message_in_the_window_not_a_bug(qtbot, window, tmp_path: Path):
    window.add_paths([tmp_path / "gone"])
    qtbot.waitUntil(lambda: bool(_visible(window.findChildren(QMessageBox))), timeout=10_000)
    box = _visible(window.findChildren(QMessageBox))[0]
    assert box.text() == f"no such file or folder: {tmp_path / 'gone'}"
    assert not window.findChildren(BugDialog)
    box.close()


@pytest.fixture
def reporter(qtbot):
    """A BugReporter installed for the test, then the previous hooks back."""
    installed = BugReporter()
    installed.install()
    yield installed
    installed.uninstall()
    for widget in _top_level_bug_dialogs() + _top_level_boxes():
        widget.close()


def test_an_exception_in_a_slot_is_logged_and_shown_as_a_bug(qtbot, reporter, caplog):
    def slot_with_a_bug() -> None:
        raise ZeroDivisionError("division by zero in a slot")

    QTimer.singleShot(0, slot_with_a_bug)
    qtbot.waitUntil(lambda: bool(_top_level_bug_dialogs()), timeout=5_000)
    dialog = _top_level_bug_dialogs()[0]
    assert "ZeroDivisionError: division by zero in a slot — this is a bug" in dialog.report.message
    assert "in slot_with_a_bug" in dialog.report.details
    assert _bug_logged(caplog, ZeroDivisionError)


def test_an_exception_in_a_thread_is_shown_as_a_bug_on_the_gui_thread(qtbot, reporter, caplog):
    def thread_with_a_bug() -> None:
        raise IndexError("list index out of range")

    thread = threading.Thread(target=thread_with_a_bug, name="helper")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: bool(_top_level_bug_dialogs()), timeout=5_000)
    dialog = _top_level_bug_dialogs()[0]
    assert dialog.report.message.startswith("IndexError: list index out of range")
    assert _bug_logged(caplog, IndexError)


def test_a_user_error_escaping_a_slot_is_a_plain_message(qtbot, reporter, caplog):
    def slot() -> None:
        raise UserError("no model selected")

    QTimer.singleShot(0, slot)
    qtbot.waitUntil(lambda: bool(_top_level_boxes()), timeout=5_000)
    assert _top_level_boxes()[0].text() == "no model selected"
    assert not _top_level_bug_dialogs()
    assert not _bug_logged(caplog, Exception)


def test_a_bug_starting_the_window_is_one_line_and_a_logged_traceback(monkeypatch, capsys):
    def no_display(*args, **kwargs):
        raise RuntimeError("could not connect to display")

    monkeypatch.setattr(app_module, "run_app", no_display)
    assert cli_main(["photo.jpg"]) == 1
    log_file = Path(os.environ["RESNET_DESKTOP_DATA_DIR"]) / "logs" / "resnet-desktop.log"
    assert capsys.readouterr().err.splitlines() == [
        f"error: RuntimeError: could not connect to display — this is a bug; details in {log_file}"
    ]
    assert "in no_display" in log_file.read_text(encoding="utf-8")


def test_the_bug_dialog_opens_without_blocking(qtbot):
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = show_bug(parent, BugReport("TypeError: x — this is a bug; details in f", "tb"))
    assert dialog.isVisible() and dialog.parent() is parent  # open() returned at once
    dialog.close()
