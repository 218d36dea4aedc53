"""The main window's background jobs, as plain generators a GeneratorWorker runs.

Nothing here touches Qt, so the jobs can be tested without a window. torch and the
prediction modules are imported inside the jobs: importing this module stays cheap and
the window appears before torch has loaded.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ShouldStop = Callable[[], bool]
Signature = tuple[int, int]  # (size in bytes, mtime in ns): has the file changed?

SCAN_CHUNK = 500  # rows per beginInsertRows/endInsertRows
SCAN_FLUSH_SECONDS = 0.25  # hand over a partial chunk this often, so rows appear early
PLAN_STOP_EVERY = 1000  # files stat'ed between two should_stop checks


# ------------------------------------------------------------------------------ scanning


def scan_job(paths: Sequence[str | Path]) -> Callable[[ShouldStop], Iterator[list[Path]]]:
    """A job that yields the images among ``paths`` in chunks of at most SCAN_CHUNK."""

    def job(should_stop: ShouldStop) -> Iterator[list[Path]]:
        from resnet_desktop.core.imaging import scan_images

        files = scan_images(list(paths), should_stop)
        return chunked(files, SCAN_CHUNK, SCAN_FLUSH_SECONDS, should_stop)

    return job


def chunked(
    items: Iterable[Path], size: int, flush_seconds: float, should_stop: ShouldStop
) -> Iterator[list[Path]]:
    """Lists of up to ``size`` items; a shorter list once ``flush_seconds`` have passed.

    Stops taking items as soon as ``should_stop`` says so (checked once per item: the
    scan itself only checks between folders, and a folder may hold 100,000 files).
    """
    chunk: list[Path] = []
    last_flush = time.monotonic()
    for item in items:
        if should_stop():
            break
        chunk.append(item)
        now = time.monotonic()
        if len(chunk) >= size or now - last_flush >= flush_seconds:
            yield chunk
            chunk, last_flush = [], now
    if chunk:
        yield chunk


# ------------------------------------------------------------------------------ classifying


@dataclass(frozen=True)
class RunKey:
    """What a result depends on besides the file: a different key means classify again."""

    model: str
    top_k: int


@dataclass(frozen=True)
class Candidate:
    """A row offered to a run, with what is known about its current result."""

    path: Path
    signature: Signature | None  # of the file when its current result was made
    up_to_date: bool  # has a successful result for the run's key


@dataclass(frozen=True)
class RunRequest:
    key: RunKey
    device: str
    precision: str
    batch_size: int | None
    candidates: tuple[Candidate, ...]
    engine: str = "auto"


@dataclass(frozen=True)
class RunPlan:
    """Yielded first: the files that need classifying and their signatures now."""

    todo: list[Path]
    signatures: dict[Path, Signature | None]
    skipped: int  # up-to-date rows left alone


@dataclass(frozen=True)
class Preparing:
    """Yielded before set-up that can be slow (an OpenVINO conversion): what is going on."""

    message: str


@dataclass(frozen=True)
class ModelReady:
    """Yielded once the model is loaded: how the run will go."""

    model: str
    device: str
    precision: str
    batch_size: int
    top_k: int
    engine: str


def file_signature(path: Path) -> Signature | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns)


def plan_run(candidates: Sequence[Candidate], should_stop: ShouldStop) -> RunPlan:
    """Which candidates need work: no result, an error, another key, or a changed file."""
    todo: list[Path] = []
    signatures: dict[Path, Signature | None] = {}
    skipped = 0
    for number, candidate in enumerate(candidates):
        if number % PLAN_STOP_EVERY == 0 and should_stop():
            break
        signature = file_signature(candidate.path)
        if not candidate.up_to_date or signature is None or signature != candidate.signature:
            todo.append(candidate.path)
            signatures[candidate.path] = signature
        else:
            skipped += 1
    return RunPlan(todo, signatures, skipped)


def classify_job(request: RunRequest) -> Callable[[ShouldStop], Iterator[Any]]:
    """A job yielding a RunPlan, then (if there is work) ModelReady and BatchResults."""

    def job(should_stop: ShouldStop) -> Iterator[Any]:
        plan = plan_run(request.candidates, should_stop)
        yield plan
        if not plan.todo or should_stop():
            return
        from resnet_desktop.core.model_loader import load_model
        from resnet_desktop.core.predictor import Predictor

        loaded = load_model(request.key.model, should_stop=should_stop)
        if _uses_openvino(request):
            # Seconds the first time (a conversion), well under one later (the cache):
            # telling the two apart would mean hashing the weights twice.
            yield Preparing("Preparing the model for OpenVINO…")
        predictor = Predictor(
            loaded,
            device=request.device,
            precision=request.precision,
            batch_size=request.batch_size,
            top_k=request.key.top_k,
            engine=request.engine,
            should_stop=should_stop,
        )
        if should_stop():
            return
        yield ModelReady(
            loaded.name,
            predictor.device.type,
            predictor.precision,
            predictor.batch_size,
            predictor.top_k,
            predictor.engine,
        )
        if not should_stop():
            yield from predictor.predict_iter(plan.todo, should_stop)

    return job


def _uses_openvino(request: RunRequest) -> bool:
    from resnet_desktop.core.device import resolve_device, resolve_engine, resolve_precision

    device = resolve_device(request.device)
    engine = resolve_engine(device, resolve_precision(device, request.precision), request.engine)
    return engine == "openvino"


# ------------------------------------------------------------------------------ start-up


@dataclass(frozen=True)
class RuntimeInfo:
    """What is known once torch has loaded: versions and the usable devices."""

    torch_version: str
    torchvision_version: str
    devices: list[str]  # concrete devices, best first ("cuda", "mps", "cpu")
    cuda_name: str | None


def warm_up_job(should_stop: ShouldStop) -> Iterator[RuntimeInfo]:
    """Import torch and torchvision in the background while the user picks images."""
    import torch
    import torchvision

    from resnet_desktop.core.device import available_devices

    devices = available_devices()
    cuda_name = torch.cuda.get_device_name(0) if "cuda" in devices else None
    yield RuntimeInfo(torch.__version__, torchvision.__version__, devices, cuda_name)
