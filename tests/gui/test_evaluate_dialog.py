"""The Evaluate dialog, the shared report widgets and the JobRunner's stop and restart."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything imports Qt

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from resnet_desktop.core.errors import UserError
from resnet_desktop.core.evaluate import evaluate
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.gui.evaluate_dialog import EvaluateDialog
from resnet_desktop.gui.evaluation_view import (
    ConfusionModel,
    EvalReportView,
    PerClassModel,
    percent,
)
from resnet_desktop.gui.gallery import Thumb, ThumbnailModel
from resnet_desktop.gui.workers import JobRunner
from tests.gui.test_wizard import CLASSES, write_colour_dataset

MODEL = "colour net"


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_colour_dataset(tmp_path / "colours")


def add_library_model(name: str, classes: list[str]) -> str:
    """An untrained cifar_resnet20 for ``classes``, in this test's library."""
    import torch

    from resnet_desktop.core.library import ModelLibrary
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    torch.manual_seed(0)
    spec = get_spec("cifar_resnet20")
    state = build_network(spec, len(classes)).state_dict()
    ModelLibrary().add(name, spec.name, state, classes, spec.preprocess)
    return name


@pytest.fixture
def colour_model() -> str:
    return add_library_model(MODEL, CLASSES)


@pytest.fixture
def dialog(qtbot, colour_model):
    dialog = EvaluateDialog(colour_model)
    qtbot.addWidget(dialog)
    dialog.show()
    yield dialog
    dialog.close()


def run(qtbot, dialog: EvaluateDialog, folder: Path) -> None:
    dialog.folder_edit.setText(str(folder))
    dialog.start_button.click()
    assert dialog.runner.running and not dialog.start_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.runner.running, timeout=60_000)


def test_evaluates_a_labelled_folder(qtbot, dialog, dataset, tmp_path):
    run(qtbot, dialog, dataset)
    report = dialog.report
    assert report is not None and not report.cancelled
    assert report.total == 36 and not dialog.error.text()
    view = dialog.report_view
    assert percent(report.accuracy) in view.summary.text()
    assert view.confusion.rowCount() == 3 and view.confusion.columnCount() == 3
    cells = [int(view.confusion.index(r, c).data()) for r in range(3) for c in range(3)]
    assert sum(cells) == 36
    row_totals = [view.per_class.index(r, 4).data() for r in range(3)]
    assert row_totals == ["12", "12", "12"]
    assert view.gallery.thumbnails.rowCount() == len(report.misclassified)
    assert dialog.start_button.isEnabled() and not dialog.stop_button.isEnabled()
    dialog.report_view.tabs.setCurrentIndex(1)
    assert dialog.grab().save(str(tmp_path / "evaluate.png"))


def test_folder_names_outside_the_model_are_an_inline_error(qtbot, dialog, tmp_path):
    folder = write_colour_dataset(tmp_path / "other", per_class=2, classes={"purple": (90, 0, 90)})
    run(qtbot, dialog, folder)
    assert "purple" in dialog.error.text()
    assert dialog.error.isVisible()
    assert dialog.report is None


def test_the_evaluation_runs_as_the_runtime_says(qtbot, colour_model, dataset, monkeypatch):
    from resnet_desktop.gui import evaluate_dialog

    runtime = RuntimeOptions(device="cpu", precision="fp32", engine="torch", batch_size=5)
    used: list[RuntimeOptions] = []

    def recording_evaluate(model, folder, options, **kwargs):
        used.append(options)
        return evaluate(model, folder, options, **kwargs)

    monkeypatch.setattr(evaluate_dialog, "evaluate", recording_evaluate)
    dialog = EvaluateDialog(colour_model, runtime=runtime)
    qtbot.addWidget(dialog)
    run(qtbot, dialog, dataset)
    assert used == [runtime] and dialog.report is not None and dialog.report.total == 36


@pytest.mark.parametrize("broken", ["runtime", "weights"])
def test_errors_name_the_windows_menus_not_the_command_lines_flags(
    qtbot, colour_model, dataset, monkeypatch, broken
):
    from resnet_desktop.core.errors import REMEDY_WEIGHTS_FILE
    from resnet_desktop.gui import evaluate_dialog

    runtime = RuntimeOptions(device="cpu", precision="fp32", engine="torch")
    if broken == "runtime":  # int8 runs in OpenVINO only
        runtime = RuntimeOptions(device="cpu", precision="int8", engine="torch")
        wanted = "so choose Automatic or OpenVINO in Edit → Preferences…"
    else:

        def no_weights(name, **_kwargs):
            raise UserError(f"the weights of {name} are missing", remedy=REMEDY_WEIGHTS_FILE)

        monkeypatch.setattr(evaluate_dialog, "load_model", no_weights)
        wanted = "or choose it with Model → Import Weights File…"
    dialog = EvaluateDialog(colour_model, runtime=runtime)
    qtbot.addWidget(dialog)
    run(qtbot, dialog, dataset)
    assert dialog.error.text().endswith(wanted) and "--" not in dialog.error.text()
    assert dialog.report is None


def test_not_a_folder_and_no_model(qtbot, dialog, tmp_path):
    dialog.folder_edit.setText(str(tmp_path / "missing"))
    dialog.start()
    assert "not a folder" in dialog.error.text() and not dialog.runner.running
    qtbot.waitUntil(lambda: not dialog.lister.running, timeout=10_000)
    dialog.selector.set_choices([])
    dialog.folder_edit.setText(str(tmp_path))
    dialog.start()
    assert "Choose a model" in dialog.error.text() and not dialog.runner.running


def test_status_and_progress_events(qtbot, dialog):
    from resnet_desktop.core.evaluate import EvalProgress
    from resnet_desktop.core.events import Status

    dialog._on_item(Status("Loading the model…"))
    assert dialog.status.text() == "Loading the model…"
    dialog._on_item(EvalProgress(10, 40, elapsed=5.0, images_per_second=2.0, eta_seconds=65))
    assert dialog.status.text() == "10 / 40 images · 2 images/s · about 1:05 left"
    assert (dialog.progress.value(), dialog.progress.maximum()) == (10, 40)
    with pytest.raises(AssertionError, match="unknown event"):
        dialog._on_item("a bare string")


def test_closing_mid_evaluation_joins_the_worker(qtbot, dialog, dataset):
    dialog.folder_edit.setText(str(dataset))
    dialog.start()
    worker = dialog.runner.worker
    dialog.close()
    assert worker is not None and worker.isFinished()


def test_the_model_list_is_read_in_a_worker_and_starts_on_the_window_model(
    qtbot, colour_model, monkeypatch
):
    from resnet_desktop.gui import evaluate_dialog

    threads: list[threading.Thread] = []
    original = evaluate_dialog.list_model_choices

    def listing():
        threads.append(threading.current_thread())
        return original()

    monkeypatch.setattr(evaluate_dialog, "list_model_choices", listing)
    dialog = EvaluateDialog(colour_model)
    qtbot.addWidget(dialog)
    assert dialog.model_name == colour_model  # before the list is in
    assert dialog.selector.findData(colour_model) < 0
    qtbot.waitUntil(lambda: not dialog.lister.running, timeout=10_000)
    assert threads and threads[0] is not threading.main_thread()
    assert dialog.selector.current_model() == colour_model
    assert colour_model in dialog.windowTitle() and colour_model in dialog.status.text()
    listed = [dialog.selector.itemData(i) for i in range(dialog.selector.count())]
    assert "resnet50" in listed and "cifar_resnet20" not in listed  # no weights to evaluate
    assert not dialog.error.text()


def test_a_window_model_without_weights_is_not_evaluated(qtbot):
    dialog = EvaluateDialog("cifar_resnet20")
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.lister.running, timeout=10_000)
    assert "cifar_resnet20 cannot be evaluated" in dialog.error.text()
    assert dialog.model_name == dialog.selector.current_model() == dialog.selector.itemData(0)
    assert dialog.windowTitle() == f"Evaluate {dialog.model_name}"


def test_the_chosen_model_is_evaluated(qtbot, dialog, dataset):
    other = add_library_model("four colours", [*CLASSES, "yellow"])
    qtbot.waitUntil(lambda: not dialog.lister.running, timeout=10_000)
    dialog.lister.start(lambda _stop: [evaluate_dialog_choices()])
    qtbot.waitUntil(lambda: dialog.selector.findData(other) >= 0, timeout=10_000)
    dialog.selector.setCurrentIndex(dialog.selector.findData(other))
    assert dialog.windowTitle() == f"Evaluate {other}"
    run(qtbot, dialog, dataset)
    assert dialog.report is not None and dialog.report.class_names == [*CLASSES, "yellow"]


def evaluate_dialog_choices():
    from resnet_desktop.gui.evaluate_dialog import evaluable, list_model_choices

    return evaluable(list_model_choices())


def test_save_report_writes_the_metrics_and_the_confusion_matrix(qtbot, dialog, dataset, tmp_path):
    import csv

    asked: list[str] = []
    target = tmp_path / "saved" / "report.csv"

    def ask_path(_parent, suggested):
        asked.append(suggested)
        return str(target)

    dialog.ask_path = ask_path
    assert not dialog.save_button.isEnabled()  # nothing to save yet
    run(qtbot, dialog, dataset)
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    assert asked == [str(dataset.parent / f"colours-{MODEL}-report.csv")]
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert [(row[0], row[4]) for row in rows[1:4]] == [(name, "12") for name in CLASSES]
    assert rows[4][4] == "36"
    confusion = (tmp_path / "saved" / "report-confusion.csv").read_text(encoding="utf-8")
    assert confusion.splitlines()[0].endswith(",".join(CLASSES))
    assert "Report saved" in dialog.status.text() and not dialog.error.text()


def test_save_report_shows_a_refused_target_inline(qtbot, dialog, dataset, tmp_path):
    run(qtbot, dialog, dataset)
    dialog.ask_path = lambda _parent, _suggested: str(tmp_path / "oops.jpg")
    dialog.save_report()
    assert "image file name" in dialog.error.text() and not (tmp_path / "oops.jpg").exists()
    dialog.ask_path = lambda _parent, _suggested: ""  # cancelled: nothing happens
    dialog.save_report()
    assert "image file name" in dialog.error.text()


# ------------------------------------------------------------------------------ JobRunner


def counting_job(gate: threading.Event):
    """Yields numbers until stopped, then a final 'report' (as the core generators do)."""

    def job(should_stop):
        count = 0
        while not should_stop():
            gate.wait(0.01)
            count += 1
            yield count
        yield f"final after {count}"

    return job


def test_runner_soft_stop_delivers_the_final_item(qtbot):
    runner = JobRunner()
    items: list[object] = []
    runner.item.connect(items.append)
    runner.start(counting_job(threading.Event()))
    qtbot.waitUntil(lambda: len(items) >= 3, timeout=5_000)
    with qtbot.waitSignal(runner.finished, timeout=5_000) as done:
        runner.request_stop()
    assert done.args == [False]  # stopped before its end, yet its final item arrived
    assert isinstance(items[-1], str) and items[-1].startswith("final")
    assert not runner.running


def test_runner_restart_drops_the_old_runs_items(qtbot):
    runner = JobRunner()
    items: list[object] = []
    runner.item.connect(items.append)
    runner.start(counting_job(threading.Event()))
    qtbot.waitUntil(lambda: len(items) >= 1, timeout=5_000)
    runner.start(lambda _stop: iter(["second"]))
    qtbot.waitUntil(lambda: not runner.running, timeout=5_000)
    assert runner.shutdown(5_000)
    qtbot.wait(50)  # let anything the first run queued arrive
    assert items[-1] == "second"
    assert all(not (isinstance(item, str) and item.startswith("final")) for item in items)


def test_runner_reports_failures(qtbot):
    def failing(_stop):
        yield 1
        raise UserError("bad input")

    runner = JobRunner()
    events: list[tuple[str, object]] = []
    runner.failed.connect(lambda message: events.append(("failed", message)))
    runner.finished.connect(lambda completed: events.append(("finished", completed)))
    with qtbot.waitSignal(runner.finished, timeout=5_000):
        runner.start(failing)
    assert events == [("failed", "bad input"), ("finished", False)]


# ------------------------------------------------------------------------------ models, view


def sample_report():
    from resnet_desktop.core.dataset import FileProblem
    from resnet_desktop.core.evaluate import build_report

    true = [0, 0, 1, 1, 2, 2]
    predicted = [0, 1, 1, 1, 2, 0]
    paths = [Path(f"/nowhere/{i}.png") for i in range(6)]
    errors = [FileProblem(Path("/nowhere/bad.jpg"), "cannot identify image file")]
    return build_report(CLASSES, true, predicted, [0.9] * 6, paths, errors)


def test_models_pass_the_model_tester(qtbot, qtmodeltester):
    report = sample_report()
    per_class = PerClassModel()
    per_class.set_metrics(report.per_class)
    confusion = ConfusionModel()
    confusion.set_matrix(report.class_names, report.confusion)
    view = EvalReportView()
    qtbot.addWidget(view)
    thumbnails = ThumbnailModel(view.gallery.loader)
    thumbnails.set_items([Thumb(Path(f"/nowhere/{i}.png"), f"image {i}") for i in range(3)])
    for model in (per_class, confusion, thumbnails):
        qtmodeltester.check(model, force_py=True)
    view.shutdown()


def test_report_view_shows_the_report(qtbot):
    report = sample_report()
    view = EvalReportView()
    qtbot.addWidget(view)
    view.set_report(report)
    assert "66.7%" in view.summary.text() and "1 unreadable" in view.summary.text()
    assert view.tabs.tabText(2) == "Misclassified (2)"
    assert view.tabs.isTabVisible(3) and "bad.jpg" in view.errors.toPlainText()
    diagonal = view.confusion.index(0, 0).data(Qt.ItemDataRole.BackgroundRole)
    wrong = view.confusion.index(0, 1).data(Qt.ItemDataRole.BackgroundRole)
    assert diagonal.green() > diagonal.red() and wrong.red() > wrong.green()
    assert view.confusion.index(0, 2).data(Qt.ItemDataRole.BackgroundRole) is None  # zero
    assert view.per_class.index(1, 1).data() == "66.7%"  # green: 2 of 3 predicted are right
    assert view.per_class.index(1, 3).data() == "80.0%"  # F1 of precision 2/3 and recall 1
    view.set_report(None)
    assert view.confusion.rowCount() == 0 and not view.tabs.isTabVisible(3)
    view.shutdown()


def test_enter_in_the_folder_field_runs_one_evaluation(qtbot, dialog, dataset):
    """Enter used to start a run and then click whichever button held the focus (Stop)."""
    dialog.folder_edit.setFocus()
    qtbot.keyClicks(dialog.folder_edit, str(dataset))
    qtbot.keyClick(dialog.folder_edit, Qt.Key.Key_Return)
    assert dialog.runner.running
    qtbot.waitUntil(lambda: not dialog.runner.running, timeout=60_000)
    report = dialog.report
    assert report is not None and not report.cancelled and report.total == 36
    assert "Stopped" not in dialog.status.text()


def test_a_class_without_images_has_no_recall(qtbot):
    from resnet_desktop.core.evaluate import build_report

    model = PerClassModel()
    model.set_metrics(build_report(["cat", "dog"], [0, 0], [0, 1]).per_class)
    dog = [model.index(1, column).data() for column in range(5)]
    assert dog == ["dog", "0.0%", "—", "—", "0"]  # predicted once, wrongly; no dog images
    assert model.index(1, 2).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert model.index(0, 2).data() == "50.0%"
    assert model.index(0, 2).data(Qt.ItemDataRole.ForegroundRole) is None
