"""File → Sort into Folders…: preview, sort, cancel, undo; and the corrections wizard's dataset."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from resnet_desktop.app.sorting import latest_sort, load_identity, prepare_sort
from resnet_desktop.core.catalog import Catalog, RunInfo
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.sorting import (
    FileSorted,
    SortFinished,
    SortPlan,
    UndoFinished,
    run_sort,
)
from resnet_desktop.core.zoo import CIFAR10_CLASSES
from resnet_desktop.gui import sort_dialog
from resnet_desktop.gui.sort_dialog import SortDialog
from tests.helpers import give_person_label

RUN = RunInfo("cpu", "fp32", "torch")
WAIT_MS = 10_000


def top(path: Path, label: str, probability: float) -> Prediction:
    index = CIFAR10_CLASSES.index(label)
    return Prediction(path, (label,), (probability,), (index,))


@pytest.fixture
def photos(tmp_path: Path, tiny_model: str) -> tuple[list[Path], Path]:
    """Six photos: four classified (one unsure), one labelled by a person, one not classified."""
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for number in range(6):
        path = folder / f"photo_{number}.jpg"
        path.write_bytes(b"bytes %d" % number)
        paths.append(path)
    catalog = tmp_path / "catalog.sqlite3"
    identity = load_identity(tiny_model)
    with Catalog.open(catalog) as store:
        model = store.model_id(identity)
        predictions = [top(paths[0], "cat", 0.9), top(paths[1], "cat", 0.8),
                       top(paths[2], "dog", 0.95), top(paths[3], "ship", 0.3),
                       top(paths[4], "dog", 0.7)]  # fmt: skip
        store.record_batch(model, predictions, RUN)
    give_person_label(catalog, paths[4], "my horse", model)
    return paths, catalog


def make_dialog(qtbot, photos, tiny_model: str, dest: Path) -> SortDialog:
    paths, catalog = photos
    dialog = SortDialog(lambda _stop: paths, tiny_model, "", catalog)
    qtbot.addWidget(dialog)
    dialog.show()
    with qtbot.waitSignal(dialog.previewShown, timeout=WAIT_MS):
        dialog.dest_edit.setText(str(dest))
    qtbot.waitUntil(dialog.sort_button.isEnabled, timeout=WAIT_MS)  # the preview job ended
    return dialog


def table(dialog: SortDialog) -> list[list[str]]:
    model = dialog.folders
    return [
        [str(model.index(row, column).data()) for column in range(model.columnCount())]
        for row in range(model.rowCount())
    ]


def test_the_preview_shows_folders_counts_labels_and_what_stays(
    qtbot, photos, tiny_model, tmp_path
):
    dialog = make_dialog(qtbot, photos, tiny_model, tmp_path / "sorted")
    assert table(dialog) == [
        ["cat/", "cat", "2", "0"],
        ["dog/", "dog", "1", "0"],
        ["my horse/", "my horse", "1", "1"],
        ["ship/", "ship", "1", "0"],
    ]
    assert "5 images will be copied" in dialog.status.text()
    assert "1 image not classified by tiny yet" in dialog.status.text()
    with qtbot.waitSignal(dialog.previewShown, timeout=WAIT_MS) as shown:
        dialog.threshold_check.setChecked(True)  # 50 %: the unsure ship goes to unknown
        photos[0][1].unlink()  # a listed file deleted meanwhile
    assert isinstance(shown.args[0], SortPlan)
    assert ["unknown/", "images with confidence under 50%", "1", "0"] in table(dialog)
    assert "Images with confidence under 50% go to 'unknown'." in dialog.status.text()
    dialog.mode_group.button(1).setChecked(True)
    assert "4 images will be moved" in dialog.status.text()
    assert "1 listed file no longer there" in dialog.status.text()


def test_a_model_with_its_own_threshold_sorts_by_its_score(qtbot, photos, tiny_model, tmp_path):
    """The box edits the model's "unknown" threshold, in its score's range; the preview
    reads each result's stored score, as predict's decision column does."""
    paths, catalog = photos
    with Catalog.open(catalog) as store:  # scores: the sure cat is like no training image
        model = store.model_id(load_identity(tiny_model))
        scored = [(top(paths[0], "cat", 0.9), -0.9), (top(paths[3], "ship", 0.3), -0.1)]
        store.record_batch(model, [replace(p, ood_score=s) for p, s in scored], RUN)
    give_setup(tiny_model, -0.5)
    dialog = make_dialog(qtbot, photos, tiny_model, tmp_path / "sorted")
    spin = dialog.threshold_spin
    assert not dialog.threshold_check.isVisible() and spin.isEnabled()
    assert (spin.minimum(), spin.maximum(), spin.value(), spin.suffix()) == (-2.0, 0.0, -0.5, "")
    rule = "a score under the model's 'unknown' threshold (-0.5)"
    assert ["unknown/", f"images with {rule}", "1", "0"] in table(dialog)
    assert ["ship/", "ship", "1", "0"] in table(dialog)  # unsure, but like its training images
    assert f"Images with {rule} go to 'unknown'." in dialog.status.text()
    with qtbot.waitSignal(dialog.previewShown, timeout=WAIT_MS) as shown:
        spin.setValue(-0.05)  # stricter: the ship too
    assert shown.args[0].decider.threshold == -0.05
    assert ["unknown/", "images with a score under the model's 'unknown' threshold (-0.05)",
            "2", "0"] in table(dialog)  # fmt: skip


def test_the_model_setup_is_read_off_the_gui_thread(
    qtbot, photos, tiny_model, tmp_path, monkeypatch
):
    """Opening the dialog reads no model metadata on the GUI thread: a first job reads
    the model's setup, and the threshold box is set up when it arrives."""
    from resnet_desktop.core import library

    threads: list[threading.Thread] = []
    real = library.read_json

    def recording(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    give_setup(tiny_model, -0.5)
    monkeypatch.setattr(library, "read_json", recording)
    dialog = make_dialog(qtbot, photos, tiny_model, tmp_path / "sorted")
    assert threads and threading.main_thread() not in threads
    assert dialog.setup is not None and dialog.threshold_spin.value() == -0.5


def give_setup(name: str, threshold: float) -> None:
    """A kNN "unknown" setup in the model's metadata, as fine-tuning stores it."""
    path = ModelLibrary().root / f"{name}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metrics"]["ood"] = {"method": "knn", "threshold": threshold, "k": 1}
    path.write_text(json.dumps(data), encoding="utf-8")


def test_sort_then_undo_from_the_dialog(qtbot, photos, tiny_model, tmp_path):
    paths, _ = photos
    dest = tmp_path / "sorted"
    dialog = make_dialog(qtbot, photos, tiny_model, dest)
    dialog.mode_group.button(1).setChecked(True)  # move
    with qtbot.waitSignal(dialog.sortFinished, timeout=WAIT_MS) as finished:
        dialog.sort_button.click()
    end: SortFinished = finished.args[0]
    assert not end.cancelled and sum(count for _, count in end.placed) == 5
    assert (dest / "my horse" / "photo_4.jpg").read_bytes() == b"bytes 4"
    assert not paths[0].exists() and paths[5].exists()
    assert dialog.summary.text().startswith("Moved 5 files in ")
    assert not dialog.sort_button.isEnabled()  # done: nothing left to sort
    assert dialog.undo_button.isVisible() and dialog.undo_button.isEnabled()
    with qtbot.waitSignal(dialog.undoFinished, timeout=WAIT_MS):
        dialog.undo_button.click()
    assert all(path.read_bytes() == b"bytes %d" % n for n, path in enumerate(paths))
    assert not (dest / "cat").exists()
    assert dialog.summary.text().startswith("Put back 5 files")
    qtbot.waitUntil(dialog.sort_button.isEnabled, timeout=WAIT_MS)  # all of it again


def test_cancel_stops_after_the_file_in_hand(qtbot, photos, tiny_model, tmp_path, monkeypatch):
    """The job waits after its first file until Cancel was pressed: then nothing more moves."""
    gate = threading.Event()
    real_job = sort_dialog.sort_job

    def gated(plan, mode, catalog):
        job = real_job(plan, mode, catalog)

        def run(stop):
            for event in job(stop):
                yield event
                if isinstance(event, FileSorted):
                    gate.wait(WAIT_MS / 1000)

        return run

    monkeypatch.setattr(sort_dialog, "sort_job", gated)
    dest = tmp_path / "sorted"
    dialog = make_dialog(qtbot, photos, tiny_model, dest)
    with qtbot.waitSignal(dialog.sortFinished, timeout=WAIT_MS) as finished:
        dialog.sort_button.click()
        qtbot.waitUntil(lambda: dialog.progress.value() == 1, timeout=WAIT_MS)
        assert dialog.cancel_button.isVisible() and not dialog.close_button.isVisible()
        dialog.cancel_button.click()
        gate.set()
    end: SortFinished = finished.args[0]
    assert end.cancelled and sum(count for _, count in end.placed) == 1
    assert len([p for p in dest.rglob("*.jpg")]) == 1
    assert "Cancelled" in dialog.summary.text() and dialog.close_button.isVisible()
    qtbot.waitUntil(dialog.sort_button.isEnabled, timeout=WAIT_MS)  # the rest, previewed
    assert "Continues an interrupted sort (1 placed before)" in dialog.status.text()
    assert sum(folder.files for folder in dialog.plan.folders) == 4


def test_an_unfinished_sort_of_another_mode_is_worded_for_the_window(
    qtbot, photos, tiny_model, tmp_path
):
    """Sorting by copy into a folder a move sort left unfinished names the window's ways
    to finish or undo it, not the command line's flags."""
    paths, catalog = photos
    dest = tmp_path / "sorted"
    plan = prepare_sort(paths, load_identity(tiny_model), dest, catalog_path=catalog)
    calls = iter(range(100))
    list(run_sort(plan, "move", should_stop=lambda: next(calls) >= 1))  # one file moved
    dialog = make_dialog(qtbot, photos, tiny_model, dest)
    assert dialog.mode() == "copy"
    with qtbot.waitSignal(dialog.runner.finished, timeout=WAIT_MS):
        dialog.sort_button.click()
    text = dialog.error.text()
    assert text.endswith(
        "holds an unfinished sort by move, so sort by move again to finish it, "
        "or undo it with Edit → Undo Sort… on that folder"
    )
    assert "--" not in text and "resnet-desktop" not in text


def test_a_symbolic_link_not_moved_is_worded_for_the_window(qtbot, photos, tiny_model, tmp_path):
    paths, catalog = photos
    original = tmp_path / "elsewhere.jpg"  # not listed: only the link to it is
    original.write_bytes(b"linked bytes")
    link = paths[0].with_name("link.jpg")
    link.symlink_to(original)
    with Catalog.open(catalog) as store:
        store.record_batch(store.model_id(load_identity(tiny_model)), [top(link, "cat", 0.9)], RUN)
    dialog = make_dialog(qtbot, ([*paths, link], catalog), tiny_model, tmp_path / "sorted")
    dialog.mode_group.button(1).setChecked(True)  # move
    with qtbot.waitSignal(dialog.sortFinished, timeout=WAIT_MS):
        dialog.sort_button.click()
    text = dialog.summary.text()
    assert (
        "link.jpg: " + f"{link} is a symbolic link and was not moved, so choose Copy or Link "
        "in File → Sort into Folders…, or sort the file it points to"
    ) in text
    assert "--" not in text and link.is_symlink()


@pytest.mark.parametrize("by", ["journal", "folder"])
def test_undo_sort_of_a_chosen_journal_or_folder(qtbot, photos, tiny_model, tmp_path, by):
    dest = tmp_path / "sorted"
    dialog = make_dialog(qtbot, photos, tiny_model, dest)
    with qtbot.waitSignal(dialog.sortFinished, timeout=WAIT_MS) as finished:
        dialog.sort_button.click()
    journal = finished.args[0].journal if by == "journal" else dest
    undo = SortDialog(lambda _stop: [], None, journal=journal, catalog_path=photos[1])
    qtbot.addWidget(undo)
    undo.show()
    assert not undo.sort_button.isVisible() and str(journal) in undo.status.text()
    with qtbot.waitSignal(undo.undoFinished, timeout=WAIT_MS) as done:
        undo.undo_button.click()
    end: UndoFinished = done.args[0]
    assert end.restored == 5 and not end.cancelled
    assert not list(dest.rglob("*.jpg"))
    with pytest.raises(UserError, match=r"no sort into .* is left to undo"):
        latest_sort(dest)


def test_the_windows_list_follows_a_move_and_its_undo(qtbot, window, tiny_model, tmp_path):
    from tests.helpers import write_colour_images

    paths = write_colour_images(tmp_path / "photos", 3)
    with Catalog.open(window.catalog.path) as store:
        model = store.model_id(load_identity(tiny_model))
        store.record_batch(model, [top(path, "cat", 0.9) for path in paths], RUN)
    with qtbot.waitSignal(window.scanFinished, timeout=WAIT_MS):
        window.add_paths([tmp_path / "photos"])
    dialog = sort_dialog.open_sort(window, tiny_model, window.listing.paths_source())
    assert dialog is not None
    with qtbot.waitSignal(dialog.previewShown, timeout=WAIT_MS):
        dialog.dest_edit.setText(str(tmp_path / "sorted"))
    qtbot.waitUntil(dialog.sort_button.isEnabled, timeout=WAIT_MS)
    dialog.mode_group.button(1).setChecked(True)  # move
    with qtbot.waitSignal(dialog.filesMoved, timeout=WAIT_MS):
        dialog.sort_button.click()
    moved_to = [tmp_path / "sorted" / "cat" / path.name for path in paths]
    qtbot.waitUntil(lambda: listed(window) == moved_to, timeout=WAIT_MS)
    assert all(window.results.row_at(n).prediction.labels == ("cat",) for n in range(3))
    with qtbot.waitSignal(dialog.filesMoved, timeout=WAIT_MS):
        dialog.undo_button.click()
    qtbot.waitUntil(lambda: listed(window) == paths, timeout=WAIT_MS)
    assert all(window.results.row_at(n).prediction is not None for n in range(3))
    dialog.close()


def listed(window) -> list[Path | None]:
    """The paths of the window's rows, in order (None: a row whose page is on its way)."""
    rows = [window.results.row_at(number) for number in range(window.results.rowCount())]
    return [None if row is None else row.path for row in rows]


def test_the_window_has_the_menu_entries(window):
    texts = {a.objectName() for menu in window.menuBar().actions() for a in menu.menu().actions()}
    assert {"actionSortIntoFolders", "actionUndoSort", "actionFineTuneCorrections"} <= texts


def test_the_corrections_wizard_scans_the_labelled_images(qtbot, window, tiny_model, tmp_path):
    from resnet_desktop.app.corrections import Corrections
    from resnet_desktop.core.runtime import RuntimeOptions
    from resnet_desktop.gui.corrections_flow import show_wizard
    from tests.helpers import write_class_folders

    made = write_class_folders(tmp_path / "fixed", 3, {"cat": (200, 30, 30), "dog": (30, 30, 200)})
    labelled = tuple((path, path.parent.name) for path in sorted(made.rglob("*.png")))
    found = Corrections(tiny_model, load_identity(tiny_model), labelled, None, tmp_path / "c.db")
    wizard = show_wizard(window, found, RuntimeOptions(device="cpu"))
    page = wizard.dataset_page
    qtbot.waitUntil(
        lambda: page.state.scan is not None and not page.runner.running, timeout=WAIT_MS
    )
    assert page.state.scan.counts() == {"cat": 3, "dog": 3} and page.state.scan.labelled == 6
    assert "The 6 images you labelled for tiny (cat 3, dog 3)" in page.subTitle()
    assert wizard.review_page.name_edit.text() == "tiny-corrected"
    wizard.close()


def test_after_retraining_the_old_versions_images_are_classified_again(
    qtbot, window, tiny_model, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QMessageBox

    from resnet_desktop.gui.corrections_flow import offer_rerun
    from tests.helpers import write_colour_images

    paths = write_colour_images(tmp_path / "photos", 2)
    catalog = window.catalog.path
    monkeypatch.setattr(QMessageBox, "question", lambda *_: QMessageBox.StandardButton.Yes)
    progress = offer_rerun(window, "old", tiny_model, paths, catalog)
    assert progress is not None and progress.maximum() == len(paths)
    with qtbot.waitSignal(progress.destroyed, timeout=120_000):  # closed when the run ends
        pass
    with Catalog.open(catalog, read_only=True) as store:
        assert store.classified_by(load_identity(tiny_model)) == sorted(paths)
    monkeypatch.setattr(QMessageBox, "question", lambda *_: QMessageBox.StandardButton.No)
    assert offer_rerun(window, "old", tiny_model, paths, catalog) is None
