"""Classifying a listing of images into the results catalog, in bounded memory.

A run walks the listing in windows of :data:`WINDOW` paths. For each window it asks the
store which files have no valid result, classifies those, records every batch the
moment it is done (the catalog commits it), and hands back the window's rows in listing
order, read from the store: stored results and new ones alike. So a killed run loses at
most the batch in flight, the next run computes only what is missing, a run over an
unchanged folder only checks signatures, and nothing ever holds more than a window.

The listing itself lives in a temporary file (:class:`PathSpool`), not in a list: a
million ``Path`` objects take about 150 MB, their bytes on disk a few dozen, read back
as they are needed. The scan is not repeated for the output because files may come or
go meanwhile; the rows are for exactly the paths the run listed.

Runs that must not be recorded (``--no-catalog``, random weights) go through the same
loop with a :class:`MemoryStore` that forgets each window once its rows are out.
Nothing here imports torch or Qt: the model loads only when a window has work.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, TypeAlias

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
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.predictor import Prediction, Predictor

if TYPE_CHECKING:
    from resnet_desktop.app.model_identity import IdentifiedModel
    from resnet_desktop.core.ood import OodScorer
    from resnet_desktop.core.runtime import ResolvedRuntime, RuntimeOptions

ShouldStop = Callable[[], bool]

WINDOW = 8192  # paths per window: rows come out at least this often, in listing order
SPOOL_BLOCK = 1 << 20  # bytes read from the spool at a time


# ------------------------------------------------------------------------------ the listing


class PathSpool:
    """Paths in the order added, kept in an unlinked temporary file instead of memory.

    Each path is stored as its ``os.fsencode`` bytes and a NUL, which no file name holds.
    Iterating reads the file from the start each time, so the spool can be read again.
    """

    def __init__(self) -> None:
        # Unlinked at once: nothing is left behind, even by a killed run. Closed by close().
        self._file = tempfile.TemporaryFile(prefix="resnet-desktop-listing-")  # noqa: SIM115
        self._count = 0

    def append(self, path: str | os.PathLike[str]) -> None:
        self._file.write(os.fsencode(path) + b"\0")
        self._count += 1

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Path]:
        self._file.flush()
        offset, rest = 0, b""
        while True:
            self._file.seek(offset)  # another iterator may have moved the file position
            block = self._file.read(SPOOL_BLOCK)
            if not block:
                return
            offset += len(block)
            *items, rest = (rest + block).split(b"\0")
            for item in items:
                yield Path(os.fsdecode(item))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PathSpool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def scan_listing(
    paths: Iterable[str | os.PathLike[str]], should_stop: ShouldStop | None = None
) -> PathSpool:
    """The images among ``paths`` (see :func:`scan_images`), spooled in scan order."""
    spool = PathSpool()
    try:
        for path in scan_images(paths, should_stop):
            spool.append(path)
    except BaseException:
        spool.close()
        raise
    return spool


# ------------------------------------------------------------------------------ stores


class ResultStore(Protocol):
    """Where a run's results go and its rows come from."""

    def pending(self, paths: list[Path]) -> list[PendingFile]:
        """The files among ``paths``, in order, that need classifying."""

    def record(
        self,
        predictions: list[Prediction],
        signatures: Mapping[Path, FileSignature | None],
        runtime: ResolvedRuntime,
    ) -> None:
        """Keep a batch of results (the catalog commits it)."""

    def rows(self, paths: list[Path], verify: bool) -> list[Prediction]:
        """The results known for ``paths``, in order, cut to the run's top-k.

        ``verify``: check each file's signature now; needless for files that
        :meth:`pending` has just looked at.
        """


class CatalogStore:
    """Results of one model in the catalog; the model is registered with its first result.

    Args:
        top_k: how many classes the rows show; files stored with fewer are pending.
        redo: every file is pending, whatever is stored.
    """

    def __init__(
        self, catalog: Catalog, identity: ModelIdentity, top_k: int, *, redo: bool = False
    ) -> None:
        self.catalog = catalog
        self.identity = identity
        self.top_k = top_k
        self.redo = redo
        self._model = catalog.find_model(identity)

    def pending(self, paths: list[Path]) -> list[PendingFile]:
        if self._model is None:
            return [PendingFile(path, file_signature(path)) for path in paths]
        found = self.catalog.pending(paths, self._model, top_k=self.top_k, redo=self.redo)
        return list(found)

    def record(
        self,
        predictions: list[Prediction],
        signatures: Mapping[Path, FileSignature | None],
        runtime: ResolvedRuntime,
    ) -> None:
        if self._model is None:
            self._model = self.catalog.model_id(self.identity)
        run = RunInfo(runtime.device, runtime.precision, runtime.engine)
        self.catalog.record_batch(self._model, predictions, run, signatures)

    def rows(self, paths: list[Path], verify: bool) -> list[Prediction]:
        if self._model is None:
            return []
        found = self.catalog.results_for(paths, self._model, self.top_k, verify=verify)
        return [prediction for _, prediction in found if prediction is not None]


class MemoryStore:
    """A run recorded nowhere: every file is pending and each row is handed out once."""

    def __init__(self, top_k: int) -> None:
        self.top_k = top_k
        self._window: dict[Path, Prediction] = {}

    def pending(self, paths: list[Path]) -> list[PendingFile]:
        return [PendingFile(path, None) for path in paths]

    def record(
        self,
        predictions: list[Prediction],
        signatures: Mapping[Path, FileSignature | None],
        runtime: ResolvedRuntime,
    ) -> None:
        self._window.update((prediction.path, prediction) for prediction in predictions)

    def rows(self, paths: list[Path], verify: bool) -> list[Prediction]:
        found = (self._window.pop(path, None) for path in paths)
        return [cut(prediction, self.top_k) for prediction in found if prediction is not None]


def cut(prediction: Prediction, top_k: int) -> Prediction:
    """``prediction`` with its first ``top_k`` classes only."""
    if len(prediction.indices) <= top_k:
        return prediction
    return Prediction(
        prediction.path,
        prediction.labels[:top_k],
        prediction.probs[:top_k],
        prediction.indices[:top_k],
        prediction.error,
    )


def predictor_for(
    model: IdentifiedModel,
    options: RuntimeOptions,
    top_k: int,
    *,
    notify: Callable[[str], None] | None = None,
    should_stop: ShouldStop | None = None,
) -> Predictor:
    """The model's network ready to run, computing at least the top STORED_TOP_K classes.

    A run that shows fewer classes still stores that many, so a later run with a larger
    k up to STORED_TOP_K finds them. A library model used with its own weights and
    classes scores each image for "unknown" too, when it has a setup for it.
    """
    ood = ood_scorer_for(model, notify)
    loaded = model.load(should_stop)
    runtime = options.resolve(loaded.preprocess)
    return Predictor(
        loaded,
        runtime,
        top_k=max(top_k, STORED_TOP_K),
        notify=notify,
        should_stop=should_stop,
        ood=ood,
    )


def ood_scorer_for(
    model: IdentifiedModel, notify: Callable[[str], None] | None = None
) -> OodScorer | None:
    """What scores the model's images for "unknown": a library model's own setup, used
    with its own weights and classes (other ones would not fit its training features)."""
    own = model.args.weights is None and model.args.classes is None
    return scorer_for(model.args.name, notify) if own else None


# ------------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class ModelReady:
    """The network is loaded (the first window with work): how it runs."""

    runtime: ResolvedRuntime


@dataclass(frozen=True)
class Rows:
    """The next results in listing order; files without one are left out."""

    predictions: list[Prediction]


@dataclass(frozen=True)
class Progress:
    """After each batch and each window."""

    done: int  # listing entries settled: classified, found stored, or passed by a stop
    classified: int  # files classified by this run, errors included
    errors: int  # of those, the files that could not be classified
    seconds: float  # since the network was ready

    @property
    def images_per_second(self) -> float:
        return self.classified / self.seconds if self.seconds > 0 else 0.0


RunEvent: TypeAlias = ModelReady | Rows | Progress


def classify_listing(
    listing: Iterable[Path],
    store: ResultStore,
    start: Callable[[], Predictor],
    should_stop: ShouldStop,
) -> Iterator[RunEvent]:
    """Classify what ``store`` lacks of ``listing``; yield its rows in listing order.

    ``start`` builds the predictor, once, for the first window with work. After a stop
    (checked between batches) the rows still come for the whole listing: those stored
    before, and none of the rest.
    """
    run = _Run(store, start, should_stop)
    paths = iter(listing)
    for window in _windows(paths):
        yield from run.window(window)
        if run.stopped:
            break
    for window in _windows(paths):  # what a stop left: only the rows stored before
        yield Rows(store.rows(window, verify=True))
        yield run.settled(len(window))


class _Run:
    """The state of one run across its windows."""

    def __init__(
        self, store: ResultStore, start: Callable[[], Predictor], should_stop: ShouldStop
    ) -> None:
        self.store = store
        self.start = start
        self.should_stop = should_stop
        self.predictor: Predictor | None = None
        self.started = 0.0
        self.done = 0
        self.classified = 0
        self.errors = 0
        self.stopped = False

    def window(self, window: list[Path]) -> Iterator[RunEvent]:
        self.stopped = self.stopped or self.should_stop()
        todo = [] if self.stopped else self.store.pending(window)
        if not todo:
            yield Rows(self.store.rows(window, verify=self.stopped))
            yield self.settled(len(window))
            return
        if self.predictor is None:
            self.predictor = self.start()
            self.started = time.perf_counter()
            yield ModelReady(self.predictor.runtime)
        yield from self._classify(window, todo, self.predictor)

    def _classify(
        self, window: list[Path], todo: list[PendingFile], predictor: Predictor
    ) -> Iterator[RunEvent]:
        """Classify ``todo``; after each batch, the rows of the window up to the next one."""
        position = {path: index for index, path in enumerate(window)}
        ends = [position[file.path] for file in todo] + [len(window)]
        signatures = dict(todo)
        emitted = finished = 0
        for batch in predictor.predict_iter([file.path for file in todo], self.should_stop):
            self.store.record(batch.predictions, signatures, predictor.runtime)
            finished += len(batch.predictions)
            self.classified += len(batch.predictions)
            self.errors += sum(not prediction.ok for prediction in batch.predictions)
            yield Rows(self.store.rows(window[emitted : ends[finished]], verify=False))
            yield self.settled(ends[finished] - emitted)
            emitted = ends[finished]
        if emitted < len(window):  # stopped: the files not reached may have changed
            self.stopped = True
            yield Rows(self.store.rows(window[emitted:], verify=True))
            yield self.settled(len(window) - emitted)

    def settled(self, count: int) -> Progress:
        self.done += count
        seconds = time.perf_counter() - self.started if self.predictor is not None else 0.0
        return Progress(self.done, self.classified, self.errors, seconds)


def _windows(paths: Iterator[Path]) -> Iterator[list[Path]]:
    while window := list(itertools.islice(paths, WINDOW)):
        yield window


def all_rows(
    catalog: Catalog, identity: ModelIdentity, listing: Iterable[Path], top_k: int
) -> Iterator[tuple[Path, Prediction | None]]:
    """Each listed file with its stored, current result of ``identity`` (None if none)."""
    model = catalog.find_model(identity)
    if model is None:
        return ((Path(path), None) for path in listing)
    return catalog.results_for(listing, model, top_k, verify=True)


__all__ = [
    "WINDOW",
    "CatalogStore",
    "MemoryStore",
    "ModelReady",
    "PathSpool",
    "Progress",
    "ResultStore",
    "Rows",
    "RunEvent",
    "all_rows",
    "classify_listing",
    "cut",
    "ood_scorer_for",
    "predictor_for",
    "scan_listing",
]
