"""Adding images and classifying them: the window's jobs, as plain generators.

A job takes a ``should_stop`` callable and yields typed events; the window runs it in a
GeneratorWorker and matches on the events. Nothing here touches Qt, so the jobs are
tested without a window, and nothing here imports torch at import time: the window
appears before torch has loaded, and only a classify job's model loading pulls it in.
"""

from __future__ import annotations

import enum
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.predictor import BatchResult, Predictor
from resnet_desktop.core.runtime import ResolvedRuntime, RuntimeOptions

ShouldStop = Callable[[], bool]
Signature = tuple[int, int]  # (size in bytes, mtime in ns): has the file changed?

SCAN_CHUNK = 500  # rows per beginInsertRows/endInsertRows
SCAN_FLUSH_SECONDS = 0.25  # hand over a partial chunk this often, so rows appear early
PLAN_STOP_EVERY = 1000  # files stat'ed between two should_stop checks


# ------------------------------------------------------------------------------ scanning


def scan_job(paths: Sequence[str | Path]) -> Callable[[ShouldStop], Iterator[list[Path]]]:
    """A job that yields the images among ``paths`` in chunks of at most SCAN_CHUNK."""

    def job(should_stop: ShouldStop) -> Iterator[list[Path]]:
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
    """What to classify, and how: the rows on offer and the runtime the user chose."""

    key: RunKey
    runtime: RuntimeOptions
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class RunPlan:
    """The first event: the files that need classifying and their signatures now."""

    todo: list[Path]
    signatures: dict[Path, Signature | None]
    skipped: int  # up-to-date rows left alone


class Stage(enum.Enum):
    """Set-up before the first batch that can take a while; the value is what to show."""

    LOADING_MODEL = "Loading the model…"
    # Seconds the first time (a conversion), well under one later (the cache): telling
    # the two apart would mean hashing the weights twice.
    CONVERTING = "Preparing the model for OpenVINO…"


@dataclass(frozen=True)
class Preparing:
    """A set-up stage has begun."""

    stage: Stage

    @property
    def message(self) -> str:
        return self.stage.value


@dataclass(frozen=True)
class ModelReady:
    """The model is loaded: how the run will go (the engine after any fallback)."""

    model: str
    runtime: ResolvedRuntime
    top_k: int


ClassifyEvent: TypeAlias = RunPlan | Preparing | ModelReady | BatchResult


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


def classify_job(request: RunRequest) -> Callable[[ShouldStop], Iterator[ClassifyEvent]]:
    """A job yielding a RunPlan, then (if there is work) set-up stages, ModelReady, batches."""

    def job(should_stop: ShouldStop) -> Iterator[ClassifyEvent]:
        plan = plan_run(request.candidates, should_stop)
        yield plan
        if not plan.todo or should_stop():
            return
        yield Preparing(Stage.LOADING_MODEL)
        loaded = load_model(request.key.model, should_stop=should_stop)
        runtime = request.runtime.resolve(loaded.preprocess)
        if runtime.engine == "openvino":
            yield Preparing(Stage.CONVERTING)
        predictor = Predictor(loaded, runtime, top_k=request.key.top_k, should_stop=should_stop)
        if should_stop():
            return
        yield ModelReady(loaded.name, predictor.runtime, predictor.top_k)
        if not should_stop():
            yield from predictor.predict_iter(plan.todo, should_stop)

    return job
