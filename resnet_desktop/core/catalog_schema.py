"""The results catalog's file: opening it safely, its schema, and moving it forward.

A catalog is an SQLite database in WAL mode, so a crash never leaves it half-written and a
reader never waits for a writer. Its format is ``PRAGMA user_version``; opening a file
migrates it forward in one transaction (a failed step leaves the old version whole) and
refuses a file from a newer version before writing a byte to it. ``PRAGMA application_id``
tells a catalog from any other SQLite database, which is never touched either.

Adding format 2 is one function appended to :data:`MIGRATIONS`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from resnet_desktop.core.errors import UserError

APPLICATION_ID = 0x52444354  # "RDCT": ResNet Desktop caTalog
BUSY_TIMEOUT_S = 10.0  # how long a write waits for another process's transaction
CACHE_KIB = 32 * 1024  # page cache per connection: joins over 200,000 rows stay in memory
SIDE_FILES = ("-wal", "-shm", "-journal")


class CatalogError(UserError):
    """The catalog cannot be used as asked; the message says why and what to do."""


class CorruptCatalogError(CatalogError):
    """The file is damaged or not a database: :func:`set_aside` it and start a new one."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


# ------------------------------------------------------------------------------ errors

_CODES_BY_MESSAGE = (  # Python 3.10 has no sqlite_errorcode: the primary codes by message
    ("database or disk is full", sqlite3.SQLITE_FULL),
    ("readonly database", sqlite3.SQLITE_READONLY),
    ("database is locked", sqlite3.SQLITE_BUSY),
    ("file is not a database", sqlite3.SQLITE_NOTADB),
    ("malformed", sqlite3.SQLITE_CORRUPT),
    ("unable to open database", sqlite3.SQLITE_CANTOPEN),
    ("disk i/o error", sqlite3.SQLITE_IOERR),
)


def _primary_code(error: sqlite3.Error) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF
    text = str(error).lower()
    return next((code for fragment, code in _CODES_BY_MESSAGE if fragment in text), None)


def _explained(error: sqlite3.Error, path: Path) -> CatalogError | None:
    """The user's version of an SQLite error, or None for a bug (which stays a traceback)."""
    code = _primary_code(error)
    kept = "what was recorded before is kept"
    if code == sqlite3.SQLITE_FULL:
        return CatalogError(f"the disk holding the catalog {path} is full; {kept}")
    if code == sqlite3.SQLITE_READONLY:
        return CatalogError(f"the catalog {path} is read-only; {kept}")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return CatalogError(
            f"the catalog {path} stayed locked by another program for over "
            f"{BUSY_TIMEOUT_S:.0f} s; try again when it has finished"
        )
    if code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return CorruptCatalogError(
            f"the catalog {path} is damaged ({error}); set it aside and start a new one", path
        )
    if code in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_PERM):
        return CatalogError(f"cannot read or write the catalog {path} ({error})")
    return None


@contextlib.contextmanager
def translated_errors(path: Path) -> Iterator[None]:
    """Turn the SQLite errors a user can act on into CatalogError; let bugs through."""
    try:
        yield
    except sqlite3.Error as error:
        explained = _explained(error, path)
        if explained is None:
            raise
        raise explained from error


# ------------------------------------------------------------------------------ schema

# Paths are os.fsencode() bytes: any POSIX file name round-trips, and byte order is code
# point order for UTF-8. Top-k lists are packed little-endian: int32 class indices and
# float64 probabilities (exactly the floats the predictor returned).
_V1 = (
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER,
        mtime_ns INTEGER,
        ctime_ns INTEGER
    )""",
    """CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        identity TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        weights_sha256 TEXT NOT NULL,
        class_set TEXT NOT NULL,
        class_names TEXT NOT NULL,
        preprocess TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE classes (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        label TEXT NOT NULL,
        folded TEXT NOT NULL,
        PRIMARY KEY (model_id, idx)
    ) WITHOUT ROWID""",
    # No secondary index on results: inserts into a (model, confidence) index land on
    # random pages and halved the record rate; views sort the window's listing instead.
    """CREATE TABLE results (
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        k INTEGER NOT NULL,
        top1 INTEGER,
        confidence REAL,
        indices BLOB,
        probs BLOB,
        error TEXT,
        created_at TEXT NOT NULL,
        device TEXT NOT NULL,
        precision TEXT NOT NULL,
        engine TEXT NOT NULL,
        ood_score REAL,
        PRIMARY KEY (image_id, model_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE person_labels (
        id INTEGER PRIMARY KEY,
        image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
        class_set TEXT,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX person_labels_by_image ON person_labels (image_id)",
    # A file whose signature changes invalidates every model's result for it: a result is
    # only ever stored next to the signature of the bytes it was computed from.
    """CREATE TRIGGER image_changed AFTER UPDATE OF size, mtime_ns, ctime_ns ON images
    WHEN old.size IS NOT new.size OR old.mtime_ns IS NOT new.mtime_ns
        OR old.ctime_ns IS NOT new.ctime_ns
    BEGIN
        DELETE FROM results WHERE image_id = new.id;
    END""",
)


def _create_v1(db: sqlite3.Connection) -> None:
    for statement in _V1:
        db.execute(statement)


# MIGRATIONS[n] turns format n into format n + 1 (0 is an empty file).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_create_v1]


def schema_version() -> int:
    """The format this version writes."""
    return len(MIGRATIONS)


# ------------------------------------------------------------------------------ opening


def connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """An open, checked and up-to-date catalog connection (raises CatalogError)."""
    with translated_errors(path):
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = _raw_connection(path, read_only)
        try:
            _check_header(db, path)
            _configure(db, read_only)
            if _version(db) < schema_version():
                _migrate(db, path, read_only)
        except BaseException:
            db.close()
            raise
    return db


def _raw_connection(path: Path, read_only: bool) -> sqlite3.Connection:
    if read_only:
        if not path.is_file():
            raise CatalogError(f"no catalog at {path}")
        uri = path.absolute().as_uri() + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    else:
        db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    return db


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _check_header(db: sqlite3.Connection, path: Path) -> None:
    """Refuse, before any write, a newer catalog or a database that is not a catalog."""
    application_id = int(db.execute("PRAGMA application_id").fetchone()[0])
    version = _version(db)
    tables = db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if application_id not in (0, APPLICATION_ID) or (version == 0 and tables):
        raise CatalogError(f"{path} is an SQLite database but not a results catalog")
    _refuse_newer(version, path)


def _refuse_newer(version: int, path: Path) -> None:
    if version > schema_version():
        raise CatalogError(
            f"the catalog {path} was written by a newer version of ResNet Desktop (format "
            f"{version}; this version reads up to {schema_version()}): update ResNet "
            "Desktop or use another catalog file"
        )


def _configure(db: sqlite3.Connection, read_only: bool) -> None:
    # synchronous=NORMAL in WAL mode: a killed process loses nothing committed; a power
    # cut may lose the last commits but never corrupts the file.
    if not read_only:
        db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")


def _migrate(db: sqlite3.Connection, path: Path, read_only: bool) -> None:
    """Bring the file to the current format in one transaction (another process may too)."""
    if read_only:
        raise CatalogError(f"the catalog {path} needs an upgrade but is opened read-only")
    db.execute("BEGIN IMMEDIATE")
    try:
        version = _version(db)  # again, inside the lock: another process may have migrated
        _refuse_newer(version, path)
        for step in MIGRATIONS[version:]:
            step(db)
        db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        db.execute(f"PRAGMA user_version = {schema_version()}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def set_aside(path: Path) -> Path:
    """Rename a damaged catalog (with its -wal/-shm) to ``<name>.corrupt-<time>``; returns it.

    The next open of ``path`` starts a new, empty catalog; the old file stays for recovery.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    number = 1
    while target.exists():
        number += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{number}")
    os.replace(path, target)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    return target
