"""Adding images and classifying them: the window's jobs, as plain generators.

A job takes a ``should_stop`` callable and yields typed events; the window runs it in a
GeneratorWorker and matches on the events. Nothing here touches Qt, so the jobs are
tested without a window, and nothing here imports torch at import time: the window
appears before torch has loaded, and only a classify job's model loading pulls it in.

A classify run works through the results catalog: it computes only the images without a
valid result of the model (:meth:`Catalog.pending`), and records each batch in its own
connection before handing it on, so closing the window mid-run loses nothing computed.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeAlias

from resnet_desktop.app.identity import identity_for
from resnet_desktop.app.scan_report import ScanSummary
from resnet_desktop.app.unknown import scorer_for
from resnet_desktop.core.catalog import (
    STORED_TOP_K,
    Catalog,
    FileSignature,
    ModelIdentity,
    PendingFile,
    RunInfo,
    file_signature,
)
from resnet_desktop.core.device import ENGINE_TITLES, Hardware, OptionError
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.imaging import ScanTally, scan_images
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.predictor import BatchResult, Prediction, Predictor
from resnet_desktop.core.runtime import ResolvedRuntime, RuntimeOptions

ShouldStop = Callable[[], bool]
# The images to classify, read when the run starts (the window's list lives elsewhere).
PathSource = Callable[[ShouldStop], Sequence[Path]]

SCAN_CHUNK = 500  # rows per beginInsertRows/endInsertRows
SCAN_FLUSH_SECONDS = 0.25  # hand over a partial chunk this often, so rows appear early
PLAN_STOP_EVERY = 1000  # files checked between two should_stop checks
# ------------------------------------------------------------------------------ scanning


def scan_job(
    paths: Sequence[str | Path],
) -> Callable[[ShouldStop], Iterator[list[Path] | ScanSummary]]:
    """A job that yields the images among ``paths`` in chunks of at most SCAN_CHUNK,
    then (unless stopped) a :class:`ScanSummary` of what it found and skipped."""

    def job(should_stop: ShouldStop) -> Iterator[list[Path] | ScanSummary]:
        tally = ScanTally()
        found = 0
        files = scan_images(list(paths), should_stop, tally)
        for chunk in chunked(files, SCAN_CHUNK, SCAN_FLUSH_SECONDS, should_stop):
            found += len(chunk)
            yield chunk
        if not should_stop():
            yield ScanSummary(tuple(Path(path) for path in paths), found, tally)

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


class UnknownWeightsError(UserError):
    """The model's weights are not on disk, so its results could not be told apart."""


@dataclass(frozen=True)
class RunRequest:
    """What to classify, with which model and runtime, recorded in which catalog."""

    model: str
    top_k: int
    runtime: RuntimeOptions
    catalog: Path
    paths: PathSource
    redo: bool = False  # classify every image again, replacing its stored result


@dataclass(frozen=True)
class RunPlan:
    """The first event: the files that need classifying and their signatures now.

    When nothing needs classifying, it also says how the stored results were computed
    and how a run would compute them now: the runtime is not part of a model's identity,
    so a new precision or device alone recomputes nothing unless the user asks.
    """

    todo: list[Path]
    signatures: dict[Path, FileSignature | None]
    skipped: int  # files with a valid result, left alone
    stored_runs: frozenset[RunInfo] = frozenset()  # how the model's results were computed
    would_run: RunInfo | None = None  # how the current choices compute (None: unknown)

    @property
    def runtime_changed(self) -> bool:
        """Nothing to do, but the current choices differ from every stored result's."""
        return (
            not self.todo
            and self.would_run is not None
            and bool(self.stored_runs)
            and self.would_run not in self.stored_runs
        )

    def up_to_date_text(self) -> str:
        """Why nothing runs, one line for the status bar."""
        return (
            f"All {self.skipped} images are up to date for this model; "
            "Classify Again (Ctrl+Shift+R) computes them anew"
        )

    def runtime_change_text(self) -> str:
        """Why a change of runtime computed nothing, for the question that offers a redo."""
        before = ", ".join(sorted(describe_run(run) for run in self.stored_runs))
        now = describe_run(self.would_run) if self.would_run else "unknown"
        return (
            f"All {self.skipped} images are up to date for this model: they were computed as "
            f"{before}, and your settings now run as {now}. Device, precision and engine "
            "change the speed (and the scores only slightly), so results are not computed "
            "again unless you ask."
        )


def describe_run(run: RunInfo) -> str:
    """``cpu (fp32, PyTorch)``: how a result was computed, in the status bar's words."""
    return f"{run.device} ({run.precision}, {ENGINE_TITLES.get(run.engine, run.engine)})"


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
    """The model is loaded and known to the catalog: how the run will go."""

    model: str
    runtime: ResolvedRuntime  # the engine after any fallback
    top_k: int
    notice: str = ""  # one line the user should see (the model cannot say "unknown")


# Every BatchResult a run yields is already in the catalog, cut to the top-k asked.
ClassifyEvent: TypeAlias = RunPlan | Preparing | ModelReady | BatchResult


def plan_run(
    catalog: Catalog,
    model: int | None,
    paths: Sequence[Path],
    top_k: int,
    should_stop: ShouldStop,
    redo: bool = False,
) -> RunPlan:
    """Which files need work: no result of ``model`` (None: it has none at all) with
    ``top_k`` classes, or a file changed since; every file with ``redo``. Errors of
    unchanged files are final."""
    if model is None:
        pending: Iterable[PendingFile] = (PendingFile(p, file_signature(p)) for p in paths)
    else:
        pending = catalog.pending(paths, model, top_k=top_k, redo=redo)
    todo: list[Path] = []
    signatures: dict[Path, FileSignature | None] = {}
    for number, item in enumerate(pending):
        if number % PLAN_STOP_EVERY == 0 and should_stop():
            break
        todo.append(item.path)
        signatures[item.path] = item.signature
    return RunPlan(todo, signatures, skipped=len(paths) - len(todo))


def cut(prediction: Prediction, top_k: int) -> Prediction:
    """The prediction with its ``top_k`` best classes only."""
    if len(prediction.labels) <= top_k:
        return prediction
    return dataclasses.replace(
        prediction,
        labels=prediction.labels[:top_k],
        probs=prediction.probs[:top_k],
        indices=prediction.indices[:top_k],
    )


def classify_job(request: RunRequest) -> Callable[[ShouldStop], Iterator[ClassifyEvent]]:
    """A job yielding a RunPlan, then (if there is work) set-up stages, ModelReady and
    the batches, each recorded in the catalog before it is yielded."""

    def job(should_stop: ShouldStop) -> Iterator[ClassifyEvent]:
        paths = request.paths(should_stop)
        identity = identity_for(request.model)
        if identity is None:
            raise UnknownWeightsError(
                f"the weights of {request.model} are not on disk: download or import them first"
            )
        with Catalog.open(request.catalog) as catalog:
            known = catalog.find_model(identity)
            plan = plan_run(catalog, known, paths, request.top_k, should_stop, request.redo)
            if known is not None and not plan.todo and not should_stop():
                plan = dataclasses.replace(
                    plan,
                    stored_runs=frozenset(catalog.runs(known)),
                    would_run=_would_run(request, identity),
                )
            yield plan
            if plan.todo and not should_stop():
                yield from _classify(request, catalog, identity, plan, should_stop)

    return job


def _would_run(request: RunRequest, identity: ModelIdentity) -> RunInfo | None:
    """How a run of ``request`` would compute now (before any fallback); None if it cannot."""
    try:
        runtime = request.runtime.decide(Hardware.probe(), identity.preprocess)
    except OptionError:
        return None
    return RunInfo(runtime.device, runtime.precision, runtime.engine)


def _classify(
    request: RunRequest,
    catalog: Catalog,
    identity: ModelIdentity,
    plan: RunPlan,
    should_stop: ShouldStop,
) -> Iterator[ClassifyEvent]:
    """Load the model, then classify ``plan.todo``, recording each batch as it comes."""
    yield Preparing(Stage.LOADING_MODEL)
    loaded = load_model(request.model, should_stop=should_stop)
    runtime = request.runtime.resolve(loaded.preprocess)
    if runtime.engine == "openvino":
        yield Preparing(Stage.CONVERTING)
    stored = max(request.top_k, STORED_TOP_K)  # a smaller k later never recomputes
    notices: list[str] = []  # a broken "unknown" setup: the run goes on without it
    ood = scorer_for(request.model, notices.append)
    predictor = Predictor(loaded, runtime, top_k=stored, should_stop=should_stop, ood=ood)
    if should_stop():
        return
    model = catalog.model_id(identity)
    top_k = min(request.top_k, predictor.top_k)
    yield ModelReady(loaded.name, predictor.runtime, top_k, " ".join(notices))
    resolved = predictor.runtime
    run = RunInfo(resolved.device, resolved.precision, resolved.engine)
    for batch in predictor.predict_iter(plan.todo, should_stop):
        catalog.record_batch(model, batch.predictions, run, plan.signatures)
        shown = [cut(p, request.top_k) for p in batch.predictions]
        yield dataclasses.replace(batch, predictions=shown)
