"""The window's list served from a catalog connection: views, pages, exports, catalogs."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest

from resnet_desktop.app.listing import (
    PAGE,
    AddPaths,
    CatalogOpened,
    CatalogProblem,
    ClearList,
    Copied,
    CopyRows,
    Counted,
    CountRows,
    ExportCsv,
    Exported,
    FetchPage,
    ListingService,
    ListingSession,
    ListPaths,
    MovePaths,
    OpenCatalog,
    PageReady,
    Refresh,
    ShowQuery,
    Sync,
    Synced,
    TableQuery,
    ViewChange,
    ViewReady,
)
from resnet_desktop.core.catalog import Catalog, ModelIdentity, RunInfo
from resnet_desktop.core.catalog_schema import APPLICATION_ID
from resnet_desktop.core.catalog_view import ListingCounts, SortKey
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess

RUN = RunInfo("cpu", "fp32", "torch")
TEN = ModelIdentity("ten", "a" * 64, tuple(f"ten_{i}" for i in range(10)), Preprocess(32, None))
FIVE = ModelIdentity("five", "b" * 64, ("daisy", "rose", "tulip", "iris", "lily"), TEN.preprocess)


def _paths(count: int) -> list[Path]:
    return [Path(f"/photos/img_{n:04d}.jpg") for n in range(count)]


def _prediction(path: Path, number: int, identity: ModelIdentity = TEN) -> Prediction:
    """Confidences that differ per image, so sorting has something to do."""
    size = len(identity.class_names)
    indices = tuple((number + i) % size for i in range(5))
    top = 0.2 + (number * 37 % 71) / 100
    probs = (top, *((1 - top) / 5,) * 4)
    return Prediction(path, tuple(identity.class_names[i] for i in indices), probs, indices)


def _record(file: Path, identity: ModelIdentity, paths: list[Path]) -> list[Prediction]:
    predictions = [_prediction(path, n, identity) for n, path in enumerate(paths)]
    with Catalog.open(file) as catalog:
        catalog.record_batch(catalog.model_id(identity), predictions, RUN)
    return predictions


@pytest.fixture
def file(tmp_path: Path) -> Path:
    return tmp_path / "catalog.sqlite3"


@pytest.fixture
def session(file: Path):
    opened, events = ListingSession.open(file)
    assert events == [CatalogOpened(file, temporary=False)]
    yield opened
    opened.close()


def _one(events, kind):
    found = [event for event in events if isinstance(event, kind)]
    assert len(found) == 1, events
    return found[0]


def _labels(rows) -> list[str | None]:
    return [row.prediction.labels[0] if row.prediction else None for row in rows]


def test_a_burst_of_added_chunks_makes_one_view_and_later_ones_append(session, file):
    paths = _paths(30)
    events = list(session.serve([AddPaths(paths[:10]), AddPaths(paths[10:20])]))
    first = _one(events, ViewReady)
    assert (first.count, first.change, first.start) == (20, ViewChange.RESET, 0)
    assert [row.path for row in first.rows] == paths[:20]
    added = _one(session.serve([AddPaths(paths[15:])]), ViewReady)
    assert (added.count, added.change) == (30, ViewChange.APPENDED)
    assert added.generation == first.generation + 1
    assert list(session.serve([AddPaths(paths[:3])])) == []  # nothing new: no new view


def test_switching_models_shows_only_that_models_results(session, file):
    paths = _paths(8)
    ten = _record(file, TEN, paths[:6])
    five = _record(file, FIVE, paths[4:])
    list(session.serve([AddPaths(paths)]))
    view = _one(session.serve([ShowQuery(TableQuery("ten", TEN, top_k=3))]), ViewReady)
    assert view.change is ViewChange.UPDATED  # the same rows: the table keeps its place
    assert _labels(view.rows) == [p.labels[0] for p in ten] + [None, None]
    assert all(len(row.prediction.labels) == 3 for row in view.rows[:6])
    assert view.counts == ListingCounts(8, 6, 0)

    view = _one(session.serve([ShowQuery(TableQuery("five", FIVE))]), ViewReady)
    assert _labels(view.rows) == [None] * 4 + [p.labels[0] for p in five]
    assert set(_labels(view.rows)[4:]) <= set(FIVE.class_names)
    unknown = ModelIdentity("five", "c" * 64, FIVE.class_names, FIVE.preprocess)  # retrained
    view = _one(session.serve([ShowQuery(TableQuery("five", unknown))]), ViewReady)
    assert _labels(view.rows) == [None] * 8 and view.counts == ListingCounts(8, 0, 0)


def test_sorting_and_filtering_happen_in_sql_and_stale_pages_are_not_sent(session, file):
    paths = _paths(PAGE + 50)
    predictions = _record(file, TEN, paths)
    list(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]))
    query = TableQuery("ten", TEN, sort=SortKey.CONFIDENCE, descending=True)
    view = _one(session.serve([ShowQuery(query)]), ViewReady)
    assert view.change is ViewChange.RESET and len(view.rows) == PAGE
    fetched = session.serve([FetchPage(view.generation, PAGE), FetchPage(view.generation - 1, 0)])
    page = _one(fetched, PageReady)
    confidences = [row.prediction.probs[0] for row in [*view.rows, *page.rows]]
    assert confidences == sorted((p.probs[0] for p in predictions), reverse=True)

    filtered = TableQuery("ten", TEN, label_text="TEN_3", min_confidence=0.5)
    view = _one(session.serve([ShowQuery(filtered)]), ViewReady)
    expected = [p for p in predictions if p.labels[0] == "ten_3" and p.probs[0] >= 0.5]
    assert 0 < view.count == len(expected) < len(paths)
    assert [row.path for row in view.rows] == [p.path for p in expected]


def test_a_refresh_after_a_run_keeps_the_rows_and_shows_the_new_results(session, file):
    paths = _paths(PAGE * 2)
    list(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]))
    _record(file, TEN, paths)  # another connection: the classify run
    counted = _one(session.serve([CountRows()]), Counted)
    assert counted.counts == ListingCounts(len(paths), len(paths), 0)
    view = _one(session.serve([Refresh(first=PAGE + 7)]), ViewReady)
    assert (view.change, view.start) == (ViewChange.UPDATED, PAGE)
    assert all(row.prediction is not None for row in view.rows)


def test_exports_stream_the_views_order_and_write_nothing_without_results(session, file, tmp_path):
    paths = _paths(40)
    predictions = _record(file, TEN, paths[:30])
    list(session.serve([AddPaths(paths)]))
    target = tmp_path / "out.csv"
    assert _one(session.serve([ExportCsv(target, False)]), Exported) == Exported(target, 0)
    assert not target.exists()  # no model shown: nothing to export

    query = TableQuery("ten", TEN, sort=SortKey.CONFIDENCE, min_confidence=0.6, top_k=2)
    list(session.serve([ShowQuery(query)]))
    assert _one(session.serve([ExportCsv(target, False)]), Exported).rows == 30
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "path,label_1,prob_1,label_2,prob_2,error"
    ascending = sorted(predictions, key=lambda p: p.probs[0])
    assert [line.split(",")[0] for line in lines[1:]] == [str(p.path) for p in ascending]
    kept = [p for p in ascending if p.probs[0] >= 0.6]
    assert _one(session.serve([ExportCsv(target, True)]), Exported).rows == len(kept) < 30


def test_copy_takes_the_rows_of_the_selected_ranges(session, file):
    paths = _paths(10)
    _record(file, TEN, paths[:8])
    view = _one(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]), ViewReady)
    copied = _one(session.serve([CopyRows(view.generation, ((1, 2), (7, 9)))]), Copied)
    assert copied.rows == 3  # rows 8 and 9 have no result
    assert [line.split(",")[0] for line in copied.text.splitlines()[1:]] == [
        str(paths[1]), str(paths[2]), str(paths[7])
    ]  # fmt: skip
    assert list(session.serve([CopyRows(view.generation - 1, ((0, 1),))])) == []


def test_clearing_resets_and_the_paths_come_in_order(session):
    paths = _paths(5)
    list(session.serve([AddPaths(paths)]))
    reply: Future[list[Path]] = Future()
    events = list(session.serve([ListPaths(reply), Sync("listed"), AddPaths(paths[:1])]))
    assert reply.result(timeout=0) == paths
    assert events == [Synced("listed")]  # nothing was added: no new view
    view = _one(session.serve([ClearList()]), ViewReady)
    assert (view.count, view.change) == (0, ViewChange.RESET)


def test_moved_files_keep_their_rows_under_the_new_paths(session):
    paths = _paths(5)
    list(session.serve([AddPaths(paths)]))
    elsewhere = [Path("/sorted/cat") / path.name for path in paths]
    moves = [(paths[1], elsewhere[1]), (paths[3], paths[0]), (Path("/not/listed.jpg"), paths[4])]
    view = _one(session.serve([MovePaths(moves)]), ViewReady)
    assert (view.count, view.change) == (4, ViewChange.RESET)  # paths[0] was listed: one row
    assert [row.path for row in view.rows] == [paths[0], elsewhere[1], paths[2], paths[4]]
    back = _one(session.serve([MovePaths([(elsewhere[1], paths[1])])]), ViewReady)
    assert back.change is ViewChange.UPDATED  # the same rows, where they were
    assert [row.path for row in back.rows] == [paths[0], paths[1], paths[2], paths[4]]
    assert list(session.serve([MovePaths([(Path("/none.jpg"), Path("/x.jpg"))])])) == []


# ------------------------------------------------------------------------------ catalogs


def _newer_catalog(file: Path) -> None:
    with Catalog.open(file):
        pass
    with sqlite3.connect(file) as db:
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute("PRAGMA user_version = 99")
    db.close()


def test_a_damaged_catalog_is_reported_and_a_temporary_one_used(file: Path):
    file.write_bytes(b"this is no database" * 100)
    session, events = ListingSession.open(file)
    problem, opened = events
    assert isinstance(problem, CatalogProblem) and problem.corrupt and problem.path == file
    assert "damaged" in problem.message
    assert opened.temporary and opened.path != file and opened.path.exists()
    list(session.serve([AddPaths(_paths(3))]))

    renewed = list(session.serve([OpenCatalog(file, set_aside=True)]))
    opened = _one(renewed, CatalogOpened)
    assert opened == CatalogOpened(file, False, opened.aside) and opened.aside is not None
    assert opened.aside.read_bytes().startswith(b"this is no database")
    assert _one(renewed, ViewReady).count == 3  # the list moved along
    session.close()


def test_a_catalog_from_a_newer_version_is_refused_and_left_alone(file: Path):
    _newer_catalog(file)
    before = file.read_bytes()
    session, (problem, opened) = ListingSession.open(file)
    assert not problem.corrupt and "newer version" in problem.message
    temporary = opened.path
    session.close()
    assert file.read_bytes() == before
    assert not temporary.parent.exists()  # the session's temporary catalog is gone


def test_the_catalog_in_use_can_be_set_aside_for_a_new_one(session, file):
    paths = _paths(5)
    _record(file, TEN, paths)
    list(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]))
    events = list(session.serve([OpenCatalog(file, set_aside=True)]))
    opened = _one(events, CatalogOpened)
    assert opened.path == file and not opened.temporary and opened.aside.exists()
    assert _one(events, ViewReady).counts == ListingCounts(5, 0, 0)  # a new, empty one
    with Catalog.open(opened.aside) as old:
        assert old.stats().results == 5  # kept, whole


def test_a_catalog_whose_folder_cannot_be_made_is_explained(tmp_path: Path):
    (tmp_path / "a file").write_text("not a folder", encoding="utf-8")
    wanted = tmp_path / "a file" / "catalog.sqlite3"
    session, (problem, opened) = ListingSession.open(wanted)
    assert problem == CatalogProblem(wanted, problem.message, corrupt=False)
    assert problem.message.startswith(f"cannot use the catalog {wanted}") and opened.temporary
    assert _one(session.serve([OpenCatalog(wanted)]), CatalogProblem) == problem
    session.close()


def test_opening_another_catalog_moves_the_list_or_keeps_the_old_one(session, file, tmp_path):
    paths = _paths(4)
    other = tmp_path / "other.sqlite3"
    _record(other, TEN, paths[:2])
    list(session.serve([AddPaths(paths), ShowQuery(TableQuery("ten", TEN))]))
    events = list(session.serve([OpenCatalog(other)]))
    assert _one(events, CatalogOpened) == CatalogOpened(other, False)
    assert _one(events, ViewReady).counts == ListingCounts(4, 2, 0)

    newer = tmp_path / "newer.sqlite3"
    _newer_catalog(newer)
    problem = _one(session.serve([OpenCatalog(newer)]), CatalogProblem)
    assert "newer version" in problem.message and session.path == other


# ------------------------------------------------------------------------------ the thread


def test_the_service_answers_from_its_thread_until_stopped(file: Path):
    service = ListingService(file)
    stop = threading.Event()
    events: list = []
    thread = threading.Thread(target=lambda: events.extend(service.job(stop.is_set)))
    thread.start()
    try:
        service.submit(AddPaths(_paths(3)))
        assert service.paths_source()(lambda: False) == _paths(3)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert isinstance(events[0], CatalogOpened) and isinstance(events[1], ViewReady)
    assert service.paths_source()(lambda: True) == []  # stopped: no answer is awaited


def test_counts_are_reused_for_a_new_order_and_added_to_for_new_rows(session, file, monkeypatch):
    from resnet_desktop.core import catalog_view

    paths = _paths(30)
    _record(file, TEN, paths[:12])
    calls: list[int] = []
    counts = catalog_view.Listing.counts

    def spy(listing, model, after=0):
        calls.append(after)
        return counts(listing, model, after)

    monkeypatch.setattr(catalog_view.Listing, "counts", spy)
    shown = _one(
        session.serve([AddPaths(paths[:10]), ShowQuery(TableQuery("ten", TEN))]), ViewReady
    )
    assert shown.counts == ListingCounts(10, 10, 0) and calls == [0]
    appended = _one(session.serve([AddPaths(paths[10:])]), ViewReady)
    assert appended.counts == ListingCounts(30, 12, 0) and calls == [0, 10]
    sorted_view = TableQuery("ten", TEN, sort=SortKey.CONFIDENCE)
    assert _one(session.serve([ShowQuery(sorted_view)]), ViewReady).counts == appended.counts
    assert calls == [0, 10]  # a new order counts nothing
    assert _one(session.serve([Refresh()]), ViewReady).counts == appended.counts
    assert calls == [0, 10, 0]  # results may have changed: counted again
