"""The results table model over pages of a catalog view, without a window.

A ListingSession (the listing's thread's work, run synchronously here) answers the
model's page requests, so these tests see exactly what the window shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPixmap

from resnet_desktop.app.listing import (
    PAGE,
    AddPaths,
    ClearList,
    FetchPage,
    ListingSession,
    PageReady,
    ShowQuery,
    TableQuery,
    ViewChange,
    ViewReady,
)
from resnet_desktop.core.catalog import Catalog, ModelIdentity, RunInfo
from resnet_desktop.core.catalog_view import SortKey
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess
from resnet_desktop.gui import results_model
from resnet_desktop.gui.results_model import (
    ERROR_ICON_SIZE,
    NOT_CLASSIFIED,
    PATH_ROLE,
    Column,
    ResultsModel,
)

RUN = RunInfo("cpu", "fp32", "torch")
PETS = ModelIdentity("pets", "a" * 64, ("cat", "dog", "fox", "Cathedral"), Preprocess(32, None))
NAMES = ("b", "a", "e", "c", "d")


def _ok(path: Path, *pairs: tuple[str, float]) -> Prediction:
    labels, probs = zip(*pairs, strict=True)
    indices = tuple(PETS.class_names.index(label) for label in labels)
    return Prediction(path, labels, probs, indices)


class Table:
    """A ResultsModel fed by a ListingSession, as the window feeds it from its thread."""

    def __init__(self, session: ListingSession) -> None:
        self.session = session
        self.model = ResultsModel()
        self.asked: list[tuple[int, int]] = []
        self.model.pageNeeded.connect(
            lambda generation, first: self.asked.append((generation, first))
        )

    def send(self, *requests) -> list:
        events = list(self.session.serve(list(requests)))
        for event in events:
            if isinstance(event, ViewReady):
                self.model.show_view(event)
            elif isinstance(event, PageReady):
                self.model.set_page(event)
        return events

    def answer_pages(self) -> None:
        asked, self.asked = self.asked, []
        self.send(*(FetchPage(generation, first) for generation, first in asked))

    def show(self, **query) -> None:
        self.model.expect_model(query.get("model"))
        self.send(ShowQuery(TableQuery(**query)))


@pytest.fixture
def session(tmp_path: Path):
    opened, _ = ListingSession.open(tmp_path / "catalog.sqlite3")
    yield opened
    opened.close()


@pytest.fixture
def table(qapp, session: ListingSession) -> Table:
    """Five rows: three classified, one failed, one not classified yet, by ``pets``."""
    paths = [Path(f"/photos/{name}.jpg") for name in NAMES]
    predictions = [
        _ok(paths[0], ("cat", 0.9), ("dog", 0.05), ("fox", 0.01)),
        _ok(paths[1], ("dog", 0.4), ("cat", 0.3), ("fox", 0.2)),
        Prediction(paths[2], error="not an image, or an image format that is not supported"),
        _ok(paths[3], ("Cathedral", 0.75), ("dog", 0.2), ("cat", 0.01)),
    ]
    with Catalog.open(session.path) as catalog:
        catalog.record_batch(catalog.model_id(PETS), predictions, RUN)
    table = Table(session)
    table.send(AddPaths(paths))
    table.show(model="pets", identity=PETS, top_k=3)
    return table


def _column(model, column: Column, role=Qt.ItemDataRole.DisplayRole) -> list:
    return [model.data(model.index(row, column), role) for row in range(model.rowCount())]


def test_model_passes_qtmodeltester_with_rows_and_errors(qtmodeltester, table: Table):
    qtmodeltester.check(table.model, force_py=True)
    qtmodeltester.check(table.model)


def test_model_passes_qtmodeltester_through_appends_sorts_and_filters(qtmodeltester, table: Table):
    model = table.model
    qtmodeltester.check(model, force_py=True)
    table.send(AddPaths([Path("/photos/new.jpg")]))  # rows arriving: appended
    assert model.rowCount() == 6
    table.show(model="pets", identity=PETS, sort=SortKey.CONFIDENCE, descending=True)
    table.show(model="pets", identity=PETS, label_text="cat")
    assert model.rowCount() == 2
    table.show(model="pets", identity=PETS)


def test_empty_model_passes_qtmodeltester(qtmodeltester, qapp):
    qtmodeltester.check(ResultsModel(), force_py=True)


def test_columns_show_name_label_confidence_and_top_k(table: Table):
    model = table.model
    assert _column(model, Column.FILE) == [f"{name}.jpg" for name in NAMES]
    assert _column(model, Column.LABEL) == ["cat", "dog", "Error", "Cathedral", NOT_CLASSIFIED]
    assert _column(model, Column.CONFIDENCE) == ["90.0%", "40.0%", "", "75.0%", ""]
    assert _column(model, Column.TOP_K)[0] == "cat 90.0%, dog 5.0%, fox 1.0%"
    assert _column(model, Column.FILE, PATH_ROLE)[1] == str(Path("/photos/a.jpg"))
    assert model.counts() == (5, 3, 1)
    greyed = _column(model, Column.LABEL, Qt.ItemDataRole.ForegroundRole)
    assert [colour is not None for colour in greyed] == [False] * 4 + [True]


def test_error_rows_have_a_warning_icon_and_the_reason_as_tooltip(table: Table):
    model = table.model
    icon = model.data(model.index(2, Column.LABEL), Qt.ItemDataRole.DecorationRole)
    assert isinstance(icon, QPixmap) and not icon.isNull()
    # its own size, about a third of the row: not blown up to the thumbnails' 64 px
    assert icon.deviceIndependentSize().toSize() == QSize(ERROR_ICON_SIZE, ERROR_ICON_SIZE)
    assert model.data(model.index(0, Column.LABEL), Qt.ItemDataRole.DecorationRole) is None
    for column in Column:
        tip = model.data(model.index(2, column), Qt.ItemDataRole.ToolTipRole)
        assert "e.jpg" in tip and "not an image" in tip


def test_a_header_click_asks_for_a_sorted_view(table: Table):
    asked = []
    table.model.sortRequested.connect(lambda key, descending: asked.append((key, descending)))
    table.model.sort(Column.CONFIDENCE, Qt.SortOrder.DescendingOrder)
    table.model.sort(Column.FILE)
    table.model.sort(-1)
    assert asked == [
        (SortKey.CONFIDENCE, True), (SortKey.NAME, False), (SortKey.ORDER, False)
    ]  # fmt: skip
    table.show(model="pets", identity=PETS, sort=SortKey.CONFIDENCE, descending=True)
    assert _column(table.model, Column.FILE)[:3] == ["b.jpg", "c.jpg", "a.jpg"]


def test_another_models_view_never_shows_these_labels(table: Table):
    model = table.model
    changes = []
    model.dataChanged.connect(lambda first, last, roles: changes.append((first.row(), last.row())))
    model.expect_model("flowers")  # selected: its view is on its way
    assert changes == [(0, 4)]
    assert _column(model, Column.LABEL) == [""] * 5
    assert model.counts() == (5, 0, 0) and not model.results_known
    flowers = ModelIdentity("flowers", "b" * 64, ("rose", "tulip"), PETS.preprocess)
    table.show(model="flowers", identity=flowers)
    assert _column(model, Column.LABEL) == [NOT_CLASSIFIED] * 5
    assert model.counts() == (5, 0, 0)


def test_pages_are_asked_for_once_and_stale_ones_dropped(session: ListingSession, qapp):
    table = Table(session)
    paths = [Path(f"/many/{n:05d}.jpg") for n in range(PAGE * 3 + 10)]
    table.send(AddPaths(paths))
    model = table.model
    assert model.rowCount() == len(paths)
    assert model.row_at(0).path == paths[0]  # the first page comes with the view
    assert model.row_at(PAGE * 2 + 5) is None and model.row_at(PAGE * 2 + 6) is None
    assert table.asked == [(model.generation, PAGE * 2)]
    stale = PageReady(model.generation - 1, PAGE * 2, [])
    model.set_page(stale)
    table.answer_pages()
    assert model.row_at(PAGE * 2 + 5).path == paths[PAGE * 2 + 5]


def test_the_page_cache_is_bounded(session: ListingSession, qapp, monkeypatch):
    monkeypatch.setattr(results_model, "CACHED_PAGES", 2)
    table = Table(session)
    paths = [Path(f"/many/{n:05d}.jpg") for n in range(PAGE * 4)]
    table.send(AddPaths(paths))
    for first in (PAGE, PAGE * 2, PAGE * 3):
        table.model.row_at(first)
        table.answer_pages()
    assert table.model.row_at(0) is None  # evicted, asked for again
    assert table.model.row_at(PAGE * 3).path == paths[PAGE * 3]


def test_appended_rows_keep_the_loaded_ones_and_a_batch_updates_them(table: Table):
    model = table.model
    inserts = []
    model.rowsInserted.connect(lambda parent, first, last: inserts.append((first, last)))
    events = table.send(AddPaths([Path("/photos/a.jpg"), Path("/x/1.png"), Path("/x/1.png")]))
    assert [event.change for event in events] == [ViewChange.APPENDED]
    assert inserts == [(5, 5)] and len(model) == 6
    owl = _ok(Path("/photos/d.jpg"), ("fox", 0.5))
    model.apply_batch([owl], "other model")  # not the shown model's: ignored
    assert model.data(model.index(4, Column.LABEL)) == NOT_CLASSIFIED
    model.apply_batch([owl, _ok(Path("/elsewhere.jpg"), ("cat", 0.5))], "pets")
    assert model.data(model.index(4, Column.LABEL)) == "fox"


def test_thumbnails_are_requested_once_when_painted(table: Table, qtbot):
    model = table.model
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
    model.set_thumbnail(Path("/photos/b.jpg"), QImage())  # undecodable: never asked again
    assert model.data(model.index(0, Column.THUMBNAIL), Qt.ItemDataRole.DecorationRole) is None
    assert requested == [Path("/photos/a.jpg")]


def test_thumbnail_cache_is_bounded(table: Table, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(results_model, "THUMBNAIL_CACHE_SIZE", 3)
    model = table.model
    requested = []
    model.thumbnailNeeded.connect(requested.append)
    image = QImage(4, 4, QImage.Format.Format_RGB888)
    for name in NAMES:
        model.set_thumbnail(Path(f"/photos/{name}.jpg"), image)
    _column(model, Column.THUMBNAIL, Qt.ItemDataRole.DecorationRole)
    assert requested == [Path("/photos/b.jpg"), Path("/photos/a.jpg")]  # the evicted ones


def test_clearing_empties_the_model(table: Table):
    table.send(ClearList())
    model = table.model
    assert model.rowCount() == 0 and model.counts() == (0, 0, 0)
    assert model.rowCount(model.index(0, 0)) == 0
    assert model.rowCount(QModelIndex()) == 0


def test_an_empty_table_says_what_to_do_and_a_filtered_one_why(qtbot, table: Table):
    from resnet_desktop.gui.results_view import EMPTY_HINT, FILTERED_HINT, ResultsPane

    empty = ResultsPane(ResultsModel())
    qtbot.addWidget(empty)
    assert empty.view.empty_hint() == EMPTY_HINT
    pane = ResultsPane(table.model)
    qtbot.addWidget(pane)
    assert pane.view.empty_hint() is None
    filters = []
    pane.filterChanged.connect(lambda text, minimum: filters.append((text, minimum)))
    pane.label_filter.setText("no such")
    pane.confidence_filter.setValue(20)
    qtbot.waitUntil(lambda: bool(filters), timeout=2000)
    assert filters == [("no such", 0.2)]  # once, when typing paused
    table.show(model="pets", identity=PETS, label_text="no such label")
    assert pane.view.empty_hint() == FILTERED_HINT
    pane.show()
    pane.view.viewport().grab()  # paints the hint without a Qt warning
