"""The window's list of images and one model's results for it, served from one thread.

A window may list 200,000 images, and none of them lives in the window: they live in a
:class:`~resnet_desktop.core.catalog_view.Listing` (TEMP tables of a catalog
connection), and the window's table asks for pages of the current view. Every query
runs in the one thread that owns that connection (:meth:`ListingService.job`), so
sorting 200,000 rows never freezes the window. Requests that queued up while the
thread was busy are served together: a burst of scanned chunks, or of keystrokes in a
filter, costs one new view.

The window sends :data:`ListingRequest` values and matches on :data:`ListingEvent`
values; a view carries a generation number, and pages of an older one are never sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import itertools
import queue
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from resnet_desktop.app.classify import PathSource, ShouldStop
from resnet_desktop.app.review import (
    PERSON_COLUMN,
    LabelRefused,
    PersonLabelChanged,
    SetPersonLabel,
    UndoPersonLabel,
    apply_label,
)
from resnet_desktop.app.unknown import decider_for
from resnet_desktop.core.catalog import (
    Catalog,
    CatalogError,
    CorruptCatalogError,
    ModelIdentity,
    set_aside,
)
from resnet_desktop.core.catalog_view import Listing, ListingCounts, SortKey, ViewQuery, ViewRow
from resnet_desktop.core.errors import user_message
from resnet_desktop.core.export import csv_text, write_csv

PAGE = 200  # rows per page the table asks for
POLL_SECONDS = 0.05  # how often a waiting thread checks should_stop
TEMPORARY_NAME = "catalog.sqlite3"
# Views whose order does not depend on results: results arriving leave the rows in place.
_STABLE_SORTS = (SortKey.ORDER, SortKey.NAME, SortKey.PATH)


@dataclass(frozen=True)
class TableQuery:
    """What the table shows: whose results, sorted and filtered how."""

    model: str | None = None  # the selected model; None while it is not known yet
    identity: ModelIdentity | None = None  # None: nothing in the catalog can be its
    sort: SortKey = SortKey.ORDER
    descending: bool = False
    label_text: str = ""
    min_confidence: float = 0.0
    top_k: int = 5
    grouped: bool = False  # rows of one label together (the gallery's "Group by label")

    def view_query(self, model: int | None) -> ViewQuery:
        return ViewQuery(
            model,
            self.sort,
            self.descending,
            self.label_text,
            self.min_confidence,
            self.top_k,
            self.grouped,
        )

    @property
    def filtered(self) -> bool:
        return self.view_query(None).filtered

    @property
    def unfiltered(self) -> TableQuery:
        return dataclasses.replace(self, label_text="", min_confidence=0.0)


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class AddPaths:
    paths: Sequence[Path]


@dataclass(frozen=True)
class ClearList:
    pass


@dataclass(frozen=True)
class MovePaths:
    """Listed files were moved (old path, new path): their rows follow, where they stand."""

    moves: Sequence[tuple[Path, Path]]


@dataclass(frozen=True)
class ShowQuery:
    """Show ``query``; ``first`` is the top row on screen, whose page comes with the view."""

    query: TableQuery
    first: int = 0


@dataclass(frozen=True)
class Refresh:
    """Results changed (a run recorded some): read the view again."""

    first: int = 0


@dataclass(frozen=True)
class FetchPage:
    generation: int
    start: int


@dataclass(frozen=True)
class CountRows:
    """How many listed images the model has classified now (during a run)."""


@dataclass(frozen=True)
class ExportCsv:
    """Write the view's rows with a result as CSV, in its order; all of them, or the
    filtered ones only."""

    path: Path
    filtered: bool


@dataclass(frozen=True)
class CopyRows:
    """The results of some rows of a view as CSV text; ranges are (first, last) rows."""

    generation: int
    ranges: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ListPaths:
    """Every listed path, in order, set as the future's result (for a classify run)."""

    reply: Future[list[Path]]


@dataclass(frozen=True)
class OpenCatalog:
    """Use another catalog file; ``set_aside`` first renames a damaged one out of the way."""

    path: Path
    set_aside: bool = False


@dataclass(frozen=True)
class Sync:
    """Answered with Synced(tag) once every request sent before it has been served."""

    tag: object


ListingRequest: TypeAlias = (
    AddPaths
    | ClearList
    | MovePaths
    | ShowQuery
    | Refresh
    | FetchPage
    | CountRows
    | ExportCsv
    | CopyRows
    | ListPaths
    | OpenCatalog
    | Sync
    | SetPersonLabel
    | UndoPersonLabel
)


# ------------------------------------------------------------------------------ events


class ViewChange(enum.Enum):
    """How a new view relates to the previous one, so the table keeps what it can."""

    RESET = "reset"  # other rows or another order: start again
    APPENDED = "appended"  # the same rows first, new ones after them
    UPDATED = "updated"  # the same rows in the same order, their results may differ


@dataclass(frozen=True)
class ViewReady:
    generation: int
    query: TableQuery
    change: ViewChange
    count: int  # rows in the view
    counts: ListingCounts  # of the whole list, for the query's model
    start: int  # the first row of ``rows``
    rows: list[ViewRow]


@dataclass(frozen=True)
class PageReady:
    generation: int
    start: int
    rows: list[ViewRow]


@dataclass(frozen=True)
class Counted:
    counts: ListingCounts


@dataclass(frozen=True)
class Exported:
    path: Path
    rows: int  # 0: nothing to export, and no file was written


@dataclass(frozen=True)
class ExportFailed:
    path: Path
    message: str


@dataclass(frozen=True)
class Copied:
    text: str
    rows: int


@dataclass(frozen=True)
class CatalogOpened:
    path: Path
    temporary: bool  # a catalog for this session only, removed when the window closes
    aside: Path | None = None  # where a damaged file was moved


@dataclass(frozen=True)
class CatalogProblem:
    """A catalog cannot be used; ``corrupt``: it is damaged, and can be set aside."""

    path: Path
    message: str
    corrupt: bool


@dataclass(frozen=True)
class Synced:
    tag: object


ListingEvent: TypeAlias = (
    ViewReady
    | PageReady
    | Counted
    | Exported
    | ExportFailed
    | Copied
    | CatalogOpened
    | CatalogProblem
    | Synced
    | PersonLabelChanged
    | LabelRefused
)


# ------------------------------------------------------------------------------ the session


@dataclass(frozen=True)
class _Shown:
    query: TableQuery
    count: int


class ListingSession:
    """The list and its current view in one catalog connection, served synchronously.

    What :class:`ListingService` runs in its thread; tests drive it directly.
    """

    def __init__(self, catalog: Catalog, temporary: Path | None) -> None:
        self._catalog = catalog
        self._temporary = temporary  # the folder of a session-only catalog
        self._query = TableQuery()
        self._first = 0
        self._generation = 0
        self._view = catalog.listing().view(self._query.view_query(None))
        self._shown: _Shown | None = None
        self._counts: tuple[int | None, ListingCounts] | None = None  # for a model id

    @classmethod
    def open(cls, path: Path) -> tuple[ListingSession, list[ListingEvent]]:
        """A session on ``path``, or on a temporary catalog when ``path`` cannot be used."""
        try:
            session = cls(Catalog.open(path), None)
        except (CatalogError, OSError) as error:  # OSError: its folder cannot be made
            session = cls(*_temporary_catalog())
            return session, [_problem(path, error), session._opened()]
        return session, [session._opened()]

    def close(self) -> None:
        self._catalog.close()
        if self._temporary is not None:
            shutil.rmtree(self._temporary, ignore_errors=True)

    @property
    def path(self) -> Path:
        return self._catalog.path

    def serve(self, requests: Sequence[ListingRequest]) -> Iterator[ListingEvent]:
        """Answer a batch of requests: changes first, then one new view, then reads."""
        try:
            yield from self._serve(requests)
        except CatalogError as error:
            for request in requests:
                if isinstance(request, ListPaths) and request.reply.set_running_or_notify_cancel():
                    request.reply.set_exception(error)
            yield _problem(self.path, error)

    def _serve(self, requests: Sequence[ListingRequest]) -> Iterator[ListingEvent]:
        changed, reset = False, False
        reads: list[ListingRequest] = []
        for request in requests:
            match request:
                case AddPaths(paths=paths):
                    changed = self._listing.add(paths) > 0 or changed
                case MovePaths(moves=moves):
                    if self._listing.repoint(moves):
                        changed = True
                        self._counts = None  # a row may have gone (its new path was listed)
                case ClearList():
                    self._listing.clear()
                    changed = reset = True
                    self._counts = None
                case ShowQuery(query=query, first=first):
                    self._query, self._first, changed = query, first, True
                case Refresh(first=first):
                    self._first, changed = first, True
                    self._counts = None
                case OpenCatalog():
                    yield from self._switch(request)
                    changed = True
                    self._counts = None
                case _:
                    reads.append(request)
        if changed:
            yield self._rebuild(reset)
        for request in _without_repeats(reads):
            yield from self._read(request)

    @property
    def _listing(self) -> Listing:
        return self._catalog.listing()

    def _model(self) -> int | None:
        identity = self._query.identity
        return None if identity is None else self._catalog.find_model(identity)

    # --- views ----------------------------------------------------------------------

    def _rebuild(self, reset: bool) -> ViewReady:
        self._view = self._listing.view(self._query.view_query(self._model()))
        self._generation += 1
        change = ViewChange.RESET if reset else self._change(len(self._view))
        start = 0 if change is ViewChange.RESET else self._first - self._first % PAGE
        self._shown = _Shown(self._query, len(self._view))
        return ViewReady(
            self._generation,
            self._query,
            change,
            len(self._view),
            self._counted(self._view.query.model),
            start,
            self._view.rows(start, PAGE),
        )

    def _counted(self, model: int | None) -> ListingCounts:
        """The list's counts for ``model``: counting 200,000 rows takes a good part of a
        second, so a new sort or filter reuses them and new rows add theirs."""
        known = None if self._counts is None or self._counts[0] != model else self._counts[1]
        if known is None:
            counts = self._listing.counts(model)
        elif known.images == len(self._listing):
            counts = known
        else:
            more = self._listing.counts(model, after=known.images)
            counts = ListingCounts(
                known.images + more.images,
                known.classified + more.classified,
                known.failed + more.failed,
                known.labelled + more.labelled,
            )
        self._counts = (model, counts)
        return counts

    def _change(self, count: int) -> ViewChange:
        """What the table may keep: rows stay put unless their order or filter moved them."""
        shown, query = self._shown, self._query
        if shown is None or query.filtered or shown.query.filtered:
            return ViewChange.RESET
        if query.grouped or shown.query.grouped:  # groups follow results and labels
            return ViewChange.RESET
        if (shown.query.sort, shown.query.descending) != (query.sort, query.descending):
            return ViewChange.RESET
        if query.sort not in _STABLE_SORTS or count < shown.count:
            return ViewChange.RESET
        if count == shown.count:
            return ViewChange.UPDATED
        plain = query.sort is SortKey.ORDER and not query.descending
        return ViewChange.APPENDED if plain else ViewChange.RESET

    # --- reads ----------------------------------------------------------------------

    def _read(self, request: ListingRequest) -> Iterator[ListingEvent]:
        match request:
            case FetchPage(generation=generation, start=start):
                if generation == self._generation:
                    yield PageReady(generation, start, self._view.rows(start, PAGE))
            case CountRows():
                model = self._model()
                self._counts = (model, self._listing.counts(model))
                yield Counted(self._counts[1])
            case ExportCsv(path=path, filtered=filtered):
                yield self._export(path, self._query if filtered else self._query.unfiltered)
            case CopyRows(generation=generation, ranges=ranges):
                if generation == self._generation:
                    yield self._copy(ranges)
            case ListPaths(reply=reply):
                if reply.set_running_or_notify_cancel():
                    reply.set_result(list(self._listing.paths()))
            case Sync(tag=tag):
                yield Synced(tag)
            case SetPersonLabel() | UndoPersonLabel():
                yield from self._label(request)
            case _:
                raise TypeError(f"unknown request to the listing: {request!r}")

    def _label(self, request: SetPersonLabel | UndoPersonLabel) -> Iterator[ListingEvent]:
        """Store or take back a person's label; the list's counts follow without a recount
        (the window labels listed images only)."""
        model = self._model()
        event = apply_label(self._catalog, model, request)
        yield event
        if isinstance(event, PersonLabelChanged) and event.delta and self._counts is not None:
            known_for, counts = self._counts
            labelled = max(0, counts.labelled + event.delta)
            self._counts = (known_for, dataclasses.replace(counts, labelled=labelled))
            yield Counted(self._counts[1])

    def _export(self, path: Path, query: TableQuery) -> Exported | ExportFailed:
        """The CSV of the view's results; a person's labels in their own column, if any."""
        model = self._model()
        if model is None:
            return Exported(path, 0)
        top_k = min(query.top_k, len(self._catalog.class_names(model)))
        extra = (PERSON_COLUMN,) if self._counted(model).labelled else ()
        rows = self._listing.stream(query.view_query(model))
        with contextlib.closing(rows):
            cells = (
                (row.prediction, (row.person_label or "",)[: len(extra)])
                for row in rows
                if row.prediction is not None
            )
            first = next(cells, None)
            if first is None:
                return Exported(path, 0)
            decider = decider_for(query.model)  # a decision column when it has a threshold
            decide = None if decider is None else decider.decide
            try:
                written = write_csv(
                    path, itertools.chain([first], cells), top_k, extra, decide=decide
                )
            except OSError as error:
                return ExportFailed(path, f"cannot write {path}: {error.strerror or error}")
            return Exported(path, written)

    def _copy(self, ranges: tuple[tuple[int, int], ...]) -> Copied:
        """The rows' CSV, with a person's labels in their own column when any has one."""
        rows = (row for first, last in ranges for row in self._view.rows(first, last - first + 1))
        kept = [(row.prediction, row.person_label) for row in rows if row.prediction is not None]
        predictions = [prediction for prediction, _ in kept]
        top_k = max((len(p.labels) for p in predictions), default=0) or self._query.top_k
        if all(label is None for _, label in kept):
            return Copied(csv_text(predictions, top_k), len(kept))
        cells = [(prediction, (label or "",)) for prediction, label in kept]
        return Copied(csv_text(cells, top_k, (PERSON_COLUMN,)), len(kept))

    # --- catalogs -------------------------------------------------------------------

    def _opened(self, aside: Path | None = None) -> CatalogOpened:
        return CatalogOpened(self.path, self._temporary is not None, aside)

    def _switch(self, request: OpenCatalog) -> Iterator[ListingEvent]:
        """Move the list to another catalog; on failure, say why and keep this one."""
        aside = None
        try:
            if request.set_aside:
                if self.path == request.path:  # let go of the damaged file first
                    self._adopt(*_temporary_catalog())
                aside = set_aside(request.path) if request.path.exists() else None
            catalog = Catalog.open(request.path)
        except (CatalogError, OSError) as error:
            yield _problem(request.path, error)
            return
        self._adopt(catalog, None)
        yield self._opened(aside)

    def _adopt(self, catalog: Catalog, temporary: Path | None) -> None:
        """Use ``catalog`` from now on, with the same images listed; close the old one."""
        try:
            catalog.listing().add(self._listing.paths())
        except BaseException:
            catalog.close()
            raise
        self.close()
        self._catalog, self._temporary = catalog, temporary
        self._shown = None


def _temporary_catalog() -> tuple[Catalog, Path]:
    folder = Path(tempfile.mkdtemp(prefix="resnet-desktop-catalog-"))
    return Catalog.open(folder / TEMPORARY_NAME), folder


def _problem(path: Path, error: CatalogError | OSError) -> CatalogProblem:
    if isinstance(error, CatalogError):
        return CatalogProblem(path, user_message(error), isinstance(error, CorruptCatalogError))
    return CatalogProblem(path, f"cannot use the catalog {path}: {error.strerror or error}", False)


def _without_repeats(requests: list[ListingRequest]) -> list[ListingRequest]:
    """The requests in order, each page asked for once (a view scrolled back and forth)."""
    return list(dict.fromkeys(requests))


# ------------------------------------------------------------------------------ the service


class ListingService:
    """Runs a :class:`ListingSession` as a job (for a GeneratorWorker) fed from a queue.

    :meth:`submit` may be called from any thread; the events come out of :meth:`job`.
    """

    def __init__(self, catalog: Path) -> None:
        self.catalog = catalog  # the file asked for at start
        self._requests: queue.SimpleQueue[ListingRequest] = queue.SimpleQueue()

    def submit(self, request: ListingRequest) -> None:
        self._requests.put(request)

    def job(self, should_stop: ShouldStop) -> Iterator[ListingEvent]:
        session, events = ListingSession.open(self.catalog)
        try:
            yield from events
            while not should_stop():
                requests = self._take()
                if requests:
                    yield from session.serve(requests)
        finally:
            session.close()
            self._cancel_waiting()

    def _take(self) -> list[ListingRequest]:
        """Every request queued now, waiting up to POLL_SECONDS for the first one."""
        try:
            requests = [self._requests.get(timeout=POLL_SECONDS)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while True:
                requests.append(self._requests.get_nowait())
        return requests

    def _cancel_waiting(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                request = self._requests.get_nowait()
                if isinstance(request, ListPaths):
                    request.reply.cancel()

    def paths_source(self) -> PathSource:
        """For a classify run: the listed paths, asked for when the run starts."""

        def listed(should_stop: ShouldStop) -> list[Path]:
            reply: Future[list[Path]] = Future()
            self.submit(ListPaths(reply))
            while not should_stop():
                with contextlib.suppress(FutureTimeout):
                    return reply.result(timeout=POLL_SECONDS)
            reply.cancel()
            return []

        return listed
