"""GUI tests: offscreen Qt, Qt warnings fail the test, and no test may leave a thread running."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import gc
import weakref
from pathlib import Path

import pytest
from PySide6.QtCore import QThread, QThreadPool

from resnet_desktop.core.runtime import RuntimeOptions
from tests.gui.threads import python_threads

HERE = Path(__file__).parent
GRACE_MS = 1000
# Harmless notes of the offscreen platform, not problems of the app.
IGNORED_QT_MESSAGES = (
    r"This plugin does not support propagateSizeHints\(\)",
    r"This plugin does not support raise\(\)",
    r"This plugin does not support grabbing the keyboard",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail every GUI test on a Qt warning (pytest-qt's qt_log_level_fail, for this folder)."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*IGNORED_QT_MESSAGES))


@pytest.fixture(autouse=True)
def _no_dangling_threads(monkeypatch: pytest.MonkeyPatch):
    """Fail a test that leaves a QThread, a QThreadPool task or a Python thread running.

    Runs its check after pytest-qt has closed the test's widgets, so a window that stops
    and joins its workers in ``closeEvent`` passes and one that leaks them fails.
    """
    started: weakref.WeakSet[QThread] = weakref.WeakSet()
    pools: weakref.WeakSet[QThreadPool] = weakref.WeakSet()
    original_start, original_pool_start = QThread.start, QThreadPool.start

    def tracked_start(self: QThread, *args: object) -> None:
        started.add(self)
        original_start(self, *args)

    def tracked_pool_start(self: QThreadPool, *args: object) -> None:
        pools.add(self)
        original_pool_start(self, *args)

    monkeypatch.setattr(QThread, "start", tracked_start)
    monkeypatch.setattr(QThreadPool, "start", tracked_pool_start)
    threads_before = python_threads()
    yield
    gc.collect()  # Qt objects in reference cycles are freed here, on the GUI thread
    running = [thread for thread in list(started) if _still_running(thread)]
    busy = [pool for pool in list(pools) if _still_busy(pool)]
    extra = python_threads() - threads_before
    assert not running, f"QThreads still running after the test: {running}"
    assert not busy, "a QThreadPool still runs tasks after the test"
    assert not extra, f"Python threads still running after the test: {extra}"


def _still_running(thread: QThread) -> bool:
    """Running after a grace period: a worker emits its last signal just before it ends."""
    try:
        return not thread.wait(GRACE_MS)
    except RuntimeError:  # the C++ object is gone: it finished and was deleted
        return False


def _still_busy(pool: QThreadPool) -> bool:
    try:
        return not pool.waitForDone(GRACE_MS)
    except RuntimeError:
        return False


# --- fixtures shared by the window tests ------------------------------------------------


@pytest.fixture
def window(qtbot, tiny_model: str):
    """The main window on (offscreen) screen, model list loaded, ``tiny`` selected and its
    (empty) view of the catalog shown, CPU fp32."""
    from resnet_desktop.gui.main_window import MainWindow

    main = MainWindow()
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.selector.findData(tiny_model) >= 0, timeout=10_000)
    main.select_model(tiny_model)
    qtbot.waitUntil(lambda: main.results.query.identity is not None, timeout=10_000)
    main.options.set_runtime(RuntimeOptions(precision="fp32"))
    yield main
    main.close()
    qtbot.waitUntil(lambda: len(main.workers) == 0, timeout=10_000)
