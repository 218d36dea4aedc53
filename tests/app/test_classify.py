"""Adding and classifying images as plain generators: scanning in chunks, planning a run
from the catalog, recording each batch before it is handed on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resnet_desktop.app import classify as jobs
from resnet_desktop.app.classify import (
    ModelReady,
    Preparing,
    RunPlan,
    RunRequest,
    Stage,
    UnknownWeightsError,
    plan_run,
)
from resnet_desktop.app.identity import identity_for
from resnet_desktop.app.scan_report import ScanSummary
from resnet_desktop.core.catalog import Catalog, ModelIdentity, RunInfo, file_signature
from resnet_desktop.core.predictor import BatchResult, Prediction
from resnet_desktop.core.runtime import RuntimeOptions
from resnet_desktop.core.zoo import Preprocess
from tests.gui.imagefiles import write_noise_images

CPU_FP32 = RuntimeOptions(device="cpu", precision="fp32")
RUN = RunInfo("cpu", "fp32", "torch")
CLASSES = tuple(f"c{i}" for i in range(6))


def _never() -> bool:
    return False


def test_chunked_splits_by_size_and_keeps_the_rest():
    items = [Path(str(n)) for n in range(7)]
    chunks = list(jobs.chunked(items, 3, 3600, _never))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert [p for c in chunks for p in c] == items


def test_chunked_flushes_early_when_items_come_slowly(monkeypatch: pytest.MonkeyPatch):
    clock = iter(range(0, 1000, 10))  # every item arrives 10 s after the previous one
    monkeypatch.setattr(jobs.time, "monotonic", lambda: next(clock))
    chunks = list(jobs.chunked([Path("a"), Path("b")], 500, 1, _never))
    assert chunks == [[Path("a")], [Path("b")]]


def test_chunked_stops_between_items():
    asked = []

    def stop_at_third() -> bool:
        asked.append(1)
        return len(asked) >= 3

    items = [Path(str(n)) for n in range(100)]
    assert list(jobs.chunked(items, 500, 3600, stop_at_third)) == [items[:2]]


def test_scan_job_streams_sorted_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(jobs, "SCAN_CHUNK", 4)
    images = write_noise_images(tmp_path, 10)
    (tmp_path / "notes.txt").write_text("x")
    *chunks, summary = list(jobs.scan_job([tmp_path])(_never))
    assert all(len(chunk) <= 4 for chunk in chunks)
    assert sorted(p for chunk in chunks for p in chunk) == images
    assert summary == ScanSummary((tmp_path,), 10, summary.tally)  # then what it skipped
    assert summary.message() == "10 images added; 1 file skipped: 1 not images (.txt)"


def test_a_stopped_scan_job_gives_no_summary(tmp_path: Path):
    write_noise_images(tmp_path, 3)
    items = list(jobs.scan_job([tmp_path])(lambda: True))
    assert not any(isinstance(item, ScanSummary) for item in items)


def test_scan_job_of_a_missing_folder_raises(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list(jobs.scan_job([tmp_path / "nope"])(_never))


def _request(catalog: Path, model: str, paths: list[Path], top_k: int = 5, **runtime) -> RunRequest:
    options = RuntimeOptions(**{"device": "cpu", "precision": "fp32", **runtime})
    return RunRequest(model, top_k, options, catalog, lambda _stop: paths)


def _fake(path: Path, k: int = 5) -> Prediction:
    indices = tuple(range(k))
    return Prediction(path, tuple(f"c{i}" for i in indices), (0.5,) * k, indices)


def test_plan_redoes_missing_changed_and_short_results_but_not_errors(tmp_path: Path):
    paths = write_noise_images(tmp_path / "imgs", 6)
    with Catalog.open(tmp_path / "catalog.sqlite3") as catalog:
        model = catalog.model_id(ModelIdentity("m", "0" * 64, CLASSES, Preprocess(32, None)))
        stored = [_fake(paths[0]), _fake(paths[1]), _fake(paths[2], k=2)]
        catalog.record_batch(model, [*stored, Prediction(paths[3], error="broken")], RUN)
        stat = os.stat(paths[1])
        os.utime(paths[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        plan = plan_run(catalog, model, paths, 3, _never)
        assert plan.todo == [paths[1], paths[2], paths[4], paths[5]]
        assert plan.skipped == 2  # the unchanged result and the error
        assert plan.signatures[paths[1]] == file_signature(paths[1])
        assert plan_run(catalog, model, paths, 2, _never).todo == [paths[1], *paths[4:]]

        unknown = plan_run(catalog, None, [*paths, tmp_path / "gone.jpg"], 5, _never)
        assert unknown.todo == [*paths, tmp_path / "gone.jpg"] and unknown.skipped == 0
        assert unknown.signatures[tmp_path / "gone.jpg"] is None


def test_classify_job_with_nothing_to_do_loads_no_model(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
):
    paths = write_noise_images(tmp_path / "imgs", 3)
    with Catalog.open(tmp_path / "c.sqlite3") as catalog:
        model = catalog.model_id(identity_for(tiny_model))
        catalog.record_batch(model, [_fake(p) for p in paths], RUN)
    monkeypatch.setattr(jobs, "load_model", None)  # calling it would fail the test
    items = list(jobs.classify_job(_request(tmp_path / "c.sqlite3", tiny_model, paths))(_never))
    assert len(items) == 1 and isinstance(items[0], RunPlan)
    assert (items[0].todo, items[0].signatures, items[0].skipped) == ([], {}, 3)
    assert items[0].stored_runs == {RUN}  # to tell the user how the results were computed


def test_a_stopped_classify_job_ends_after_its_plan(tmp_path: Path, tiny_model: str):
    paths = write_noise_images(tmp_path, 2)
    request = _request(tmp_path / "c.sqlite3", tiny_model, paths)
    assert list(jobs.classify_job(request)(lambda: True)) == [RunPlan([], {}, skipped=2)]


def test_a_model_whose_weights_are_unknown_is_refused(tmp_path: Path):
    request = _request(tmp_path / "c.sqlite3", "resnet18", [])  # not downloaded
    with pytest.raises(UnknownWeightsError, match="resnet18"):
        list(jobs.classify_job(request)(_never))


def test_classify_job_records_each_batch_before_yielding_it(tmp_path: Path, tiny_model: str):
    paths = write_noise_images(tmp_path / "imgs", 5)
    file = tmp_path / "c.sqlite3"
    request = _request(file, tiny_model, paths, top_k=3, engine="torch", batch_size=2)
    items = iter(jobs.classify_job(request)(_never))
    plan, loading, ready = next(items), next(items), next(items)
    assert plan.todo == paths
    assert loading == Preparing(Stage.LOADING_MODEL)
    assert isinstance(ready, ModelReady) and (ready.model, ready.top_k) == (tiny_model, 3)
    assert ready.runtime.describe() == "cpu (fp32, PyTorch, batch 2)"
    with Catalog.open(file) as reader:
        model = reader.find_model(identity_for(tiny_model))
        batches = []
        for batch in items:
            batches.append(batch)
            done = [p.path for b in batches for p in b.predictions]
            stored = [path for path, result in reader.results_for(paths, model, 5) if result]
            assert stored == done  # in the catalog, with 5 classes, before it came out
    assert [b.done for b in batches] == [2, 4, 5]
    assert all(len(p.labels) == 3 for b in batches for p in b.predictions)


def test_a_run_stopped_midway_is_finished_by_the_next(tmp_path: Path, tiny_model: str):
    paths = write_noise_images(tmp_path / "imgs", 6)
    request = _request(tmp_path / "c.sqlite3", tiny_model, paths, engine="torch", batch_size=2)
    seen: list[BatchResult] = []

    def stop_after_a_batch() -> bool:
        return bool(seen)

    for item in jobs.classify_job(request)(stop_after_a_batch):
        if isinstance(item, BatchResult):
            seen.append(item)
    assert [p.path for p in seen[0].predictions] == paths[:2] and len(seen) == 1
    rest = [i for i in jobs.classify_job(request)(_never) if isinstance(i, BatchResult)]
    assert [p.path for b in rest for p in b.predictions] == paths[2:]


def test_classify_job_says_when_it_prepares_for_openvino_and_stops_there_if_asked(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
):
    from resnet_desktop.core import openvino_engine

    monkeypatch.setattr(openvino_engine, "cache_root", lambda: tmp_path / "openvino")
    paths = write_noise_images(tmp_path / "imgs", 3)
    request = _request(tmp_path / "c.sqlite3", tiny_model, paths, engine="openvino")
    items = list(jobs.classify_job(request)(_never))
    assert [type(item) for item in items] == [
        RunPlan, Preparing, Preparing, ModelReady, BatchResult
    ]  # fmt: skip
    assert [items[1].stage, items[2].stage] == [Stage.LOADING_MODEL, Stage.CONVERTING]
    assert items[2].message == "Preparing the model for OpenVINO…"
    assert items[3].runtime.engine == "openvino"
    assert [p.path for p in items[4].predictions] == paths

    fresh = tmp_path / "fresh-cache"
    monkeypatch.setattr(openvino_engine, "cache_root", lambda: fresh)
    request = _request(tmp_path / "other.sqlite3", tiny_model, paths, engine="openvino")

    pressed: list[bool] = []

    def stop_once_converting() -> bool:  # Stop, pressed once the conversion has begun
        if not pressed and fresh.is_dir() and any(fresh.iterdir()):
            pressed.append(True)
        return bool(pressed)

    stopped = list(jobs.classify_job(request)(stop_once_converting))
    assert [type(item) for item in stopped] == [RunPlan, Preparing, Preparing]
    assert list(fresh.iterdir()) == []  # the half-done conversion is gone


def test_a_plan_says_when_only_the_runtime_changed():
    bf16 = RunInfo("cpu", "bf16", "torch")
    same = RunPlan([], {}, skipped=3, stored_runs=frozenset({RUN}), would_run=RUN)
    assert not same.runtime_changed
    assert same.up_to_date_text().startswith("All 3 images are up to date for this model;")
    assert "Classify Again" in same.up_to_date_text()
    changed = RunPlan([], {}, skipped=3, stored_runs=frozenset({RUN}), would_run=bf16)
    assert changed.runtime_changed
    text = changed.runtime_change_text()
    assert "computed as cpu (fp32, PyTorch)" in text and "run as cpu (bf16, PyTorch)" in text
    unknown = RunPlan([], {}, skipped=3, stored_runs=frozenset({RUN}), would_run=None)
    assert not unknown.runtime_changed  # the choices cannot run: nothing to offer
    busy = RunPlan([Path("a.jpg")], {}, skipped=2, stored_runs=frozenset({RUN}), would_run=bf16)
    assert not busy.runtime_changed  # there is work anyway


def test_a_redo_plans_every_file(tmp_path: Path, tiny_model: str):
    paths = write_noise_images(tmp_path / "imgs", 3)
    with Catalog.open(tmp_path / "c.sqlite3") as catalog:
        model = catalog.model_id(identity_for(tiny_model))
        catalog.record_batch(model, [_fake(p) for p in paths], RUN)
        assert plan_run(catalog, model, paths, 5, _never).todo == []
        assert plan_run(catalog, model, paths, 5, _never, redo=True).todo == paths
        assert catalog.runs(model) == {RUN}
