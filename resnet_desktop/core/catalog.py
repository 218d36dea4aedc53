"""The results catalog: every prediction durable the moment its batch is done.

Runs record each batch in one transaction, so a killed run loses at most the batch in
flight and the next run computes only what is missing (:meth:`Catalog.pending`). A result
belongs to one image file *as it was* (its :class:`FileSignature`) and one model
*identity* (name, weights sha256, class names, preprocessing): a changed file or another
model never sees it. Reads stream in chunks of :data:`CHUNK` paths, one query each, so a
million paths never sit in memory at once.

One :class:`Catalog` is one SQLite connection: use it from one thread, and open another
for a worker thread (two processes or threads on one file wait on each other briefly).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, NamedTuple

from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog_schema import (
    CatalogError,
    CorruptCatalogError,
    connect,
    schema_version,
    set_aside,
    translated_errors,
)
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    import sqlite3

    from resnet_desktop.core.catalog_view import Listing
    from resnet_desktop.core.model_loader import LoadedModel

CHUNK = 500  # paths per query: well under SQLite's 32,766 variables
STORED_TOP_K = 5  # results keep at least this many classes, so a smaller k never recomputes
MAX_LABEL_CHARS = 200  # a label a person gives: a class name, not a note

PathLike = str | os.PathLike[str]


# ------------------------------------------------------------------------------ values


class FileSignature(NamedTuple):
    """What tells a changed file from an unchanged one, from ``stat`` alone.

    Size and mtime catch ordinary edits; ctime catches a rewrite whose mtime was put back
    (``cp -p``, ``rsync -t``, ``touch -r``), since nothing but the kernel sets it. Hashing
    content would cost a read of every file on every run; a chmod or a rename that
    changes ctime only costs a recomputation. (On Windows st_ctime is the creation time.)
    """

    size: int
    mtime_ns: int
    ctime_ns: int


def file_signature(path: PathLike) -> FileSignature | None:
    """The file's signature now, or None when it cannot be stat'ed."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return FileSignature(info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass(frozen=True)
class ModelIdentity:
    """Everything a model's outputs depend on; equal identities give equal results."""

    name: str  # library or zoo name
    weights_sha256: str
    class_names: tuple[str, ...]
    preprocess: Preprocess

    @classmethod
    def of(cls, model: LoadedModel, weights_sha256: str) -> ModelIdentity:
        return cls(model.name, weights_sha256, tuple(model.class_names), model.preprocess)

    def _json(self) -> str:
        record = {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "class_names": list(self.class_names),
            "preprocess": self.preprocess.to_dict(),
        }
        return json.dumps(record, sort_keys=True, ensure_ascii=False)

    @property
    def key(self) -> str:
        """The sha256 that the catalog knows this model by."""
        return _sha256(self._json())

    @property
    def class_set(self) -> str:
        """The sha256 of the class names alone: models that answer in the same classes."""
        return _sha256(json.dumps(list(self.class_names), ensure_ascii=False))


@dataclass(frozen=True)
class RunInfo:
    """How a batch was computed, recorded next to each result."""

    device: str
    precision: str
    engine: str


class PendingFile(NamedTuple):
    """A file without a valid result, and its signature as it was checked."""

    path: Path
    signature: FileSignature | None  # None: it cannot be stat'ed (the run will say why)


class LabelNow(NamedTuple):
    """The label a person gave an image, after a change (None: it has none)."""

    label: str | None


@dataclass(frozen=True)
class CatalogStats:
    images: int  # files with at least one result (for ``model``: with its result)
    results: int
    errors: int  # results that are an error


@dataclass(frozen=True)
class ModelSummary:
    id: int
    name: str
    weights_sha256: str
    classes: int
    results: int
    errors: int


@dataclass(frozen=True)
class CatalogInfo:
    path: Path
    format: int
    size_bytes: int  # the database and its write-ahead log
    images: int
    person_labels: int
    models: tuple[ModelSummary, ...]


# ------------------------------------------------------------------------------ SQL

_UPSERT_IMAGE = """
INSERT INTO images (path, size, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?)
ON CONFLICT (path) DO UPDATE SET
    size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns
WHERE size IS NOT excluded.size OR mtime_ns IS NOT excluded.mtime_ns
    OR ctime_ns IS NOT excluded.ctime_ns
"""

_UPSERT_RESULT = """
INSERT INTO results (image_id, model_id, k, top1, confidence, indices, probs, error,
    created_at, device, precision, engine, ood_score)
VALUES ((SELECT id FROM images WHERE path = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (image_id, model_id) DO UPDATE SET
    k = excluded.k, top1 = excluded.top1, confidence = excluded.confidence,
    indices = excluded.indices, probs = excluded.probs, error = excluded.error,
    created_at = excluded.created_at, device = excluded.device,
    precision = excluded.precision, engine = excluded.engine, ood_score = excluded.ood_score
"""

# Columns read back for a result: signature, then what decode_result() takes.
_STORED = "i.path, i.size, i.mtime_ns, i.ctime_ns, r.k, r.indices, r.probs, r.error, r.ood_score"


def _stored_in(count: int) -> str:
    # CROSS JOIN keeps this join order: with a long IN list SQLite would otherwise scan
    # every result of the model (seconds on 200,000 rows) instead of looking up each path.
    marks = ",".join("?" * count)
    return (
        f"SELECT {_STORED} FROM images i CROSS JOIN results r ON r.image_id = i.id "
        f"AND r.model_id = ? WHERE i.path IN ({marks})"
    )


# ------------------------------------------------------------------------------ the catalog


class Catalog:
    """An open results catalog. Use :meth:`open`; close it, or use it as a context manager."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self.path = path
        self._class_names: dict[int, tuple[str, ...]] = {}
        self._listing: Listing | None = None

    @classmethod
    def open(cls, path: PathLike | None = None, *, read_only: bool = False) -> Catalog:
        """Open (creating and migrating as needed) ``path``, by default the user's catalog.

        Raises:
            CorruptCatalogError: the file is damaged; offer :func:`set_aside`.
            CatalogError: any other reason it cannot be used (newer format, read-only
                and needing an upgrade, not a catalog at all).
        """
        target = Path(path) if path is not None else app_paths.catalog_path()
        target = Path(os.path.abspath(target))
        return cls(connect(target, read_only), target)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; the write lock is taken at once, so it cannot deadlock."""
        with self._errors():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back already
                    self._db.execute("ROLLBACK")
                raise

    def _errors(self) -> contextlib.AbstractContextManager[None]:
        return translated_errors(self.path)

    # --- models -------------------------------------------------------------------

    def find_model(self, identity: ModelIdentity) -> int | None:
        """The catalog's number for ``identity``; None if it never recorded anything."""
        with self._errors():
            return _find_model(self._db, identity.key)

    def model_id(self, identity: ModelIdentity) -> int:
        """The catalog's number for ``identity``, registering it the first time."""
        found = self.find_model(identity)
        if found is not None:
            return found
        with self._transaction() as db:  # again inside the lock: another process may add it
            found = _find_model(db, identity.key)
            return found if found is not None else _insert_model(db, identity)

    def class_names(self, model: int) -> tuple[str, ...]:
        """The class names of a registered model (cached: they never change)."""
        names = self._class_names.get(model)
        if names is None:
            with self._errors():
                row = self._db.execute(
                    "SELECT class_names FROM models WHERE id = ?", (model,)
                ).fetchone()
            if row is None:
                raise ValueError(f"no model number {model} in the catalog {self.path}")
            names = self._class_names[model] = tuple(_json_strings(row[0], self.path))
        return names

    # --- runs ---------------------------------------------------------------------

    def pending(
        self,
        paths: Iterable[PathLike],
        model: int,
        *,
        top_k: int = STORED_TOP_K,
        redo: bool = False,
        retry_errors: bool = False,
    ) -> Iterator[PendingFile]:
        """The files, in order, that have no valid result of ``model`` with ``top_k`` classes.

        A result is valid while the file's signature is the one it was computed from.
        Errors are final for an unchanged file unless ``retry_errors``; ``redo`` returns
        every file. Streams: one stat per file and one query per CHUNK files.
        """
        needed = min(top_k, len(self.class_names(model)))
        for chunk in chunks(paths, CHUNK):
            keys = [path_key(path) for path in chunk]
            stored = {} if redo else self._stored(keys, model)
            for path, key in zip(chunk, keys, strict=True):
                signature = file_signature(path)
                if redo or not _valid(stored.get(key), signature, needed, retry_errors):
                    yield PendingFile(Path(path), signature)

    def _stored(self, keys: list[bytes], model: int) -> dict[bytes, tuple]:
        """The stored rows (see _STORED) of ``model`` for a chunk of path keys, by key."""
        keys = list(dict.fromkeys(keys))
        with self._errors():
            rows = self._db.execute(_stored_in(len(keys)), (model, *keys)).fetchall()
        return {row[0]: row[1:] for row in rows}

    def runs(self, model: int) -> set[RunInfo]:
        """How the stored results of ``model`` were computed (device, precision, engine).

        The runtime is not part of a model's identity (it changes speed, and the scores
        only in their last digits), so the window asks this to tell a user why a new
        precision did not recompute anything. One scan of the model's results.
        """
        query = "SELECT DISTINCT device, precision, engine FROM results WHERE model_id = ?"
        query += " AND error IS NULL"
        with self._errors():
            rows = self._db.execute(query, (model,)).fetchall()
        return {RunInfo(*row) for row in rows}

    def record_batch(
        self,
        model: int,
        predictions: Iterable[Prediction],
        run: RunInfo,
        signatures: Mapping[Path, FileSignature | None] | None = None,
    ) -> int:
        """Store a batch of results in one transaction; returns how many.

        ``signatures`` are the files' signatures from before they were read (as
        :meth:`pending` gave them): a file changed during the run is then computed again
        next time. Without them each file is stat'ed now.
        """
        now = _now()
        images: list[tuple] = []
        results: list[tuple] = []
        for prediction in predictions:
            key = path_key(prediction.path)
            if signatures is None:
                signature = file_signature(prediction.path)
            else:
                signature = signatures.get(prediction.path)
            images.append((key, *(signature or (None, None, None))))
            results.append(_result_row(key, model, prediction, run, now))
        if results:
            with self._transaction() as db:
                db.executemany(_UPSERT_IMAGE, images)
                db.executemany(_UPSERT_RESULT, results)
        return len(results)

    def results_for(
        self, paths: Iterable[PathLike], model: int, top_k: int, *, verify: bool = True
    ) -> Iterator[tuple[Path, Prediction | None]]:
        """Each path, in order, with its stored result of ``model`` cut to ``top_k`` classes.

        None when there is no result with ``top_k`` classes, or (with ``verify``, one stat
        per file) when the file changed since. Streams, one query per CHUNK paths.
        """
        names = self.class_names(model)
        needed = min(top_k, len(names))
        for chunk in chunks(paths, CHUNK):
            keys = [path_key(path) for path in chunk]
            stored = self._stored(keys, model)
            for path, key in zip(chunk, keys, strict=True):
                row = stored.get(key)
                usable = row is not None and _complete(row, needed)
                if usable and verify:
                    usable = _current(row, file_signature(path))
                if usable:
                    yield Path(path), decode_result(Path(path), row[3:], names, top_k, self.path)
                else:
                    yield Path(path), None

    # --- housekeeping -------------------------------------------------------------

    def stats(self, model: int | None = None) -> CatalogStats:
        """How many images, results and errors: in all, or of one model."""
        where, args = ("WHERE model_id = ?", (model,)) if model is not None else ("", ())
        with self._errors():
            row = self._db.execute(
                "SELECT count(DISTINCT image_id), count(*), count(error) FROM results " + where,
                args,
            ).fetchone()
        return CatalogStats(*row)

    def info(self) -> CatalogInfo:
        """What is in the catalog, for ``catalog info``."""
        with self._errors():
            images = self._db.execute("SELECT count(*) FROM images").fetchone()[0]
            labels = self._db.execute("SELECT count(*) FROM person_labels").fetchone()[0]
            models = self._db.execute(
                "SELECT m.id, m.name, m.weights_sha256, "
                "(SELECT count(*) FROM classes c WHERE c.model_id = m.id), "
                "count(r.model_id), count(r.error) "
                "FROM models m LEFT JOIN results r ON r.model_id = m.id GROUP BY m.id "
                "ORDER BY m.id"
            ).fetchall()
        return CatalogInfo(
            self.path,
            schema_version(),
            _size_with_log(self.path),
            images,
            labels,
            tuple(ModelSummary(*row) for row in models),
        )

    def forget(self, paths: Iterable[PathLike]) -> int:
        """Drop the given files, and every file under the given folders; returns how many."""
        forgotten = 0
        with self._transaction() as db:
            for path in paths:
                key = path_key(path)
                below = key.rstrip(os.fsencode(os.sep)) + os.fsencode(os.sep)
                past = below[:-1] + bytes([below[-1] + 1])  # keys under ``below`` sort before
                forgotten += db.execute(
                    "DELETE FROM images WHERE path = ? OR (path >= ? AND path < ?)",
                    (key, below, past),
                ).rowcount
        return forgotten

    def vacuum(self) -> int:
        """Drop images left without results or labels and compact the file; bytes freed."""
        before = _size_with_log(self.path)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM images WHERE NOT EXISTS (SELECT 1 FROM results r "
                "WHERE r.image_id = images.id) AND NOT EXISTS (SELECT 1 FROM person_labels p "
                "WHERE p.image_id = images.id)"
            )
        with self._errors():
            self._db.execute("VACUUM")
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(0, before - _size_with_log(self.path))

    def check(self) -> list[str]:
        """SQLite's integrity check: the problems found, empty when the file is sound."""
        with self._errors():
            rows = [row[0] for row in self._db.execute("PRAGMA integrity_check")]
        return [] if rows == ["ok"] else rows

    def listing(self) -> Listing:
        """The list of images a window shows, with sorted and filtered views of it."""
        if self._listing is None:
            from resnet_desktop.core.catalog_view import Listing

            self._listing = Listing(self)
        return self._listing

    # --- labels a person gave, and files sorted elsewhere ----------------------------

    def person_labels(self, paths: Iterable[PathLike]) -> Iterator[tuple[Path, str | None]]:
        """Each path, in order, with the label a person last gave it (whatever the model).

        None when nobody labelled it. Streams, one query per CHUNK paths.
        """
        for chunk in chunks(paths, CHUNK):
            keys = [path_key(path) for path in chunk]
            marks = ",".join("?" * len(set(keys)))
            with self._errors():
                rows = self._db.execute(
                    "SELECT i.path, p.label FROM images i CROSS JOIN person_labels p "
                    f"ON p.image_id = i.id WHERE i.path IN ({marks}) ORDER BY p.id",
                    list(dict.fromkeys(keys)),
                ).fetchall()
            labels = {key: label for key, label in rows}  # the latest (highest id) wins
            for path, key in zip(chunk, keys, strict=True):
                label = labels.get(key)
                if label is not None and not (isinstance(label, str) and label.strip()):
                    raise CorruptCatalogError(
                        f"the catalog {self.path} holds a damaged label", self.path
                    )
                yield Path(path), label

    def set_person_label(self, path: PathLike, label: str, model: int | None = None) -> int:
        """Record that a person labelled ``path`` ``label``, over any earlier label of theirs.

        ``model``: the model whose result they were reviewing (its class set is kept, so a
        retrain knows which classes the label belongs with). A file the catalog does not
        know yet is registered with its signature now. Returns the label's number, which
        :meth:`remove_person_label` takes to undo it; the earlier labels stay underneath.

        Raises:
            LabelError: ``label`` is empty, too long or holds control characters.
        """
        text = clean_label(label)
        key = path_key(path)
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO images (path, size, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?)",
                (key, *(file_signature(path) or (None, None, None))),
            )
            number = db.execute(
                "INSERT INTO person_labels (image_id, label, model_id, class_set, created_at) "
                "VALUES ((SELECT id FROM images WHERE path = ?), ?, ?, "
                "(SELECT class_set FROM models WHERE id = ?), ?)",
                (key, text, model, model, _now()),
            ).lastrowid
        return int(number)

    def remove_person_label(self, number: int, path: PathLike) -> LabelNow | None:
        """Take back the label numbered ``number`` of ``path`` (an undo); the one before
        it shows again.

        Returns the label a person gave ``path`` now, or None when ``path`` has no
        label of that number (forgotten meanwhile, or another catalog's
        number: the path guards against taking back someone else's label).
        """
        with self._transaction() as db:
            row = db.execute(
                "SELECT i.id FROM person_labels p JOIN images i ON i.id = p.image_id "
                "WHERE p.id = ? AND i.path = ?",
                (number, path_key(path)),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM person_labels WHERE id = ?", (number,))
            left = db.execute(
                "SELECT label FROM person_labels WHERE image_id = ? ORDER BY id DESC LIMIT 1",
                (row[0],),
            ).fetchone()
        return LabelNow(None if left is None else left[0])

    def moved(self, moves: Iterable[tuple[PathLike, PathLike, FileSignature]]) -> int:
        """Let the results and labels of moved files follow them; returns how many did.

        Each move is (old path, new path, the file's signature at the old path just
        before the move). Only a record of that very file moves: a record whose stored
        signature differs was of other bytes. A move changes ctime, so the record takes
        the file's signature at its new path, where a stale record is replaced.
        """
        followed = 0
        with self._transaction() as db:
            for old, new, before in moves:
                row = db.execute(
                    "SELECT id, size, mtime_ns, ctime_ns FROM images WHERE path = ?",
                    (path_key(old),),
                ).fetchone()
                after = file_signature(new)
                if row is None or tuple(row[1:]) != before or after is None:
                    continue
                _move_image(db, row[0], path_key(new), after)
                followed += 1
        return followed

    def labelled_for(self, identity: ModelIdentity) -> list[tuple[Path, str]]:
        """The images a person labelled for a model, each with its latest such label.

        A label counts when it was given for a version of the model (same name), for a
        model with the same classes, or for no model in particular but names one of its
        classes: a label given while reviewing another, unrelated model does not.
        """
        with self._errors():
            rows = self._db.execute(
                "SELECT i.path, p.label, m.name, p.class_set FROM person_labels p "
                "JOIN images i ON i.id = p.image_id LEFT JOIN models m ON m.id = p.model_id "
                "ORDER BY p.id"
            ).fetchall()
        classes = set(identity.class_names)
        latest: dict[bytes, str] = {}
        for key, label, name, class_set in rows:
            if not (isinstance(label, str) and label.strip() and isinstance(key, bytes)):
                raise CorruptCatalogError(
                    f"the catalog {self.path} holds a damaged label", self.path
                )
            unrelated = name is None and class_set is None
            if (
                name == identity.name
                or class_set == identity.class_set
                or (unrelated and label in classes)
            ):
                latest[key] = label
        return [(Path(os.fsdecode(key)), label) for key, label in latest.items()]

    def classified_by(self, identity: ModelIdentity) -> list[Path]:
        """The images that hold a result (or error) of ``identity``, in path order."""
        model = self.find_model(identity)
        if model is None:
            return []
        with self._errors():
            rows = self._db.execute(
                "SELECT i.path FROM results r JOIN images i ON i.id = r.image_id "
                "WHERE r.model_id = ? ORDER BY i.path",
                (model,),
            ).fetchall()
        return [Path(os.fsdecode(key)) for (key,) in rows]


# ------------------------------------------------------------------------------ helpers


class LabelError(CatalogError):
    """A label a person typed that cannot be stored; the message says why."""


def clean_label(label: str) -> str:
    """``label`` without surrounding blanks, checked to be storable.

    A label becomes a folder name and a CSV cell later: it must hold something, stay
    short, and carry no control characters (a newline would break both).
    """
    text = label.strip()
    if not text:
        raise LabelError("a label must not be empty")
    if len(text) > MAX_LABEL_CHARS:
        raise LabelError(f"a label may have at most {MAX_LABEL_CHARS} characters")
    if any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in text):
        raise LabelError("a label must not hold control characters")
    return text


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def path_key(path: PathLike) -> bytes:
    """The stored form of a path: the absolute path's bytes, whatever its encoding."""
    return os.fsencode(os.path.abspath(path))


def chunks(items: Iterable[PathLike], size: int) -> Iterator[list[PathLike]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _current(row: tuple, signature: FileSignature | None) -> bool:
    """Was a stored row (see _STORED, without the path) computed from the file as it is?"""
    return signature is not None and tuple(row[:3]) == signature


def _complete(row: tuple, needed: int) -> bool:
    """Is a stored row an error, or a result with at least ``needed`` classes?"""
    return row[6] is not None or row[3] >= needed


def _valid(
    row: tuple | None, signature: FileSignature | None, needed: int, retry_errors: bool
) -> bool:
    """Can a run skip the file? Errors count as done unless ``retry_errors``."""
    if row is None or not _current(row, signature):
        return False
    return not retry_errors if row[6] is not None else _complete(row, needed)


def _find_model(db: sqlite3.Connection, key: str) -> int | None:
    row = db.execute("SELECT id FROM models WHERE identity = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def _insert_model(db: sqlite3.Connection, identity: ModelIdentity) -> int:
    number = db.execute(
        "INSERT INTO models (identity, name, weights_sha256, class_set, class_names, "
        "preprocess, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            identity.key,
            identity.name,
            identity.weights_sha256,
            identity.class_set,
            json.dumps(list(identity.class_names), ensure_ascii=False),
            json.dumps(identity.preprocess.to_dict(), sort_keys=True),
            _now(),
        ),
    ).lastrowid
    db.executemany(
        "INSERT INTO classes (model_id, idx, label, folded) VALUES (?, ?, ?, ?)",
        ((number, i, name, name.casefold()) for i, name in enumerate(identity.class_names)),
    )
    return int(number)


def _move_image(db: sqlite3.Connection, image: int, key: bytes, signature: FileSignature) -> None:
    """Give an image's results and labels to a new row for ``key`` (a new signature on the
    same row would set off the image_changed trigger, which drops results)."""
    db.execute("DELETE FROM images WHERE path = ?", (key,))
    moved = db.execute(
        "INSERT INTO images (path, size, mtime_ns, ctime_ns) VALUES (?, ?, ?, ?)", (key, *signature)
    ).lastrowid
    db.execute("UPDATE results SET image_id = ? WHERE image_id = ?", (moved, image))
    db.execute("UPDATE person_labels SET image_id = ? WHERE image_id = ?", (moved, image))
    db.execute("DELETE FROM images WHERE id = ?", (image,))


def _result_row(key: bytes, model: int, prediction: Prediction, run: RunInfo, now: str) -> tuple:
    count = 0 if prediction.error is not None else len(prediction.indices)
    indices = prediction.indices[:count]
    probs = prediction.probs[:count]
    return (
        key,
        model,
        count,
        indices[0] if count else None,
        probs[0] if count else None,
        struct.pack(f"<{count}i", *indices) if count else None,
        struct.pack(f"<{count}d", *probs) if count else None,
        prediction.error,
        now,
        run.device,
        run.precision,
        run.engine,
        _finite_or_none(prediction.ood_score),
    )


def _finite_or_none(value: float | None) -> float | None:
    """SQLite stores NaN as NULL anyway; infinities would sort oddly: neither is a score."""
    return value if value is not None and math.isfinite(value) else None


def decode_result(
    path: Path, stored: tuple, names: tuple[str, ...], top_k: int, catalog: Path
) -> Prediction:
    """A Prediction from the stored (k, indices, probs, error, ood_score), checked."""
    count, packed_indices, packed_probs, error, ood_score = stored
    if error is not None:
        return Prediction(path, error=error)
    try:
        indices = struct.unpack(f"<{count}i", packed_indices)[:top_k]
        probs = struct.unpack(f"<{count}d", packed_probs)[:top_k]
        labels = tuple(names[i] for i in indices if i >= 0)
    except (struct.error, TypeError, IndexError) as exc:
        raise CorruptCatalogError(f"the catalog {catalog} holds a damaged result", catalog) from exc
    if len(labels) != len(indices):
        raise CorruptCatalogError(f"the catalog {catalog} holds a damaged result", catalog)
    score = ood_score if isinstance(ood_score, float) else None
    return Prediction(path, labels=labels, probs=probs, indices=indices, ood_score=score)


def _json_strings(text: str, catalog: Path) -> list[str]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CorruptCatalogError(f"the catalog {catalog} holds damaged class names", catalog)
    return value


def _size_with_log(path: Path) -> int:
    total = 0
    for name in (path.name, path.name + "-wal"):
        with contextlib.suppress(OSError):
            total += path.with_name(name).stat().st_size
    return total


__all__ = [
    "CHUNK",
    "STORED_TOP_K",
    "Catalog",
    "CatalogError",
    "CatalogInfo",
    "CatalogStats",
    "CorruptCatalogError",
    "FileSignature",
    "LabelError",
    "LabelNow",
    "ModelIdentity",
    "ModelSummary",
    "PendingFile",
    "RunInfo",
    "chunks",
    "clean_label",
    "decode_result",
    "file_signature",
    "path_key",
    "set_aside",
]
