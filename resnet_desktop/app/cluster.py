"""Classifying a listing on a Ray cluster: the same files, model, errors and catalog.

``predict --cluster`` lists the files and asks the catalog which need classifying as a
local run does (:mod:`resnet_desktop.app.catalog_run`); only the classifying moves to a
Ray Data pipeline (:mod:`resnet_desktop.app.cluster_workers` holds what it runs,
:mod:`resnet_desktop.app.cluster_results` where its results go):

1. the pending files, in blocks of one network batch, with their catalog signatures;
2. ``map_batches(decode_files)``: CPU tasks that read each file through pyarrow's
   filesystems and decode it in the local run's per-file error boundary;
3. ``map_batches(ModelActor)``: the app's ``Predictor`` in actors, one per GPU where the
   cluster has GPUs, else one per node on most of its cores; the model travels as the
   library's safetensors + JSON and each actor resolves device, precision and engine
   for its own hardware, and scores each image for "unknown" when the model has a setup
   for it (its training features travel as the library's file too);
4. the driver takes each finished batch, reports progress, and every few thousand rows
   (or 10 s) writes them as a Parquet shard with the CSV's columns (and ``ood_score``)
   and records them in the catalog (the local run's record path). A job killed at any
   point is resumed by running it again: the catalog says which files still have no
   result.

The rows then come out of the store in listing order, as from a local run, so the CSV is
the same. Ray is imported only here, and only when a cluster run starts; actors are
restarted and their batches retried when a worker dies, so a killed worker costs a
batch's time, never a result.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_desktop.app.catalog_run import (
    WINDOW,
    ModelReady,
    PathSpool,
    Progress,
    ResultStore,
    Rows,
    RunEvent,
    ood_scorer_for,
    scan_listing,
)
from resnet_desktop.app.cluster_results import (
    Recorder,
    ShardWriter,
    batch_notices,
    batch_predictions,
    batch_runtime,
    batch_signatures,
)
from resnet_desktop.app.cluster_workers import (
    NO_SIGNATURE,
    Batch,
    ModelActor,
    ModelPackage,
    decode_files,
)
from resnet_desktop.core.catalog import STORED_TOP_K, FileSignature
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.runtime import RuntimeOptions, default_batch_size
from resnet_desktop.core.safe_read import MIB
from resnet_desktop.core.zoo import Preprocess

if TYPE_CHECKING:
    from resnet_desktop.app.model_identity import IdentifiedModel

ShouldStop = Callable[[], bool]

LOCAL = "local"  # --cluster without an address: a Ray instance on this machine
INSTALL_HINT = "--cluster needs Ray: pip install 'resnet-desktop[cluster]'"
LIST_SUFFIX = ".txt"  # a PATH ending so lists files, one path or file:// URI a line
MAX_LIST_LINE = 4096  # bytes: longer lines are not paths
DECODE_SHARE = 8  # a CPU node keeps 1/DECODE_SHARE of its cores (at least 1) to decode
DECODE_TASK_BYTES = 512 * MIB  # a decoding worker: Python, torch (resizing) and a file


# ------------------------------------------------------------------------------ input


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot name a Ray cluster, or None when it can."""
    host, _, port = address.rpartition(":")
    if address in (LOCAL, "auto") or address.startswith("ray://") or (host and port.isdigit()):
        return None
    return (
        f"{address!r} is not a Ray address: give auto, ray://HOST:PORT or HOST:PORT, or put "
        "--cluster after the paths for a local Ray instance"
    )


def cluster_listing(paths: Iterable[str]) -> PathSpool:
    """The images among ``paths``, as :func:`scan_listing` finds them, lists expanded.

    A ``.txt`` PATH lists files or folders, one a line (local paths, relative ones to the
    list's folder, or ``file://`` URIs); blank lines and ``#`` comments are skipped.
    """
    return scan_listing(_expanded(paths))


def _expanded(paths: Iterable[str]) -> Iterator[str]:
    for path in paths:
        if path.lower().endswith(LIST_SUFFIX) and os.path.isfile(path):
            yield from _listed(Path(path))
        else:
            yield path


def _listed(list_file: Path) -> Iterator[str]:
    try:
        with open(list_file, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                line = _list_line(raw, list_file, number)
                if line:
                    yield os.path.join(list_file.parent, line)
    except OSError as error:
        raise UserError(f"cannot read the list {list_file}: {error.strerror or error}") from None


def _list_line(raw: bytes, list_file: Path, number: int) -> str:
    """A line of a list file as a local path ('' for none), or a UserError saying why not."""
    where = f"{list_file}, line {number}"
    if len(raw) > MAX_LIST_LINE:
        raise UserError(f"{where}: longer than {MAX_LIST_LINE} bytes, not a path")
    line = os.fsdecode(raw.rstrip(b"\r\n")).strip()
    if not line or line.startswith("#"):
        return ""
    if line.startswith("file://"):
        return line.removeprefix("file://")
    if "://" in line:
        raise UserError(
            f"{where}: {line.split('://')[0]}:// is not classified yet; the catalog records "
            "local files (copy or mount them, or list local paths)"
        )
    return line


# ------------------------------------------------------------------------------ the plan


@dataclass(frozen=True)
class Plan:
    """How many model actors, with what each, and the images per network batch."""

    actors: int
    cpus: int  # per actor
    gpus: int  # per actor
    batch_size: int

    def describe(self, nodes: int) -> str:
        each = f"{self.gpus} GPU" if self.gpus else f"{self.cpus} CPU{'s' * (self.cpus != 1)}"
        return (
            f"Ray cluster of {nodes} node{'s' * (nodes != 1)}: {self.actors} model "
            f"actor{'s' * (self.actors != 1)} ({each} each), decoding in CPU tasks"
        )


def plan(nodes: list[dict[str, float]], options: RuntimeOptions, preprocess: Preprocess) -> Plan:
    """One actor per GPU; without GPUs one per node, leaving an eighth of its cores to decode.

    On a CPU the network costs far more than decoding (ResNet-50: about 40 ms of a core
    per photo against 2 ms to decode it, see docs/scaling.md), so it gets most cores;
    at least one is left for decoding.
    """
    cores = [int(node.get("CPU", 0)) for node in nodes if node.get("CPU", 0) >= 1]
    gpus = 0 if options.device == "cpu" else sum(int(node.get("GPU", 0)) for node in nodes)
    if gpus:
        batch = options.batch_size or default_batch_size("cuda", preprocess)
        work = Plan(actors=gpus, cpus=1, gpus=1, batch_size=batch)
    elif cores:
        batch = options.batch_size or default_batch_size("cpu", preprocess)
        smallest = min(cores)
        model_cores = max(1, smallest - max(1, smallest // DECODE_SHARE))
        work = Plan(actors=len(cores), cpus=model_cores, gpus=0, batch_size=batch)
    else:
        raise UserError("the Ray cluster has no CPUs or GPUs to run the model on")
    if sum(cores) <= work.actors * work.cpus:  # the model's actors would starve decoding
        raise UserError(
            f"the Ray cluster has {sum(cores)} CPU{'s' * (sum(cores) != 1)}: it needs one "
            "more than its model actors take, to decode the images"
        )
    return work


# ------------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class ClusterJob:
    address: str  # LOCAL, auto, ray://HOST:PORT or HOST:PORT
    shards: Path


def classify_on_cluster(
    listing: Iterable[Path],
    store: ResultStore,
    model: IdentifiedModel,
    options: RuntimeOptions,
    top_k: int,
    job: ClusterJob,
    should_stop: ShouldStop,
    notify: Callable[[str], None],
) -> Iterator[RunEvent]:
    """Classify what ``store`` lacks of ``listing`` on Ray; yield its rows in listing order.

    The same events as :func:`~resnet_desktop.app.catalog_run.classify_listing`: progress
    after each batch, then the rows of the whole listing from the store.
    """
    ray = _import_ray()
    todo, stored = _pending(listing, store, should_stop)
    yield Progress(stored, 0, 0, 0.0)
    stopped = should_stop()
    if todo is not None and not stopped:
        ood = ood_scorer_for(model, notify)  # the user's files, checked as a local run does
        loaded = model.load(should_stop)
        with _connected(ray, job.address):
            nodes = _alive_nodes(ray)
            work = plan(nodes, options, loaded.preprocess)
            notify(work.describe(len(nodes)))
            computed = max(top_k, STORED_TOP_K)  # as predictor_for: later runs may show 5
            shards = ShardWriter(job.shards, computed)
            notify(f"Parquet shards in {job.shards}")
            blocks = _blocks(todo, work.batch_size)
            package = ModelPackage.of(loaded, ood)
            pipeline = _pipeline(ray, blocks, package, options, computed, work)
            with contextlib.closing(pipeline) as batches:  # ended before Ray is shut down
                recorder = Recorder(store, shards)
                stopped = yield from _collect(batches, recorder, loaded.class_names, stored,
                                              options, should_stop, notify)  # fmt: skip
    for window in _windows(listing):
        yield Rows(store.rows(window, verify=stopped))


def _pending(
    listing: Iterable[Path], store: ResultStore, should_stop: ShouldStop
) -> tuple[Any, int]:
    """The files needing a result, as one Arrow table; and how many have one already."""
    import pyarrow as pa

    tables, total = [], 0
    for window in _windows(listing):
        if should_stop():
            break
        total += len(window)
        todo = store.pending(window)
        if todo:
            tables.append(pa.table({
                "path": [os.fspath(file.path) for file in todo],
                "size": [_field(file.signature, 0) for file in todo],
                "mtime_ns": [_field(file.signature, 1) for file in todo],
                "ctime_ns": [_field(file.signature, 2) for file in todo],
            }))  # fmt: skip
    if not tables:
        return None, total
    table = pa.concat_tables(tables)
    return table, total - len(table)


def _blocks(table: Any, size: int) -> list[Any]:
    """Blocks of one network batch each, in listing order: a local run's batches."""
    return [table.slice(start, size) for start in range(0, len(table), size)]


def _windows(listing: Iterable[Path]) -> Iterator[list[Path]]:
    paths = iter(listing)
    while window := list(itertools.islice(paths, WINDOW)):
        yield window


def _field(signature: FileSignature | None, index: int) -> int:
    return NO_SIGNATURE if signature is None else signature[index]


def _pipeline(
    ray: Any, blocks: list[Any], package: ModelPackage, options: RuntimeOptions, top_k: int,
    work: Plan,
) -> Iterator[Batch]:  # fmt: skip
    """Ray Data's streaming pipeline: read + decode tasks, then the model actors.

    The package goes into the object store once; the actors get a small function that
    fetches it, so a restarted actor needs nothing but that reference, which this
    generator holds until the job ends.
    """
    preprocess = package.preprocess
    fetch = functools.partial(ray.get, ray.put(package))
    dataset = ray.data.from_arrow(blocks)
    decoded = dataset.map_batches(
        decode_files,
        fn_kwargs={"preprocess": preprocess},
        batch_size=None,  # one block, one task
        batch_format="numpy",
        num_cpus=1,
        # What a task holds: its process (measured: 450 MiB), a file, the batch it makes.
        # Also keeps Ray from fusing decoding into the actors (other resources).
        memory=DECODE_TASK_BYTES + work.batch_size * preprocess.crop**2 * 3 * 2,
    )
    classified = decoded.map_batches(
        ModelActor,
        fn_constructor_kwargs={"fetch": fetch, "options": options, "top_k": top_k},
        batch_size=work.batch_size,
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=work.actors),
        num_cpus=work.cpus,
        num_gpus=work.gpus,
    )
    yield from classified.iter_batches(batch_size=None, batch_format="numpy")


def _collect(
    batches: Iterator[Batch],
    recorder: Recorder,
    class_names: list[str],
    stored: int,
    options: RuntimeOptions,
    should_stop: ShouldStop,
    notify: Callable[[str], None],
) -> Iterator[RunEvent]:
    """Keep and report each finished batch; returns whether it was stopped.

    Each worker's notices are told once, however many workers (or restarts) say them.
    """
    started = time.perf_counter()
    classified = errors = 0
    told: set[str] = set()
    try:
        for batch in batches:
            if batch["problem"][0]:
                raise UserError(f"a Ray worker cannot run the model: {batch['problem'][0]}")
            for notice in batch_notices(batch):
                if notice not in told:
                    told.add(notice)
                    notify(notice)
            predictions = batch_predictions(batch, class_names)
            runtime = batch_runtime(batch, options)
            if not classified:
                yield ModelReady(runtime)
            recorder.add(predictions, batch_signatures(batch), runtime)
            classified += len(predictions)
            errors += sum(not prediction.ok for prediction in predictions)
            yield Progress(stored + classified, classified, errors, time.perf_counter() - started)
            if should_stop():
                return True
        return False
    finally:
        recorder.flush()  # what was computed is kept, whatever ended the loop


# ------------------------------------------------------------------------------ Ray


def _import_ray() -> Any:
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return ray


@contextlib.contextmanager
def _connected(ray: Any, address: str) -> Iterator[None]:
    """Ray started (local) or joined (an address), quiet; left as found afterwards."""
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(
                address=None if address == LOCAL else address,
                include_dashboard=False,
                logging_level=logging.ERROR,
                log_to_driver=False,
            )
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise UserError(f"cannot start or reach Ray at {address}: {error}") from None
    with warnings.catch_warnings():  # Ray's default context sets its own deprecated fields
        warnings.simplefilter("ignore", DeprecationWarning)
        context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # its notes are not the user's
    try:
        yield
    finally:
        if started:
            ray.shutdown()


def _alive_nodes(ray: Any) -> list[dict[str, float]]:
    return [node["Resources"] for node in ray.nodes() if node.get("Alive")]
