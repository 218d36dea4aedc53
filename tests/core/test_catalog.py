"""The results catalog: durable, resumable, per model, safe with two writers and bad files."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import resnet_desktop
from resnet_desktop.core import catalog as catalog_mod
from resnet_desktop.core import catalog_schema, catalog_view
from resnet_desktop.core.catalog import (
    Catalog,
    CatalogError,
    CorruptCatalogError,
    ModelIdentity,
    RunInfo,
    file_signature,
    set_aside,
)
from resnet_desktop.core.catalog_view import SortKey, ViewQuery
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess

CLASSES = ("Zebra", "apple", "Mango", "banana", "éclair", "fig")
RUN = RunInfo("cpu", "fp32", "torch")
SMALL = Preprocess(32, None)
REPO = Path(resnet_desktop.__file__).resolve().parents[1]


def identity(name="m", sha="a" * 64, classes=CLASSES, preprocess=SMALL):
    return ModelIdentity(name, sha, tuple(classes), preprocess)


def write_files(folder: Path, count: int, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"{prefix}_{number:03d}.jpg"
        path.write_bytes(f"image {number}".encode() * (number + 1))
        paths.append(path)
    return paths


def prediction(path: Path, seed: int = 0, k: int = 5, classes=CLASSES) -> Prediction:
    """A plausible top-k: distinct classes, probabilities that fall and sum under 1."""
    rng = random.Random(os.fsencode(path) + bytes([seed]))
    indices = tuple(rng.sample(range(len(classes)), min(k, len(classes))))
    raw = sorted((rng.random() for _ in indices), reverse=True)
    probs = tuple(p / (sum(raw) + 0.1) for p in raw)
    return Prediction(path, tuple(classes[i] for i in indices), probs, indices)


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog.sqlite3") as opened:
        yield opened


def record(catalog: Catalog, model: int, paths, seed: int = 0) -> list[Prediction]:
    predictions = [prediction(path, seed) for path in paths]
    catalog.record_batch(model, predictions, RUN)
    return predictions


# ------------------------------------------------------------------------------ round trip


def test_results_round_trip_exactly_in_the_order_asked(catalog: Catalog, tmp_path: Path):
    paths = write_files(tmp_path / "imgs", 12)
    model = catalog.model_id(identity())
    stored = record(catalog, model, paths[:8])
    catalog.record_batch(model, [Prediction(paths[8], error="cannot identify image")], RUN)
    asked = list(reversed(paths))
    results = list(catalog.results_for(asked, model, top_k=3))
    assert [path for path, _ in results] == asked
    by_path = dict(results)
    for original in stored:
        found = by_path[original.path]
        assert found.indices == original.indices[:3]
        assert found.probs == original.probs[:3]  # the very floats, not rounded
        assert found.labels == original.labels[:3]
    assert by_path[paths[8]].error == "cannot identify image"
    assert [by_path[path] for path in paths[9:]] == [None] * 3
    assert catalog.stats(model) == catalog_mod.CatalogStats(images=9, results=9, errors=1)


def test_reads_stream_across_chunks(catalog: Catalog, tmp_path: Path, monkeypatch):
    monkeypatch.setattr(catalog_mod, "CHUNK", 4)
    monkeypatch.setattr(catalog_view, "CHUNK", 4)
    paths = write_files(tmp_path / "imgs", 11)
    model = catalog.model_id(identity())
    record(catalog, model, paths[::2])
    assert [p.path for p in catalog.pending(paths, model)] == paths[1::2]
    found = [path for path, result in catalog.results_for(paths, model, 5) if result]
    assert found == paths[::2]
    listing = catalog.listing()
    assert listing.add(paths) == 11
    assert listing.add(paths[3:]) == 0  # already listed
    assert list(listing.paths()) == paths


def test_a_chunk_of_paths_is_looked_up_by_path_whatever_the_catalog_holds(catalog: Catalog):
    """With 500 paths in an IN list SQLite once chose to scan every result of the model."""
    keys = [f"/{n}.jpg".encode() for n in range(catalog_mod.CHUNK)]
    sql = "EXPLAIN QUERY PLAN " + catalog_mod._stored_in(len(keys))
    plan = [row[3] for row in catalog._db.execute(sql, (1, *keys))]
    assert plan[0].startswith("SEARCH i USING INDEX"), plan
    assert plan[1].startswith("SEARCH r USING PRIMARY KEY"), plan


def _env() -> dict[str, str]:
    """The environment of a child Python that imports this checkout."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def test_the_window_can_open_a_catalog_before_torch_is_loaded():
    code = "import sys, resnet_desktop.core.catalog_view; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=_env()
    )
    assert result.stdout.split() == ["False"], result.stderr


def test_the_default_catalog_lives_in_the_data_folder(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RESNET_DESKTOP_DATA_DIR", str(tmp_path / "data"))
    with Catalog.open() as opened:
        assert opened.path == tmp_path / "data" / "catalog.sqlite3"
    assert (tmp_path / "data" / "catalog.sqlite3").is_file()


# ------------------------------------------------------------------------------ pending


def test_pending_skips_unchanged_files_and_returns_changed_ones(catalog: Catalog, tmp_path):
    paths = write_files(tmp_path / "imgs", 6)
    model = catalog.model_id(identity())
    todo = list(catalog.pending(paths, model))
    assert [item.path for item in todo] == paths
    catalog.record_batch(model, [prediction(p) for p in paths], RUN, dict(todo))
    assert list(catalog.pending(paths, model)) == []

    same_size = paths[1].read_bytes().replace(b"image", b"IMAGE")
    paths[1].write_bytes(same_size)
    before = os.stat(paths[1])
    os.utime(paths[1], ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    new = paths[0].parent / "new.jpg"
    new.write_bytes(b"new")
    pending = [item.path for item in catalog.pending([*paths, new], model)]
    assert pending == [paths[1], new]


def test_a_rewrite_that_puts_the_mtime_back_is_still_noticed(catalog: Catalog, tmp_path):
    (path,) = write_files(tmp_path / "imgs", 1)
    model = catalog.model_id(identity())
    record(catalog, model, [path])
    old = os.stat(path)
    time.sleep(0.05)  # file times tick at the kernel's clock (a few ms)
    path.write_bytes(path.read_bytes()[::-1])  # same size, other content
    os.utime(path, ns=(old.st_atime_ns, old.st_mtime_ns))  # as ``cp -p`` would
    assert file_signature(path).mtime_ns == old.st_mtime_ns
    assert [item.path for item in catalog.pending([path], model)] == [path]


def test_the_signature_is_the_one_taken_before_the_run(catalog: Catalog, tmp_path):
    """A file changed while the run read it is computed again next time."""
    (path,) = write_files(tmp_path / "imgs", 1)
    model = catalog.model_id(identity())
    todo = dict(catalog.pending([path], model))
    path.write_bytes(b"changed while classifying")
    catalog.record_batch(model, [prediction(path)], RUN, todo)
    assert [item.path for item in catalog.pending([path], model)] == [path]


def test_errors_are_final_for_an_unchanged_file_unless_asked(catalog: Catalog, tmp_path):
    paths = write_files(tmp_path / "imgs", 2)
    model = catalog.model_id(identity())
    catalog.record_batch(
        model, [Prediction(paths[0], error="truncated"), prediction(paths[1])], RUN
    )
    assert list(catalog.pending(paths, model)) == []
    assert [item.path for item in catalog.pending(paths, model, retry_errors=True)] == paths[:1]
    assert [item.path for item in catalog.pending(paths, model, redo=True)] == paths


def test_a_larger_top_k_than_stored_is_pending(catalog: Catalog, tmp_path):
    paths = write_files(tmp_path / "imgs", 1)
    many = [f"class {n}" for n in range(20)]
    model = catalog.model_id(identity(classes=many))
    catalog.record_batch(model, [prediction(paths[0], classes=many)], RUN)
    assert list(catalog.pending(paths, model, top_k=3)) == []
    assert len(list(catalog.pending(paths, model, top_k=10))) == 1
    assert list(catalog.results_for(paths, model, top_k=10)) == [(paths[0], None)]
    few = catalog.model_id(identity(classes=("a", "b", "c")))
    catalog.record_batch(few, [prediction(paths[0], classes=("a", "b", "c"))], RUN)
    assert list(catalog.pending(paths, few, top_k=5)) == []  # 3 classes are all there is


# ------------------------------------------------------------------------------ models


def test_the_model_identity_covers_weights_classes_preprocessing_and_name(catalog: Catalog):
    base = identity()
    variants = [
        identity(sha="b" * 64),
        identity(classes=(*CLASSES[1:], CLASSES[0])),
        identity(preprocess=Preprocess(224, 256)),
        identity(name="other"),
    ]
    numbers = {catalog.model_id(model) for model in [base, *variants]}
    assert len(numbers) == 5
    assert catalog.model_id(identity()) == catalog.model_id(base)
    assert catalog.class_names(catalog.model_id(variants[1]))[-1] == "Zebra"


def test_one_models_results_are_never_returned_for_another(catalog: Catalog, tmp_path):
    paths = write_files(tmp_path / "imgs", 4)
    first = catalog.model_id(identity())
    second = catalog.model_id(identity(sha="b" * 64))
    record(catalog, first, paths)
    assert [item.path for item in catalog.pending(paths, second)] == paths
    assert all(result is None for _, result in catalog.results_for(paths, second, 5))
    listing = catalog.listing()
    listing.add(paths)
    rows = listing.view(ViewQuery(second)).rows(0, 10)
    assert [row.prediction for row in rows] == [None] * 4
    assert listing.counts(first) == catalog_view.ListingCounts(4, 4, 0)
    assert listing.counts(second) == catalog_view.ListingCounts(4, 0, 0)
    by_label = listing.view(ViewQuery(second, sort=SortKey.LABEL, min_confidence=0.01))
    assert len(by_label) == 0


def test_a_changed_file_drops_every_models_result(catalog: Catalog, tmp_path):
    (path,) = write_files(tmp_path / "imgs", 1)
    first = catalog.model_id(identity())
    second = catalog.model_id(identity(sha="b" * 64))
    record(catalog, first, [path])
    path.write_bytes(b"another picture")
    record(catalog, second, [path])
    assert catalog.stats(first).results == 0
    assert catalog.stats(second).results == 1


# ------------------------------------------------------------------------------ processes

_CHILD = """
import os, sys
from pathlib import Path
from resnet_desktop.core.catalog import Catalog, FileSignature, ModelIdentity, RunInfo
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.zoo import Preprocess

mode, file, name, batches, batch = sys.argv[1], sys.argv[2], sys.argv[3], *map(int, sys.argv[4:6])
catalog = Catalog.open(file)
model = catalog.model_id(ModelIdentity(name, "c" * 64, ("a", "b"), Preprocess(32, None)))

def rows(number):
    paths = [Path(f"/images/{name}/{number}/{i}.jpg") for i in range(batch)]
    paths += [Path(f"/images/shared/{number}/{i}.jpg") for i in range(5)]  # both processes
    return [Prediction(p, ("a", "b"), (0.75, 0.25), (0, 1)) for p in paths]

def signatures(predictions):
    return {p.path: FileSignature(len(str(p.path)), 1, 2) for p in predictions}

def crash_inside_the_transaction():
    calls = []
    def handler():
        calls.append(1)
        if catalog._db.in_transaction and len(calls) > 20:
            os._exit(9)
    catalog._db.set_progress_handler(handler, 10)

if mode == "write":  # both writers start together
    print("ready", flush=True)
    sys.stdin.readline()
for number in range(batches if batches else 10**9):
    if mode == "crash" and number == 3:
        crash_inside_the_transaction()
    predictions = rows(number)
    catalog.record_batch(model, predictions, RunInfo("cpu", "fp32", "ov"), signatures(predictions))
    print("committed", number + 1, flush=True)
"""


def _child(mode: str, file: Path, name: str, batches: int, batch: int) -> subprocess.Popen:
    command = [sys.executable, "-c", _CHILD, mode, str(file), name, str(batches), str(batch)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE}
    return subprocess.Popen(command, env=_env(), text=True, **pipes)


def _check_after_crash(file: Path, batch: int) -> int:
    with Catalog.open(file) as opened:
        assert opened.check() == []
        (model,) = opened.info().models
        stats = opened.stats(model.id)
    assert stats.results % (batch + 5) == 0  # whole batches only
    return stats.results // (batch + 5)


def test_a_crash_inside_a_transaction_keeps_every_committed_batch(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    child = _child("crash", file, "run", 0, 40)
    output, _ = child.communicate(timeout=60)
    assert child.returncode == 9
    assert output.split() == ["committed", "1", "committed", "2", "committed", "3"]
    assert _check_after_crash(file, 40) == 3


def test_a_run_killed_at_any_moment_keeps_every_committed_batch(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    child = _child("loop", file, "run", 0, 40)
    committed = 0
    while committed < 5:
        committed = int(child.stdout.readline().split()[1])
    time.sleep(random.uniform(0, 0.02))
    child.kill()  # SIGKILL on POSIX
    child.communicate(timeout=60)
    assert _check_after_crash(file, 40) >= committed


def test_two_processes_writing_at_once_lose_no_row(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    Catalog.open(file).close()
    children = [_child("write", file, name, 100, 20) for name in ("one", "two")]
    assert [child.stdout.readline() for child in children] == ["ready\n"] * 2
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.communicate(timeout=120)
        assert child.returncode == 0
    with Catalog.open(file) as opened:
        assert opened.check() == []
        info = opened.info()
    assert [model.results for model in info.models] == [100 * 25, 100 * 25]
    assert info.images == 2 * 100 * 20 + 100 * 5


def test_a_writer_waits_for_another_then_gives_a_clear_error(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(catalog_schema, "BUSY_TIMEOUT_S", 0.2)
    file = tmp_path / "catalog.sqlite3"
    with Catalog.open(file) as opened:
        model = opened.model_id(identity())
        other = sqlite3.connect(file, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(CatalogError, match="locked by another program"):
            opened.record_batch(model, [prediction(tmp_path / "a.jpg")], RUN)
        other.execute("ROLLBACK")
        other.close()
        assert opened.record_batch(model, [prediction(tmp_path / "a.jpg")], RUN) == 1


# ------------------------------------------------------------------------------ versions


def _user_version(file: Path) -> int:
    with sqlite3.connect(file) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def test_a_catalog_from_a_newer_version_is_refused_and_left_alone(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    with Catalog.open(file) as opened:
        record(opened, opened.model_id(identity()), write_files(tmp_path / "imgs", 2))
    db = sqlite3.connect(file, isolation_level=None)
    db.execute(f"PRAGMA user_version = {catalog_schema.schema_version() + 1}")
    db.close()
    before = file.read_bytes()
    with pytest.raises(CatalogError, match="newer version"):
        Catalog.open(file)
    assert file.read_bytes() == before


def test_another_sqlite_database_is_not_taken_for_a_catalog(tmp_path: Path):
    file = tmp_path / "other.db"
    with sqlite3.connect(file) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    with pytest.raises(CatalogError, match="not a results catalog"):
        Catalog.open(file)
    with sqlite3.connect(file) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]


def _add_notes(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE results ADD COLUMN note TEXT DEFAULT 'from v2'")


def test_a_first_version_catalog_migrates_forward_keeping_its_results(tmp_path, monkeypatch):
    file = tmp_path / "catalog.sqlite3"
    paths = write_files(tmp_path / "imgs", 3)
    with Catalog.open(file) as opened:
        model = opened.model_id(identity())
        stored = record(opened, model, paths)
    assert _user_version(file) == 1
    monkeypatch.setattr(catalog_schema, "MIGRATIONS", [*catalog_schema.MIGRATIONS, _add_notes])
    with Catalog.open(file) as opened:
        assert [result for _, result in opened.results_for(paths, model, 5)] == stored
        notes = opened._db.execute("SELECT DISTINCT note FROM results").fetchall()
    assert notes == [("from v2",)]
    assert _user_version(file) == 2


def test_a_failed_migration_leaves_the_old_version_whole(tmp_path: Path, monkeypatch):
    file = tmp_path / "catalog.sqlite3"
    with Catalog.open(file) as opened:
        record(opened, opened.model_id(identity()), write_files(tmp_path / "imgs", 3))

    def broken(db: sqlite3.Connection) -> None:
        _add_notes(db)
        db.execute("SELECT no_such_column FROM results")

    monkeypatch.setattr(catalog_schema, "MIGRATIONS", [*catalog_schema.MIGRATIONS, broken])
    with pytest.raises(sqlite3.OperationalError):  # a bug in a migration stays a bug
        Catalog.open(file)
    monkeypatch.undo()
    assert _user_version(file) == 1
    with Catalog.open(file) as opened:
        assert opened.stats().results == 3
        columns = [row[1] for row in opened._db.execute("PRAGMA table_info(results)")]
    assert "note" not in columns


# ------------------------------------------------------------------------------ bad files


def test_a_file_that_is_not_a_database_can_be_set_aside(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    garbage = os.urandom(8192)
    file.write_bytes(garbage)
    with pytest.raises(CorruptCatalogError, match="damaged") as caught:
        Catalog.open(file)
    kept = set_aside(caught.value.path)
    assert kept.name.startswith("catalog.sqlite3.corrupt-")
    assert kept.read_bytes() == garbage
    with Catalog.open(file) as fresh:
        assert fresh.info().images == 0


def test_setting_aside_moves_the_log_files_along_and_never_overwrites(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    kept = []
    for number in range(2):
        for suffix in ("", "-wal", "-shm"):
            file.with_name(file.name + suffix).write_bytes(f"{number}{suffix}".encode())
        kept.append(set_aside(file))
    assert kept[0] != kept[1]
    for number, moved in enumerate(kept):
        for suffix in ("", "-wal", "-shm"):
            assert moved.with_name(moved.name + suffix).read_bytes() == f"{number}{suffix}".encode()
    assert not any(file.with_name(file.name + suffix).exists() for suffix in ("", "-wal", "-shm"))


def test_damaged_pages_give_a_clear_error(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    with Catalog.open(file) as opened:
        record(opened, opened.model_id(identity()), write_files(tmp_path / "imgs", 200))
    data = bytearray(file.read_bytes())
    page = 4096
    data[page:] = os.urandom(len(data) - page)  # every page but the header and schema
    file.write_bytes(bytes(data))
    with Catalog.open(file) as opened, pytest.raises(CorruptCatalogError):
        opened.stats()


def test_a_read_only_catalog_reads_and_refuses_writes_clearly(tmp_path: Path):
    file = tmp_path / "catalog.sqlite3"
    paths = write_files(tmp_path / "imgs", 3)
    with Catalog.open(file) as opened:
        model = opened.model_id(identity())
        stored = record(opened, model, paths[:2])
    with Catalog.open(file, read_only=True) as opened:
        assert [result for _, result in opened.results_for(paths[:2], model, 5)] == stored
        with pytest.raises(CatalogError, match="is read-only"):
            record(opened, model, paths[2:])
        with pytest.raises(CatalogError, match="is read-only"):
            opened.model_id(identity(sha="d" * 64))
        assert opened.find_model(identity(sha="d" * 64)) is None
        assert opened.stats().results == 2


def test_a_full_disk_stops_with_a_clear_error_and_keeps_what_was_committed(catalog, tmp_path):
    paths = write_files(tmp_path / "imgs", 50)
    model = catalog.model_id(identity())
    stored = record(catalog, model, paths[:5])
    pages = catalog._db.execute("PRAGMA page_count").fetchone()[0]
    catalog._db.execute(f"PRAGMA max_page_count = {pages}")  # as if the disk were full
    with pytest.raises(CatalogError, match="is full"):
        record(catalog, model, [tmp_path / f"new/{n:0200d}.jpg" for n in range(500)])
    assert [result for _, result in catalog.results_for(paths[:5], model, 5)] == stored
    assert catalog.stats(model).results == 5
    assert catalog.check() == []


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="file names there are Unicode")
def test_file_names_that_are_not_utf8_round_trip(catalog: Catalog, tmp_path: Path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    odd = [
        folder / os.fsdecode(b"caf\xe9.jpg"),
        folder / os.fsdecode(b"\xff\xfe.png"),
        folder / "ü.jpg",
    ]
    for number, path in enumerate(odd):
        path.write_bytes(b"x" * (number + 1))
    model = catalog.model_id(identity())
    todo = list(catalog.pending(odd, model))
    assert [item.path for item in todo] == odd
    stored = record(catalog, model, odd)
    assert list(catalog.pending(odd, model)) == []
    assert [result for _, result in catalog.results_for(odd, model, 5)] == stored
    listing = catalog.listing()
    listing.add(odd)
    assert [row.path for row in listing.view(ViewQuery(model)).rows(0, 5)] == odd
    assert catalog.forget([odd[0]]) == 1


# ------------------------------------------------------------------------------ housekeeping


def test_forget_drops_files_and_folders_but_not_their_neighbours(catalog: Catalog, tmp_path):
    inside = write_files(tmp_path / "a", 3)
    nested = write_files(tmp_path / "a" / "deeper", 2)
    neighbour = write_files(tmp_path / "a0", 2) + write_files(tmp_path / "ab", 2)
    model = catalog.model_id(identity())
    record(catalog, model, inside + nested + neighbour)
    assert catalog.forget([tmp_path / "a"]) == 5
    assert catalog.forget([neighbour[0]]) == 1
    remaining = [path for path, result in catalog.results_for(neighbour, model, 5) if result]
    assert remaining == neighbour[1:]
    assert catalog.vacuum() >= 0
    assert catalog.info().images == 3


# ------------------------------------------------------------------------------ views


@pytest.fixture
def listed(catalog: Catalog, tmp_path: Path):
    """40 listed files: 30 classified with varied confidences, 5 errors, 5 unclassified."""
    paths = write_files(tmp_path / "imgs", 40, prefix="Img")
    random.Random(1).shuffle(paths)
    model = catalog.model_id(identity())
    predictions = [prediction(path, seed=7) for path in paths[:30]]
    predictions += [Prediction(path, error="broken") for path in paths[30:35]]
    catalog.record_batch(model, predictions, RUN)
    catalog.listing().add(paths)
    results = {p.path: p for p in predictions}
    return model, [(number, path, results.get(path)) for number, path in enumerate(paths)]


def _label(result):
    return result.labels[0].casefold() if result and result.ok else ""


def _confidence(result):
    return result.probs[0] if result and result.ok else -1.0


EXPECTED_ORDERS = {
    SortKey.CONFIDENCE: lambda row: (-_confidence(row[2]), row[0]),
    SortKey.LABEL: lambda row: (bool(row[2] and not row[2].ok), _label(row[2]), row[0]),
    SortKey.NAME: lambda row: (row[1].name.casefold(), row[0]),
    SortKey.PATH: lambda row: (os.fsencode(row[1]), row[0]),
}


@pytest.mark.parametrize("sort", list(EXPECTED_ORDERS))
def test_views_sort_in_sql_as_the_table_would(catalog: Catalog, listed, sort: SortKey):
    model, rows = listed
    view = catalog.listing().view(
        ViewQuery(model, sort=sort, descending=sort is SortKey.CONFIDENCE)
    )
    expected = sorted(rows, key=EXPECTED_ORDERS[sort])
    pages = [row for start in range(0, 45, 7) for row in view.rows(start, 7)]
    assert len(view) == 40
    assert [row.position for row in pages] == [number for number, _, _ in expected]
    assert [row.prediction for row in pages] == [result for _, _, result in expected]


def test_views_filter_by_label_text_and_confidence(catalog: Catalog, listed):
    model, rows = listed
    query = ViewQuery(model, sort=SortKey.CONFIDENCE, label_text=" AN", min_confidence=0.3)
    view = catalog.listing().view(query)
    kept = [row for row in rows if "an" in _label(row[2]) and _confidence(row[2]) >= 0.3]
    assert 0 < len(kept) < 30
    assert len(view) == len(kept)
    expected = sorted(kept, key=lambda row: (_confidence(row[2]), row[0]))
    assert [row.position for row in view.rows(0, 100)] == [number for number, _, _ in expected]


def test_the_unsorted_view_pages_the_listing_with_top_k_cut(catalog: Catalog, listed):
    model, rows = listed
    assert catalog.listing().counts(model) == catalog_view.ListingCounts(40, 30, 5)
    view = catalog.listing().view(ViewQuery(model, top_k=2))
    page = view.rows(10, 5)
    assert [row.position for row in page] == list(range(10, 15))
    for row, (_, path, result) in zip(page, rows[10:15], strict=True):
        assert row.path == path
        if result is not None and result.ok:
            result = Prediction(path, result.labels[:2], result.probs[:2], result.indices[:2])
        assert row.prediction == result
    assert view.rows(38, 10)[-1].position == 39


def test_a_view_replaced_by_a_newer_one_refuses_to_read(catalog: Catalog, listed):
    model, _ = listed
    old = catalog.listing().view(ViewQuery(model, sort=SortKey.LABEL))
    catalog.listing().view(ViewQuery(model, sort=SortKey.NAME))
    with pytest.raises(RuntimeError, match="newer"):
        old.rows(0, 5)


@pytest.mark.usefixtures("listed")
def test_a_view_without_a_model_lists_every_row_unclassified(catalog: Catalog):
    listing = catalog.listing()
    assert listing.counts(None) == catalog_view.ListingCounts(40, 0, 0)
    view = listing.view(ViewQuery(None, sort=SortKey.CONFIDENCE, descending=True))
    page = view.rows(0, 100)
    assert [row.position for row in page] == list(range(40))
    assert all(row.prediction is None for row in page)
    assert len(listing.view(ViewQuery(None, label_text="a"))) == 0


def test_a_stream_reads_a_query_in_order_and_leaves_the_view_alone(
    catalog: Catalog, listed, monkeypatch
):
    model, rows = listed
    monkeypatch.setattr(catalog_view, "CHUNK", 3)  # several chunks
    median = sorted(_confidence(result) for _, _, result in rows)[-15]
    listing = catalog.listing()
    shown = listing.view(ViewQuery(model, sort=SortKey.NAME))
    first_page = shown.rows(0, 10)
    query = ViewQuery(model, sort=SortKey.CONFIDENCE, descending=True, min_confidence=median)
    streamed = list(listing.stream(query))
    assert shown.rows(0, 10) == first_page  # still the current view
    assert streamed == listing.view(query).rows(0, 100) and len(streamed) == 15
    everything = list(listing.stream(ViewQuery(model, top_k=1)))
    assert [row.position for row in everything] == list(range(40))
    labels = [len(row.prediction.labels) for row in everything if row.prediction]
    assert set(labels) == {0, 1}  # errors have none
