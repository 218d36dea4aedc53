"""Sorted, filtered pages of a window's list of images and one model's results, in SQL.

A window listing 200,000 images keeps none of them as Python objects. The list lives in a
TEMP table of the catalog's connection (private to it: never written to the catalog
file, gone when it closes). A sorted or filtered view is computed once by SQLite into
another TEMP table of row positions, so any page afterwards is one range query on an
integer key, wherever the scroll bar is dragged.
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core.catalog import (
    CHUNK,
    STORED_TOP_K,
    PathLike,
    chunks,
    decode_result,
    path_key,
)
from resnet_desktop.core.predictor import Prediction

if TYPE_CHECKING:
    from resnet_desktop.core.catalog import Catalog


class SortKey(enum.Enum):
    ORDER = "order"  # the order the images were listed in
    NAME = "name"  # file name, case-insensitive
    PATH = "path"  # full path, byte order
    LABEL = "label"  # top-1 label, case-insensitive; unclassified first, errors last
    CONFIDENCE = "confidence"  # top-1 probability; no result sorts as -1
    # What a person should look at first: results not labelled by a person, least sure
    # first (by out-of-distribution score where the model has one, then confidence);
    # then the labelled ones, the unclassified, and errors last.
    REVIEW = "review"


_ORDER_BY = {
    SortKey.ORDER: ("l.pos",),
    SortKey.NAME: ("l.name",),
    SortKey.PATH: ("l.path",),
    SortKey.LABEL: ("r.error IS NOT NULL", "coalesce(c.folded, '')"),
    SortKey.CONFIDENCE: ("coalesce(r.confidence, -1.0)",),
    SortKey.REVIEW: (
        "r.error IS NOT NULL",
        "r.k IS NULL",
        "p.id IS NOT NULL",
        "r.ood_score IS NULL",
        "r.ood_score",
        "r.confidence",
    ),
}
# Grouped by label: the label a person gave, else the model's top-1; rows with neither last.
_GROUP_BY = ("coalesce(p.label, c.label) IS NULL", "lower(coalesce(p.label, c.label))")


@dataclass(frozen=True)
class ViewQuery:
    """Which model's results to show, in what order, and which rows to keep.

    With a filter (``label_text`` or ``min_confidence``) only rows with a successful
    result pass: the top-1 label contains ``label_text`` (case-insensitive) and the top-1
    probability is at least ``min_confidence``. ``model`` None is a model the catalog has
    no results of: every row is unclassified. ``grouped``: rows with the same label (a
    person's, else the model's) come together, in ``sort`` order within each label.
    """

    model: int | None
    sort: SortKey = SortKey.ORDER
    descending: bool = False
    label_text: str = ""
    min_confidence: float = 0.0
    top_k: int = STORED_TOP_K
    grouped: bool = False

    @property
    def filtered(self) -> bool:
        return bool(self.label_text.strip()) or self.min_confidence > 0


@dataclass(frozen=True)
class ListingCounts:
    images: int  # listed
    classified: int  # with a successful result of the model
    failed: int  # with an error result of the model
    labelled: int = 0  # with a label a person gave (whatever the model)


@dataclass(frozen=True)
class ViewRow:
    position: int  # in the listing, from 0
    path: Path
    prediction: Prediction | None  # None: the view's model has not classified it yet
    person_label: str | None = None  # the label a person gave it last, if any


_JOINS = """
LEFT JOIN images i ON i.path = l.path
LEFT JOIN results r ON r.image_id = i.id AND r.model_id = :model
"""
# The latest label a person gave (labels stay as a history: an undo removes the latest).
_PERSON_JOIN = """
LEFT JOIN person_labels p ON p.id = (
    SELECT max(q.id) FROM person_labels q WHERE q.image_id = i.id)
"""
_PAGE_COLUMNS = "l.pos, l.path, p.label, r.k, r.indices, r.probs, r.error, r.ood_score"


class Listing:
    """The images a window lists, in the order they were added, without duplicates."""

    def __init__(self, catalog: Catalog) -> None:
        # Part of its Catalog (made by Catalog.listing()): it shares its connection.
        self._catalog = catalog
        self._db = catalog._db
        self._views = 0  # views made so far: only the newest may read its rows
        with catalog._errors():
            self._db.execute(
                "CREATE TEMP TABLE listed (pos INTEGER PRIMARY KEY, "
                "path BLOB NOT NULL UNIQUE, name TEXT NOT NULL)"
            )
            self._db.execute("CREATE TEMP TABLE view_rows (row INTEGER PRIMARY KEY, pos INTEGER)")

    def __len__(self) -> int:
        with self._catalog._errors():
            return int(self._db.execute("SELECT count(*) FROM temp.listed").fetchone()[0])

    def add(self, paths: Iterable[PathLike]) -> int:
        """Append the paths not listed yet; returns how many were new."""
        before = self._db.total_changes
        for chunk in chunks(paths, CHUNK):
            rows = [(path_key(path), _name_key(path)) for path in chunk]
            with self._temp_transaction():
                self._db.executemany(
                    "INSERT OR IGNORE INTO temp.listed (path, name) VALUES (?, ?)", rows
                )
        return self._db.total_changes - before

    def repoint(self, moves: Iterable[tuple[PathLike, PathLike]]) -> int:
        """Files moved (a sort, its undo): their rows take the new paths, in place.

        A new path listed already keeps its own row and the old one goes, so the list never
        holds a path twice. Returns how many rows changed.
        """
        before = self._db.total_changes
        pairs = list(moves)
        for start in range(0, len(pairs), CHUNK):
            keys = [(path_key(new), path_key(old)) for old, new in pairs[start : start + CHUNK]]
            with self._temp_transaction():
                self._db.executemany(
                    "UPDATE OR IGNORE temp.listed SET path = :new, name = :name WHERE path = :old",
                    [
                        {"new": new, "old": old, "name": _name_key(os.fsdecode(new))}
                        for new, old in keys
                    ],
                )
                self._db.executemany(  # the new path was listed already: the old row goes
                    "DELETE FROM temp.listed WHERE path = ? "
                    "AND EXISTS (SELECT 1 FROM temp.listed WHERE path = ?)",
                    [(old, new) for new, old in keys],
                )
        return self._db.total_changes - before

    def clear(self) -> None:
        with self._catalog._errors():
            self._db.execute("DELETE FROM temp.listed")
            self._db.execute("DELETE FROM temp.view_rows")

    def counts(self, model: int | None, after: int = 0) -> ListingCounts:
        """How many listed images ``model`` classified, and how many it failed on.

        ``after``: count only the images listed after the first ``after`` (the ones a
        growing list just added, when the earlier ones are counted already).
        """
        sql = (
            "SELECT count(*), count(r.top1), count(r.error), count(p.id) "
            f"FROM temp.listed l {_JOINS} {_PERSON_JOIN} WHERE l.pos > :after"
        )
        with self._catalog._errors():
            row = self._db.execute(sql, {"model": model, "after": after}).fetchone()
        return ListingCounts(*row)

    def paths(self) -> Iterator[Path]:
        """The listed paths in order, read a chunk at a time (the listing may grow meanwhile)."""
        last = 0
        while True:
            with self._catalog._errors():
                rows = self._db.execute(
                    "SELECT pos, path FROM temp.listed WHERE pos > ? ORDER BY pos LIMIT ?",
                    (last, CHUNK),
                ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield from (Path(os.fsdecode(path)) for _, path in rows)

    def view(self, query: ViewQuery) -> ResultView:
        """The listing sorted and filtered as ``query`` says; earlier views stop working."""
        self._views += 1
        self._class_names(query)  # checks the model exists
        if query.sort is SortKey.ORDER and not (query.filtered or query.grouped):
            return ResultView(self, query, self._views, len(self), materialized=False)
        with self._temp_transaction():
            self._db.execute("DELETE FROM temp.view_rows")
            count = self._db.execute(_materialize_sql(query), _parameters(query)).rowcount
        return ResultView(self, query, self._views, count, materialized=True)

    @contextlib.contextmanager
    def _temp_transaction(self) -> Iterator[None]:
        """A deferred transaction: writing TEMP tables takes no lock on the catalog file."""
        with self._catalog._errors():
            self._db.execute("BEGIN")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def _page(self, view: ResultView, start: int, count: int) -> list[ViewRow]:
        if view.generation != self._views:
            raise RuntimeError("this view was replaced by a newer one: ask for the rows again")
        if view.materialized:
            source = "temp.view_rows v JOIN temp.listed l ON l.pos = v.pos"
            where = "v.row BETWEEN :first AND :last ORDER BY v.row"
        else:
            source, where = "temp.listed l", "l.pos BETWEEN :first AND :last ORDER BY l.pos"
        sql = f"SELECT {_PAGE_COLUMNS} FROM {source} {_JOINS} {_PERSON_JOIN} WHERE {where}"
        arguments = {"model": view.query.model, "first": start + 1, "last": start + count}
        with self._catalog._errors():
            rows = self._db.execute(sql, arguments).fetchall()
        names = self._class_names(view.query)
        return [self._row(row, names, view.query.top_k) for row in rows]

    def stream(self, query: ViewQuery) -> Iterator[ViewRow]:
        """Every row ``query`` keeps, in its order, without replacing the current view.

        For exports: SQLite sorts once and the rows are read CHUNK at a time, so however
        long the listing, only a chunk of it is in Python at once.
        """
        names = self._class_names(query)
        sql = f"SELECT {_PAGE_COLUMNS} {_selected_sql(query)}"
        with self._catalog._errors():
            cursor = self._db.execute(sql, _parameters(query))
        try:
            while True:
                with self._catalog._errors():
                    rows = cursor.fetchmany(CHUNK)
                if not rows:
                    return
                yield from (self._row(row, names, query.top_k) for row in rows)
        finally:
            cursor.close()

    def _class_names(self, query: ViewQuery) -> tuple[str, ...]:
        return () if query.model is None else self._catalog.class_names(query.model)

    def _row(self, row: tuple, names: tuple[str, ...], top_k: int) -> ViewRow:
        path = Path(os.fsdecode(row[1]))
        stored = row[3:]
        prediction = None
        if stored[0] is not None:
            prediction = decode_result(path, stored, names, top_k, self._catalog.path)
        return ViewRow(row[0] - 1, path, prediction, row[2])


@dataclass(frozen=True)
class ResultView:
    """A sorted, filtered listing: its length, and its rows a page at a time."""

    listing: Listing
    query: ViewQuery
    generation: int
    count: int
    materialized: bool

    def __len__(self) -> int:
        return self.count

    def rows(self, start: int, count: int) -> list[ViewRow]:
        """Rows ``start`` to ``start + count - 1`` (fewer at the end)."""
        if start < 0 or count < 0:
            raise ValueError("start and count must not be negative")
        return self.listing._page(self, start, count)


def _materialize_sql(query: ViewQuery) -> str:
    return f"INSERT INTO temp.view_rows (pos) SELECT l.pos {_selected_sql(query)}"


def _selected_sql(query: ViewQuery) -> str:
    """The FROM ... ORDER BY of the rows ``query`` keeps, in its order."""
    direction = " DESC" if query.descending else ""
    keys = [key + direction for key in _ORDER_BY[query.sort]]
    if query.grouped:
        keys[:0] = _GROUP_BY
    if query.sort is not SortKey.ORDER:
        keys.append("l.pos")
    where = ""
    if query.filtered:
        where = "WHERE r.confidence >= :min_confidence AND instr(c.folded, :label_text) > 0"
    return (
        f"FROM temp.listed l {_JOINS} {_PERSON_JOIN}"
        "LEFT JOIN classes c ON c.model_id = r.model_id AND c.idx = r.top1 "
        f"{where} ORDER BY {', '.join(keys)}"
    )


def _parameters(query: ViewQuery) -> dict[str, object]:
    return {
        "model": query.model,
        "min_confidence": query.min_confidence,
        "label_text": query.label_text.strip().casefold(),
    }


def _name_key(path: PathLike) -> str:
    """The file name to sort by: casefolded text, undecodable bytes as ``\\xNN``."""
    name = os.fsencode(os.path.basename(path))
    return name.decode("utf-8", errors="backslashreplace").casefold()
