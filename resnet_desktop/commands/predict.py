"""``resnet-desktop predict``: classify images and folders, print or export the top-k.

Results are recorded in the results catalog batch by batch, and images whose stored
result still holds (same file, same model and weights) are not classified again: a run
killed at any moment is finished by running the same command again, and a run over an
unchanged folder only checks the files. Rows, stored and new, stream to the terminal or
the CSV in scan order (see :mod:`resnet_desktop.app.catalog_run`).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.app.catalog_run import (
    CatalogStore,
    MemoryStore,
    ModelReady,
    Progress,
    ResultStore,
    Rows,
    RunEvent,
    classify_listing,
    predictor_for,
    scan_listing,
)
from resnet_desktop.app.cluster import (
    LOCAL,
    ClusterJob,
    address_problem,
    classify_on_cluster,
    cluster_listing,
)
from resnet_desktop.app.cluster_results import default_shards_folder
from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.model_identity import IdentifiedModel, ModelArgs, identify_model
from resnet_desktop.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_model_args,
    add_runtime_args,
    ctrl_c_stops,
    notify,
    positive_int,
    reports_errors,
    runtime_options,
)
from resnet_desktop.commands.progress import ProgressBar
from resnet_desktop.commands.results_io import (
    add_catalog_arg,
    add_csv_args,
    add_threshold_arg,
    check_csv_target,
    decider_of,
    output_rows,
    shown_path,
)
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.predictor import Prediction

if TYPE_CHECKING:
    from resnet_desktop.core.predictor import Predictor

EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images and folders",
        description="Classify images (folders are searched recursively). Results are "
        "recorded in the results catalog, and images whose stored result still holds are "
        "not classified again: run the same command again to finish an interrupted run. "
        "Exit status: 0 all classified, 3 some files failed, 1 could not run, 2 bad "
        "arguments, 130 interrupted (Ctrl+C stops after the batch in flight; the output "
        "then holds every image with a result).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    add_model_args(parser)
    parser.add_argument("--classes", help="class names: .txt (one per line) or .json")
    parser.add_argument("--top-k", type=positive_int, default=5)
    add_runtime_args(parser)
    add_csv_args(parser)
    add_threshold_arg(parser)
    where = parser.add_mutually_exclusive_group()
    add_catalog_arg(where)
    where.add_argument(
        "--no-catalog",
        action="store_true",
        help="record nothing and use nothing stored: classify every image",
    )
    parser.add_argument(
        "--redo", action="store_true", help="classify every image again, replacing stored results"
    )
    parser.add_argument(
        "--cluster",
        nargs="?",
        const=LOCAL,
        type=_cluster_address,
        metavar="ADDRESS",
        help="classify on a Ray cluster (needs resnet-desktop[cluster]): auto, "
        "ray://HOST:PORT or HOST:PORT; without ADDRESS (put it after the paths) a local Ray "
        "instance. A PATH ending in .txt then lists files or folders, one a line",
    )
    parser.add_argument(
        "--shards", metavar="DIR", type=Path, help="with --cluster: the folder of Parquet "
        "results, a file every 8,192 rows or 10 s (default: in the data folder, per model)"
    )  # fmt: skip
    parser.set_defaults(func=run)


def _cluster_address(text: str) -> str:
    problem = address_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


@reports_errors
def run(args: argparse.Namespace) -> int:
    if args.shards and not args.cluster:
        raise UserError(
            "--shards goes with --cluster (a local run keeps its results in the catalog)"
        )
    with contextlib.ExitStack() as stack:
        scan = cluster_listing if args.cluster else scan_listing
        listing = stack.enter_context(scan(args.paths))
        if not len(listing):
            raise UserError("no images found in " + ", ".join(args.paths))
        if args.csv and not args.force:
            check_csv_target(args.csv, listing)
        model = identify_model(ModelArgs(args.model, args.weights, args.classes))
        decider = decider_of(model.args, args.threshold)
        top_k = min(args.top_k, len(model.class_names()))
        store = _store(args, model, top_k, stack)
        should_stop = stack.enter_context(ctrl_c_stops("batch"))

        def start() -> Predictor:
            return predictor_for(
                model, runtime_options(args), top_k, notify=notify, should_stop=should_stop
            )

        tally = _Tally(len(listing))
        if args.cluster:
            job = ClusterJob(args.cluster, args.shards or default_shards_folder(model))
            options = runtime_options(args)
            events = classify_on_cluster(
                listing, store, model, options, top_k, job, should_stop, notify
            )
        else:
            events = classify_listing(listing, store, start, should_stop)
        output_rows(tally.rows(events, args.model), args.csv, top_k, decider=decider)
        print(tally.summary(args.csv), file=sys.stderr)
        if should_stop() and tally.missing:
            print(f"interrupted: {tally.missing} images not classified", file=sys.stderr)
            return EXIT_INTERRUPTED
        return EXIT_PARTIAL if tally.failed else EXIT_OK


def _store(
    args: argparse.Namespace, model: IdentifiedModel, top_k: int, stack: contextlib.ExitStack
) -> ResultStore:
    """The catalog to record into, or memory when the run must not be recorded."""
    if args.no_catalog or model.identity is None:
        why = "--no-catalog" if args.no_catalog else "--weights random"
        print(f"results are not recorded in the catalog ({why})", file=sys.stderr)
        return MemoryStore(top_k)
    catalog = stack.enter_context(Catalog.open(args.catalog))
    print(f"recording results in {shown_path(catalog.path)}", file=sys.stderr)
    return CatalogStore(catalog, model.identity, top_k, redo=args.redo)


@dataclass
class _Tally:
    """What a run's events add up to, for the progress bar and the summary."""

    total: int
    found: int = 0  # rows out: stored before, or classified now
    failed: int = 0
    last: Progress | None = None

    def rows(self, events: Iterable[RunEvent], model: str) -> Iterator[Prediction]:
        bar = ProgressBar(self.total)
        try:
            for event in events:
                match event:
                    case ModelReady(runtime):
                        print(f"{self.total} images, {model} on {runtime.describe()}",
                              file=sys.stderr)  # fmt: skip
                    case Rows(predictions):
                        self.found += len(predictions)
                        self.failed += sum(not p.ok for p in predictions)
                        yield from predictions
                    case Progress():
                        self.last = event
                        bar.update(event.done, event.images_per_second, _eta(event, self.total))
                    case _:
                        raise TypeError(f"unknown run event {event!r}")
        finally:
            bar.close()

    @property
    def missing(self) -> int:
        return self.total - self.found

    def summary(self, csv_path: str | None) -> str:
        """``classified 20 of 30 images in 2 s (10.0 images/s); 10 already in the catalog``."""
        progress = self.last or Progress(0, 0, 0, 0.0)
        stored = self.found - progress.classified
        parts = []
        if progress.classified or not stored:
            parts.append(
                f"classified {progress.classified - progress.errors} of {self.total} images "
                f"in {format_duration(progress.seconds)} "
                f"({progress.images_per_second:.1f} images/s)"
            )
        of_total = "" if progress.classified else f" of {self.total}"
        if stored:
            parts.append(f"{stored}{of_total} already in the catalog")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if csv_path:
            parts.append(f"results in {shown_path(csv_path)}")
        return "; ".join(parts)


def _eta(progress: Progress, total: int) -> float | None:
    rate = progress.images_per_second
    return (total - progress.done) / rate if rate > 0 else None
