"""The results table model and its sort/filter proxy, without a window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap

from resnet_desktop.app.classify import RunKey
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.gui import results_model
from resnet_desktop.gui.results_model import (
    PATH_ROLE,
    SORT_ROLE,
    Column,
    ResultsFilter,
    ResultsModel,
    ThumbState,
)

KEY = RunKey("tiny", 3)


def _ok(path: Path, *pairs: tuple[str, float]) -> Prediction:
    labels, probs = zip(*pairs, strict=True)
    return Prediction(path, labels, probs, tuple(range(len(pairs))))


@pytest.fixture
def model(qapp) -> ResultsModel:
    """Five rows: three classified, one failed, one not classified yet."""
    model = ResultsModel()
    paths = [Path(f"/photos/{name}.jpg") for name in ("b", "a", "e", "c", "d")]
    model.add_paths(paths)
    predictions = [
        _ok(paths[0], ("cat", 0.9), ("dog", 0.05), ("fox", 0.01)),
        _ok(paths[1], ("dog", 0.4), ("cat", 0.3), ("fox", 0.2)),
        Prediction(paths[2], error="not an image, or an image format that is not supported"),
        _ok(paths[3], ("Cathedral", 0.75), ("dog", 0.2), ("cat", 0.01)),
    ]
    model.apply_predictions(predictions, KEY, {p: (1, 2) for p in paths})
    return model


def _column(model, column: Column, role=Qt.ItemDataRole.DisplayRole) -> list:
    return [model.data(model.index(row, column), role) for row in range(model.rowCount())]


def test_model_passes_qtmodeltester_with_rows_and_errors(qtmodeltester, model: ResultsModel):
    qtmodeltester.check(model, force_py=True)
    qtmodeltester.check(model)


def test_proxy_passes_qtmodeltester_sorted_and_filtered(qtmodeltester, model: ResultsModel):
    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(proxy, force_py=True)
    proxy.set_label_text("cat")
    qtmodeltester.check(proxy, force_py=True)
    model.add_paths([Path("/photos/new.jpg")])  # rows arriving while sorted and filtered
    qtmodeltester.check(proxy, force_py=True)


def test_empty_model_passes_qtmodeltester(qtmodeltester, qapp):
    qtmodeltester.check(ResultsModel(), force_py=True)


def test_columns_show_name_label_confidence_and_top_k(model: ResultsModel):
    assert _column(model, Column.FILE) == ["b.jpg", "a.jpg", "e.jpg", "c.jpg", "d.jpg"]
    assert _column(model, Column.LABEL) == ["cat", "dog", "Error", "Cathedral", ""]
    assert _column(model, Column.CONFIDENCE) == ["90.0%", "40.0%", "", "75.0%", ""]
    assert _column(model, Column.TOP_K)[0] == "cat 90.0%, dog 5.0%, fox 1.0%"
    assert _column(model, Column.FILE, PATH_ROLE)[1] == str(Path("/photos/a.jpg"))
    assert model.counts() == (5, 3, 1)


def test_error_rows_have_a_warning_icon_and_the_reason_as_tooltip(model: ResultsModel):
    icon = model.data(model.index(2, Column.LABEL), Qt.ItemDataRole.DecorationRole)
    assert isinstance(icon, QIcon) and not icon.isNull()
    assert model.data(model.index(0, Column.LABEL), Qt.ItemDataRole.DecorationRole) is None
    for column in Column:
        tip = model.data(model.index(2, column), Qt.ItemDataRole.ToolTipRole)
        assert "e.jpg" in tip and "not an image" in tip


def test_confidence_sorts_numerically_and_unclassified_rows_last(model: ResultsModel):
    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    proxy.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    names = [proxy.index(row, Column.FILE).data() for row in range(proxy.rowCount())]
    assert names[:3] == ["b.jpg", "c.jpg", "a.jpg"]
    assert isinstance(model.data(model.index(0, Column.CONFIDENCE), SORT_ROLE), float)
    proxy.sort(Column.FILE, Qt.SortOrder.AscendingOrder)
    names = [proxy.index(row, Column.FILE).data() for row in range(proxy.rowCount())]
    assert names == sorted(names)


def test_filter_by_label_text_and_confidence(model: ResultsModel):
    proxy = ResultsFilter()
    proxy.setSourceModel(model)
    assert proxy.rowCount() == 5
    proxy.set_label_text("  CAT ")
    assert [proxy.index(r, Column.LABEL).data() for r in range(proxy.rowCount())] == [
        "cat",
        "Cathedral",
    ]
    proxy.set_min_confidence(0.8)
    assert proxy.source_rows() == [0]
    proxy.set_label_text("")
    assert proxy.source_rows() == [0]
    proxy.set_min_confidence(0.0)
    assert proxy.source_rows() == [0, 1, 2, 3, 4]


def test_adding_paths_skips_duplicates_in_one_insert(model: ResultsModel, qtbot):
    inserts = []
    model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    added = model.add_paths([Path("/photos/a.jpg"), Path("/x/1.png"), Path("/x/1.png")])
    assert added == 1 and inserts == [(5, 5)]
    assert model.add_paths([Path("/x/1.png")]) == 0 and inserts == [(5, 5)]
    assert model.row_at(5).path == Path("/x/1.png") and len(model) == 6


def test_a_new_result_replaces_the_old_and_counts_follow(model: ResultsModel):
    path = Path("/photos/e.jpg")
    model.apply_predictions([_ok(path, ("owl", 0.5))], KEY, {path: (3, 4)})
    assert model.counts() == (5, 4, 0)
    row = model.row_at(2)
    assert row.label == "owl" and row.signature == (3, 4) and row.error is None
    model.apply_predictions([Prediction(path, error="gone")], KEY, {})
    assert model.counts() == (5, 3, 1)


def test_results_for_unknown_paths_are_ignored(model: ResultsModel):
    model.apply_predictions([_ok(Path("/elsewhere.jpg"), ("owl", 0.5))], KEY, {})
    assert model.counts() == (5, 3, 1)


def test_candidates_say_which_rows_are_up_to_date(model: ResultsModel):
    up_to_date = [c.up_to_date for c in model.candidates(KEY)]
    assert up_to_date == [True, True, False, True, False]
    assert not any(c.up_to_date for c in model.candidates(RunKey("tiny", 5)))
    assert not any(c.up_to_date for c in model.candidates(RunKey("other", 3)))


def test_predictions_come_in_row_order_without_unclassified_rows(model: ResultsModel):
    predictions = model.predictions([4, 3, 0, 2])
    assert [p.path.name for p in predictions] == ["b.jpg", "e.jpg", "c.jpg"]


def test_thumbnails_are_requested_once_when_painted(model: ResultsModel, qtbot):
    requested = []
    model.thumbnailNeeded.connect(requested.append)
    cell = model.index(1, Column.THUMBNAIL)
    assert model.data(cell, Qt.ItemDataRole.DecorationRole) is None
    assert model.data(cell, Qt.ItemDataRole.DecorationRole) is None
    assert requested == [Path("/photos/a.jpg")]
    changed = []
    model.dataChanged.connect(lambda first, last, roles: changed.append((first.row(), roles)))
    image = QImage(8, 6, QImage.Format.Format_RGB888)
    image.fill(QColor("red"))
    model.set_thumbnail(Path("/photos/a.jpg"), image)
    assert changed == [(1, [Qt.ItemDataRole.DecorationRole])]
    assert isinstance(model.data(cell, Qt.ItemDataRole.DecorationRole), QPixmap)
    model.set_thumbnail(Path("/photos/b.jpg"), QImage())  # undecodable
    assert model.row_at(0).thumbnail == ThumbState.FAILED


def test_thumbnail_cache_is_bounded(qapp, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(results_model, "THUMBNAIL_CACHE_SIZE", 3)
    model = ResultsModel()
    paths = [Path(f"/p/{n}.jpg") for n in range(5)]
    model.add_paths(paths)
    image = QImage(4, 4, QImage.Format.Format_RGB888)
    for path in paths:
        model.set_thumbnail(path, image)
    states = [model.row_at(n).thumbnail for n in range(5)]
    assert states == [ThumbState.NONE] * 2 + [ThumbState.READY] * 3


def test_clear_empties_the_model(model: ResultsModel):
    model.clear()
    assert model.rowCount() == 0 and model.counts() == (0, 0, 0)
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.rowCount(QModelIndex()) == 0


def test_an_empty_table_says_what_to_do_and_a_filtered_one_why(qtbot, model: ResultsModel):
    from resnet_desktop.gui.results_view import EMPTY_HINT, FILTERED_HINT, ResultsPane

    empty = ResultsPane(ResultsModel())
    qtbot.addWidget(empty)
    assert empty.view.empty_hint() == EMPTY_HINT
    pane = ResultsPane(model)
    qtbot.addWidget(pane)
    assert pane.view.empty_hint() is None
    pane.label_filter.setText("no such label")
    assert pane.view.empty_hint() == FILTERED_HINT
    pane.show()
    pane.view.viewport().grab()  # paints the hint without a Qt warning
