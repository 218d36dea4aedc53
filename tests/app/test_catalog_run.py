"""Classifying a listing into the catalog: resuming, skipping, rows in order, bounded memory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from resnet_desktop.app import catalog_run
from resnet_desktop.app.catalog_run import (
    CatalogStore,
    MemoryStore,
    ModelReady,
    PathSpool,
    Progress,
    Rows,
    classify_listing,
    cut,
    scan_listing,
)
from resnet_desktop.core.catalog import Catalog, ModelIdentity
from resnet_desktop.core.predictor import Prediction, Predictor
from resnet_desktop.core.runtime import RuntimeOptions
from tests.gui.imagefiles import write_broken_image, write_noise_images
from tests.helpers import colour_model

BATCH = 4
CPU = RuntimeOptions(device="cpu", precision="fp32", engine="torch", batch_size=BATCH)


class Counted:
    """Builds the colour model's predictor and counts the images it classifies."""

    def __init__(self, stop_after_batches: int | None = None, fail_after: int | None = None):
        self.images = 0
        self.starts = 0
        self.batches = 0
        self.stop_after_batches = stop_after_batches
        self.fail_after = fail_after  # raise (as a crash would) after this many batches

    def start(self) -> Predictor:
        self.starts += 1
        model = colour_model()
        predictor = Predictor(model, CPU.resolve(model.preprocess), top_k=5)
        real = predictor.predict_iter

        def counted(paths, should_stop=None) -> Iterator:
            for batch in real(paths, should_stop):
                if self.fail_after is not None and self.batches >= self.fail_after:
                    raise RuntimeError("crash")
                self.batches += 1
                self.images += len(batch.predictions)
                yield batch

        predictor.predict_iter = counted  # type: ignore[method-assign]
        return predictor

    def should_stop(self) -> bool:
        return self.stop_after_batches is not None and self.batches >= self.stop_after_batches


def identity() -> ModelIdentity:
    model = colour_model()
    return ModelIdentity(model.name, "c" * 64, tuple(model.class_names), model.preprocess)


def run(catalog: Catalog, paths, counter: Counted, top_k: int = 3, redo=False) -> list:
    store = CatalogStore(catalog, identity(), top_k, redo=redo)
    events = list(classify_listing(paths, store, counter.start, counter.should_stop))
    return [p for event in events if isinstance(event, Rows) for p in event.predictions]


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog.open(tmp_path / "catalog.sqlite3") as opened:
        yield opened


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    return write_noise_images(tmp_path / "images", 30)


def stored(catalog: Catalog, paths) -> list[Prediction | None]:
    model = catalog.find_model(identity())
    return [p for _, p in catalog.results_for(paths, model, 3)]


# ------------------------------------------------------------------------------ resuming


def test_a_stopped_run_resumes_where_it_stopped(tmp_path: Path, images, catalog):
    with Catalog.open(tmp_path / "whole.sqlite3") as whole:
        uninterrupted = run(whole, images, Counted())
    first = Counted(stop_after_batches=2)
    partial = run(catalog, images, first)
    assert first.images == 2 * BATCH and partial == uninterrupted[: 2 * BATCH]
    second = Counted()
    assert run(catalog, images, second) == uninterrupted
    assert second.images == len(images) - 2 * BATCH  # nothing done twice
    assert stored(catalog, images) == uninterrupted


def test_a_crash_keeps_every_committed_batch_and_redoes_none(images, catalog):
    crashed = Counted(fail_after=2)
    with pytest.raises(RuntimeError, match="crash"):
        run(catalog, images, crashed)
    assert catalog.stats().results == 2 * BATCH
    again = Counted()
    rows = run(catalog, images, again)
    assert again.images == len(images) - 2 * BATCH
    assert [row.path for row in rows] == images


def test_an_unchanged_listing_only_checks_and_never_loads_the_model(images, catalog):
    first = run(catalog, images, Counted())
    idle = Counted()
    assert run(catalog, images, idle) == first
    assert idle.starts == 0 and idle.images == 0


def test_a_changed_file_is_classified_again(images, catalog):
    first = run(catalog, images, Counted())
    from PIL import Image

    Image.new("RGB", (40, 40), (250, 0, 0)).save(images[5])
    again = Counted()
    rows = run(catalog, images, again)
    assert again.images == 1
    assert rows[5] != first[5] and rows[5].labels[0] == "red"
    assert rows[:5] + rows[6:] == first[:5] + first[6:]


def test_a_smaller_top_k_is_cut_from_what_is_stored(images, catalog):
    first = run(catalog, images, Counted(), top_k=3)
    fewer = Counted()
    assert run(catalog, images, fewer, top_k=1) == [cut(p, 1) for p in first]
    assert fewer.images == 0
    assert [len(p.labels) for p in first] == [3] * len(images)


def test_redo_classifies_everything_again(images, catalog):
    run(catalog, images, Counted())
    redo = Counted()
    run(catalog, images, redo, redo=True)
    assert redo.images == len(images)
    assert catalog.stats().results == len(images)


def test_errors_are_rows_too_and_final_for_an_unchanged_file(tmp_path, images, catalog):
    broken = write_broken_image(tmp_path / "images", "zz_broken.jpg")
    listing = [*images, broken]
    rows = run(catalog, listing, Counted())
    assert rows[-1].path == broken and rows[-1].error
    again = Counted()
    assert run(catalog, listing, again)[-1] == rows[-1] and again.images == 0


# ------------------------------------------------------------------------------ streaming


def test_rows_come_in_listing_order_across_windows_with_gaps(images, catalog, monkeypatch):
    monkeypatch.setattr(catalog_run, "WINDOW", 7)
    run(catalog, images[::3], Counted())  # every third file is stored already
    counter = Counted()
    store = CatalogStore(catalog, identity(), 3)
    events = list(classify_listing(images, store, counter.start, counter.should_stop))
    rows = [p.path for e in events if isinstance(e, Rows) for p in e.predictions]
    assert rows == images and counter.images == len(images) - len(images[::3])
    assert max(len(e.predictions) for e in events if isinstance(e, Rows)) <= 7
    progress = [e.done for e in events if isinstance(e, Progress)]
    assert progress == sorted(progress) and progress[-1] == len(images)
    assert sum(isinstance(e, ModelReady) for e in events) == 1


def test_a_stop_still_gives_the_rows_stored_before(images, catalog, monkeypatch):
    monkeypatch.setattr(catalog_run, "WINDOW", 8)
    run(catalog, images[20:], Counted())
    rows = run(catalog, images, Counted(stop_after_batches=1))
    assert [p.path for p in rows] == images[:BATCH] + images[20:]


def test_a_memory_store_classifies_everything_and_records_nothing(images, tmp_path):
    counter = Counted()
    events = classify_listing(images, MemoryStore(2), counter.start, counter.should_stop)
    rows = [p for e in events if isinstance(e, Rows) for p in e.predictions]
    assert [p.path for p in rows] == images and all(len(p.labels) == 2 for p in rows)
    assert counter.images == len(images)


# ------------------------------------------------------------------------------ the listing


def test_the_spool_gives_back_every_path_in_order_as_often_as_asked(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog_run, "SPOOL_BLOCK", 7)  # paths straddle the reads
    names = ["a.jpg", "new\nline.jpg", "tab\t.png", "é.jpg"]
    if os.sep == "/":
        names.append(os.fsdecode(b"latin-\xe9.jpg"))
    paths = [tmp_path / name for name in names * 3]
    with PathSpool() as spool:
        for path in paths:
            spool.append(path)
        assert len(spool) == len(paths)
        first = iter(spool)
        assert next(first) == paths[0]
        assert list(spool) == paths  # a second reader does not disturb the first
        assert [paths[0], *first] == paths


def test_the_listing_is_the_scan_in_order(tmp_path: Path):
    images = write_noise_images(tmp_path, 9)
    with scan_listing([tmp_path]) as listing:
        assert list(listing) == images
