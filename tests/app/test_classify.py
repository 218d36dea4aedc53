"""Adding and classifying images as plain generators: scanning in chunks, planning a run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resnet_desktop.app import classify as jobs
from resnet_desktop.app.classify import (
    Candidate,
    ModelReady,
    Preparing,
    RunKey,
    RunPlan,
    RunRequest,
    Stage,
    plan_run,
)
from resnet_desktop.core.predictor import BatchResult
from resnet_desktop.core.runtime import RuntimeOptions
from tests.gui.imagefiles import write_noise_images

CPU_FP32 = RuntimeOptions(device="cpu", precision="fp32")


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
    chunks = list(jobs.scan_job([tmp_path])(_never))
    assert all(len(chunk) <= 4 for chunk in chunks)
    assert sorted(p for chunk in chunks for p in chunk) == images


def test_scan_job_of_a_missing_folder_raises(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        list(jobs.scan_job([tmp_path / "nope"])(_never))


def test_plan_redoes_missing_failed_changed_and_other_key(tmp_path: Path):
    paths = write_noise_images(tmp_path, 5)
    signatures = [jobs.file_signature(p) for p in paths]
    candidates = [
        Candidate(paths[0], signatures[0], up_to_date=True),  # unchanged: skipped
        Candidate(paths[1], None, up_to_date=False),  # never classified
        Candidate(paths[2], signatures[2], up_to_date=False),  # failed or other model/top-k
        Candidate(paths[3], signatures[3], up_to_date=True),  # file rewritten below
        Candidate(tmp_path / "deleted.jpg", (1, 1), up_to_date=True),  # file gone
    ]
    stat = os.stat(paths[3])
    os.utime(paths[3], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    plan = plan_run(candidates, _never)
    assert plan.todo == [paths[1], paths[2], paths[3], tmp_path / "deleted.jpg"]
    assert plan.skipped == 1
    assert plan.signatures[paths[3]] == jobs.file_signature(paths[3]) != signatures[3]
    assert plan.signatures[tmp_path / "deleted.jpg"] is None


def test_classify_job_with_nothing_to_do_loads_no_model(tmp_path: Path):
    path = write_noise_images(tmp_path, 1)[0]
    candidate = Candidate(path, jobs.file_signature(path), up_to_date=True)
    request = RunRequest(RunKey("no-such-model", 5), CPU_FP32, (candidate,))
    items = list(jobs.classify_job(request)(_never))
    assert items == [RunPlan([], {}, skipped=1)]


def test_a_stopped_classify_job_ends_after_its_plan(tmp_path: Path):
    paths = write_noise_images(tmp_path, 2)
    candidates = tuple(Candidate(p, None, False) for p in paths)
    request = RunRequest(RunKey("no-such-model", 5), CPU_FP32, candidates)
    assert list(jobs.classify_job(request)(lambda: True)) == [RunPlan([], {}, skipped=0)]


def test_classify_job_yields_plan_model_and_batches(tmp_path: Path, tiny_model: str):
    paths = write_noise_images(tmp_path, 5)
    candidates = tuple(Candidate(p, None, False) for p in paths)
    runtime = RuntimeOptions("cpu", "fp32", "torch", batch_size=2)
    request = RunRequest(RunKey(tiny_model, 3), runtime, candidates)
    plan, loading, ready, *batches = list(jobs.classify_job(request)(_never))
    assert plan.todo == paths
    assert loading == Preparing(Stage.LOADING_MODEL)
    assert isinstance(ready, ModelReady) and (ready.model, ready.top_k) == (tiny_model, 3)
    assert ready.runtime.describe() == "cpu (fp32, PyTorch, batch 2)"
    assert ready.runtime.options == runtime
    assert [b.done for b in batches] == [2, 4, 5]
    assert [p.path for b in batches for p in b.predictions] == paths


def test_classify_job_says_when_it_prepares_for_openvino_and_stops_there_if_asked(
    tmp_path: Path, tiny_model: str, monkeypatch: pytest.MonkeyPatch
):
    from resnet_desktop.core import openvino_engine

    monkeypatch.setattr(openvino_engine, "cache_root", lambda: tmp_path / "openvino")
    paths = write_noise_images(tmp_path, 3)
    candidates = tuple(Candidate(p, None, False) for p in paths)
    runtime = RuntimeOptions("cpu", "fp32", "openvino")
    request = RunRequest(RunKey(tiny_model, 3), runtime, candidates)
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

    pressed: list[bool] = []

    def stop_once_converting() -> bool:  # Stop, pressed once the conversion has begun
        if not pressed and fresh.is_dir() and any(fresh.iterdir()):
            pressed.append(True)
        return bool(pressed)

    stopped = list(jobs.classify_job(request)(stop_once_converting))
    assert [type(item) for item in stopped] == [RunPlan, Preparing, Preparing]
    assert list(fresh.iterdir()) == []  # the half-done conversion is gone
