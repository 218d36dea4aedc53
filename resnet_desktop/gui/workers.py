"""One worker abstraction: a QThread that runs a core generator and reports on the GUI thread.

The core does long work as plain generators that take a ``should_stop`` callable
(``Predictor.predict_iter``, ``trainer.fit`` ...). A :class:`GeneratorWorker` runs such a
generator off the GUI thread and emits every yielded item; Qt queues the signals to the
receivers' (GUI) thread. :class:`WorkerSet` keeps running workers referenced until they
finish and lets the window stop and join them all when it closes. :class:`JobRunner`
runs one job at a time for a dialog whose runs can be stopped, restarted or abandoned.

A job that raises a :class:`UserError` reports its message through ``failed``, for the
receiver to show its own way. Any other exception is a bug: the worker logs it and the
:class:`WorkerSet` shows the bug dialog itself, so no receiver can show it as a calm
message, and the receivers only see the run end (``done(False)``).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal
from PySide6.QtWidgets import QWidget

from resnet_desktop.app.logs import BugReport, report_bug
from resnet_desktop.core.errors import (
    REMEDY_CPU,
    REMEDY_ENGINE_OPENVINO,
    REMEDY_ENGINE_TORCH,
    REMEDY_LIBRARY_REMOVE,
    REMEDY_NO_WEIGHTS,
    REMEDY_SORT_COPY_OR_LINK,
    REMEDY_SORT_FINISH_UNDO,
    REMEDY_SORT_SAME_MODE,
    REMEDY_WEIGHTS_FILE,
    UserError,
    user_message,
)
from resnet_desktop.gui.messages import show_bug

# A job receives ``should_stop`` and returns an iterable of progress items/results.
Job = Callable[[Callable[[], bool]], Iterable[Any]]
# How the window words the ways to fix an error: its menu items, not the command line's flags.
REMEDIES = {
    REMEDY_WEIGHTS_FILE: "or choose it with Model → Import Weights File…",
    REMEDY_NO_WEIGHTS: "so import one with Model → Import Weights File…",
    REMEDY_CPU: "so choose Processor (CPU) in Edit → Preferences…",
    REMEDY_ENGINE_TORCH: "so choose PyTorch in Edit → Preferences…",
    REMEDY_ENGINE_OPENVINO: "so choose Automatic or OpenVINO in Edit → Preferences…",
    REMEDY_SORT_COPY_OR_LINK: "so choose Copy or Link in File → Sort into Folders…, or sort "
    "the file it points to",
    REMEDY_SORT_SAME_MODE: "so sort by {mode} again to finish it, or undo it with "
    "Edit → Undo Sort… on that folder",
    REMEDY_SORT_FINISH_UNDO: "so finish it with Edit → Undo Sort… on that folder",
    REMEDY_LIBRARY_REMOVE: "so remove it in Model → Manage Models… and import the model again",
}
Remedies = Mapping[str, str]


class GeneratorWorker(QThread):
    """Runs ``job(should_stop)`` in its own thread.

    Signals:
        yielded(object): each item the job yields.
        failed(str): the job raised a UserError; the argument is its message.
        crashed(BugReport): the job raised anything else, a bug (already logged).
        done(bool): always last; True when the job ran to the end, False if stopped/failed.
    """

    yielded = Signal(object)
    failed = Signal(str)
    crashed = Signal(object)
    done = Signal(bool)

    def __init__(
        self, job: Job, parent: QObject | None = None, remedies: Remedies = REMEDIES
    ) -> None:
        super().__init__(parent)
        self._job = job
        self._remedies = remedies  # how a user error's remedy is worded where it is shown
        self._stop = threading.Event()

    def stop(self) -> None:
        """Ask the job to stop at its next ``should_stop`` check.

        The job is still drained rather than abandoned: the core's generators answer a
        stop by yielding a last item (the best epoch so far, a partial report), which
        must reach the receiver.
        """
        self._stop.set()

    def should_stop(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        completed = False
        try:
            for item in self._job(self.should_stop):
                self.yielded.emit(item)
            completed = not self._stop.is_set()
        except UserError as error:
            self.failed.emit(user_message(error, self._remedies))
        except Exception as error:  # a bug: logged, and shown as one
            self.crashed.emit(report_bug(error, f"running {_name_of(self._job)}"))
        self.done.emit(completed)


class WorkerSet(QObject):
    """Keeps workers alive while they run; stops and joins them all on shutdown.

    A worker's bug is shown in the bug dialog, over the window this set belongs to.
    """

    def __init__(self, parent: QObject | None = None, remedies: Remedies = REMEDIES) -> None:
        super().__init__(parent)
        self._workers: set[GeneratorWorker] = set()
        self._remedies = remedies

    def start(
        self,
        job: Job,
        *,
        yielded: Callable[[Any], None] | None = None,
        failed: Callable[[str], None] | None = None,
        done: Callable[[bool], None] | None = None,
    ) -> GeneratorWorker:
        """Create a worker, connect the given slots, then start it (so nothing is missed)."""
        worker = GeneratorWorker(job, remedies=self._remedies)
        slots = ((worker.yielded, yielded), (worker.failed, failed), (worker.done, done))
        for signal, slot in slots:
            if slot is not None:
                signal.connect(slot)
        worker.crashed.connect(self._show_bug)
        self._workers.add(worker)
        worker.finished.connect(lambda w=worker: self._forget(w))
        worker.start()
        return worker

    def _show_bug(self, report: BugReport) -> None:
        show_bug(_widget_of(self), report)

    def _forget(self, worker: GeneratorWorker) -> None:
        self._workers.discard(worker)
        worker.deleteLater()

    def __len__(self) -> int:
        return len(self._workers)

    def stop_all(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker and wait for it; True if all finished in time."""
        for worker in list(self._workers):
            worker.stop()
        finished = True
        for worker in list(self._workers):
            finished = worker.wait(timeout_ms) and finished
        return finished


def _name_of(job: Job) -> str:
    return getattr(job, "__qualname__", type(job).__name__)


def _widget_of(owner: QObject) -> QWidget | None:
    """The nearest widget among ``owner``'s parents, to put a dialog over."""
    parent = owner.parent()
    while parent is not None and not isinstance(parent, QWidget):
        parent = parent.parent()
    return parent


class JobRunner(QObject):
    """Runs one core generator at a time, for a dialog that can stop, restart or close.

    :meth:`request_stop` lets the job wind down and still delivers its final item (a
    cancelled FitResult keeps its best epoch). :meth:`abandon` stops it too but drops
    whatever it still reports, so a restarted run never sees the previous one's output.

    Signals:
        item(object): each item the current job yields.
        failed(str): the current job raised a UserError; its message. (A bug is shown
            in the bug dialog; the run then just finishes.)
        finished(bool): the current job ended (True: it ran to its end).
    """

    item = Signal(object)
    failed = Signal(str)
    finished = Signal(bool)

    def __init__(self, parent: QObject | None = None, remedies: Remedies = REMEDIES) -> None:
        super().__init__(parent)
        self._workers = WorkerSet(self, remedies)
        self._run = 0
        self._worker: GeneratorWorker | None = None

    @property
    def running(self) -> bool:
        return self._worker is not None

    @property
    def worker(self) -> GeneratorWorker | None:
        """The current run's thread (tests check that closing a window ends it)."""
        return self._worker

    def start(self, job: Job) -> None:
        """Abandon any current run and start ``job``."""
        self.abandon()
        self._run += 1
        run = self._run
        self._worker = self._workers.start(
            job,
            yielded=functools.partial(self._relay_item, run),
            failed=functools.partial(self._relay_failed, run),
            done=functools.partial(self._relay_done, run),
        )

    def request_stop(self) -> None:
        """Ask the job to finish early; its final item (e.g. a cancelled report) still comes."""
        if self._worker is not None:
            self._worker.stop()

    def abandon(self) -> None:
        """Stop the current run without waiting; nothing more is reported from it."""
        if self._worker is not None:
            self._worker.stop()
        self._worker = None
        self._run += 1

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every run and wait for its thread (closing a window); True if all ended."""
        self.abandon()
        return self._workers.stop_all(timeout_ms)

    def _relay_item(self, run: int, item: object) -> None:
        if run == self._run:
            self.item.emit(item)

    def _relay_failed(self, run: int, message: str) -> None:
        if run == self._run:
            self.failed.emit(message)

    def _relay_done(self, run: int, completed: bool) -> None:
        if run == self._run:
            self._worker = None
            self.finished.emit(completed)
