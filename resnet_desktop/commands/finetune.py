"""``resnet-desktop finetune``: train a zoo or library model on a folder-per-class dataset."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from resnet_desktop.app.catalog_run import Progress
from resnet_desktop.app.corrections import Corrections, find_corrections, old_results, rerun
from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.weights import describe_base_weights
from resnet_desktop.commands.common import (
    EXIT_ERROR,
    EXIT_OK,
    add_model_args,
    add_runtime_args,
    class_table,
    ctrl_c_stops,
    notify,
    positive_int,
    reports_errors,
    runtime_options,
)
from resnet_desktop.commands.progress import ProgressBar
from resnet_desktop.core.dataset import ScanStage, last_scan, scan_dataset, split_dataset
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.events import unknown_event
from resnet_desktop.core.library import LibraryError, LibraryModel, ModelLibrary, keep_elsewhere
from resnet_desktop.core.model_loader import LoadedModel, load_model
from resnet_desktop.core.ood import DEFAULT_ACCEPT
from resnet_desktop.core.train_config import (
    STRATEGIES,
    BatchProgress,
    EpochReport,
    FitEvent,
    FitResult,
    StageProgress,
)

if TYPE_CHECKING:
    from resnet_desktop.core.dataset import DatasetScan, DatasetSplit, ScanEvent, ScanProgress

EXIT_INTERRUPTED = 130
MAX_LISTED_FILES = 20


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a model on your own classes",
        description="Fine-tune --model on DATASET (one sub-folder of images per class) and save "
        "the result in the model library as --name. Ctrl+C stops after the current batch and "
        "saves the best epoch so far. Exit status: 0 saved, 1 could not train, 130 interrupted.",
    )
    parser.add_argument(
        "dataset",
        metavar="DATASET",
        nargs="?",
        help="one sub-folder of images per class (with --from-corrections: instead of the "
        "model's own training folder)",
    )
    add_model_args(parser)
    fixes = parser.add_argument_group("retraining from corrections")
    fixes.add_argument(
        "--from-corrections",
        action="store_true",
        help="train on the images a person labelled for --model in the results catalog, plus "
        "the folder --model was trained on when it is still there (or DATASET)",
    )
    fixes.add_argument(
        "--labels-only",
        action="store_true",
        help="with --from-corrections: only the labelled images, no training folder",
    )
    fixes.add_argument("--catalog", metavar="FILE", help="the results catalog holding the labels")
    fixes.add_argument(
        "--rerun",
        action="store_true",
        help="with --from-corrections: afterwards classify again, with the new model, the "
        "images whose results came from --model",
    )
    parser.add_argument("--name", required=True, help="library name of the fine-tuned model")
    parser.add_argument("--strategy", choices=STRATEGIES, default="head")
    parser.add_argument("--epochs", type=positive_int, help="default: depends on the strategy")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: per strategy)")
    parser.add_argument("--val-split", type=float, default=0.2, help="default: 0.2")
    parser.add_argument("--val", metavar="DIR", help="separate validation folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace a model of that name")
    add_runtime_args(parser, engine=False)
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    from resnet_desktop.core.trainer import TrainConfig, fit

    library = ModelLibrary()
    library.check_new_name(args.name, args.overwrite)
    corrections = _corrections(args)
    events = corrections.scan(not args.labels_only, args.dataset) if corrections else None
    scan = _scan(events, args)
    split = split_dataset(scan, args.val_split, args.seed)
    print("\n".join(preflight_lines(scan, split)))
    base = load_model(args.model, args.weights)
    _check_library(library, args, base)
    config = TrainConfig(
        strategy=args.strategy,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        runtime=runtime_options(args),
        seed=args.seed,
    )
    with ctrl_c_stops("batch") as stopped:
        described = describe_base_weights(base, args.weights)
        events = fit(base, split, config, stopped, base_weights=described, notify=notify)
        result = _train(events)
    print("\n".join(result_lines(result)))
    if result.error:
        raise UserError(result.error)
    if not result.savable:
        print("stopped before the first epoch finished; nothing saved", file=sys.stderr)
        return EXIT_INTERRUPTED if result.cancelled else EXIT_ERROR
    saved = _save(result, args, library)
    print(f"saved as {saved.name!r} ({saved.weights_path})")
    if corrections is not None:
        _offer_rerun(corrections, args)
    return EXIT_INTERRUPTED if result.cancelled else EXIT_OK


def _corrections(args: argparse.Namespace) -> Corrections | None:
    """The person's labels to train on (--from-corrections), after checking the options."""
    if not args.from_corrections:
        if args.dataset is None:
            raise UserError("give the DATASET folder, or --from-corrections")
        for flag, given in (("--labels-only", args.labels_only), ("--rerun", args.rerun)):
            if given:
                raise UserError(f"{flag} goes with --from-corrections")
        return None
    if args.val is not None:
        raise UserError("--val is a folder's validation split; corrections split their own")
    corrections = find_corrections(args.model, args.weights, args.catalog)
    labels = ", ".join(f"{label} {count}" for label, count in corrections.counts().items())
    print(f"{len(corrections.labelled)} images labelled by a person for {args.model}: {labels}")
    folder = args.dataset or corrections.training_folder
    if args.labels_only or folder is None:
        print("training on the labelled images only")
    else:
        print(f"with the training folder {folder}")
    return corrections


def _offer_rerun(corrections: Corrections, args: argparse.Namespace) -> None:
    """Classify again what the old version classified (--rerun), or say how to."""
    paths = old_results(corrections.identity, corrections.catalog)
    if not paths:
        return
    if not args.rerun:
        print(
            f"{len(paths)} images hold results of the previous {args.model}; add --rerun to "
            f"classify them with {args.name!r} once trained"
        )
        return
    print(f"classifying the {len(paths)} images again with {args.name!r}", file=sys.stderr)
    bar = ProgressBar(len(paths))
    classified = 0
    with ctrl_c_stops("batch") as stopped:
        options = runtime_options(args)
        events = rerun(paths, args.name, options, catalog_path=args.catalog, should_stop=stopped)
        for event in events:
            if isinstance(event, Progress):
                classified = event.classified
                bar.update(event.done, event.images_per_second, None)
    bar.close()
    print(f"classified {classified} of {len(paths)} images again with {args.name!r}")


def _check_library(library: ModelLibrary, args: argparse.Namespace, base: LoadedModel) -> None:
    """Fail now, not after training, if the library could not take the result."""
    size = sum(t.numel() * t.element_size() for t in base.network.state_dict().values())
    library.check_writable(args.name, args.overwrite, size)


def _save(result: FitResult, args: argparse.Namespace, library: ModelLibrary) -> LibraryModel:
    """Save in the library; if that fails after all, keep the weights and say where."""
    from resnet_desktop.core.trainer import save_model

    try:
        return save_model(result, args.name, library, overwrite=args.overwrite)
    except LibraryError as error:
        kept = keep_elsewhere(args.name, result.architecture, result.state_dict, result.class_names)
        raise LibraryError(f"{error}. {kept}") from None


def _scan(events: Iterator[ScanEvent] | None, args: argparse.Namespace) -> DatasetScan:
    """Run a scan (by default of DATASET and --val) with a progress bar of its checking."""
    bar: list[ProgressBar] = []
    started = time.monotonic()

    def progress(item: ScanProgress) -> None:
        if item.stage != ScanStage.CHECKING:
            return
        if not bar:
            bar.append(ProgressBar(item.total, unit="files"))
        rate = item.done / max(time.monotonic() - started, 1e-9)
        bar[0].update(item.done, rate, (item.total - item.done) / rate if rate else None)

    if events is None:
        events = scan_dataset(args.dataset, args.val)
    try:
        return last_scan(events, progress)
    finally:
        if bar:
            bar[0].close()


def _train(events: Iterator[FitEvent]) -> FitResult:
    """Draw progress bars and print one line per epoch; returns the final result."""
    bars = _ProgressBars()
    for event in events:
        match event:
            case StageProgress():
                bars.get(event.stage, event.total).update(event.done, 0.0, None, event.stage)
            case BatchProgress():
                _update(bars.get(event.epoch, event.total), event)
            case EpochReport():
                bars.close()
                print(epoch_line(event))
            case FitResult():
                bars.close()
                return event
            case _:
                raise unknown_event(event)
    raise AssertionError("fit() always yields a FitResult last")


class _ProgressBars:
    """One bar per stage or epoch: a new key closes the previous bar."""

    def __init__(self) -> None:
        self.bar: ProgressBar | None = None
        self.key: object = None

    def get(self, key: object, total: int) -> ProgressBar:
        if self.bar is None or key != self.key:
            self.close()
            self.bar, self.key = ProgressBar(total), key
        return self.bar

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        self.bar, self.key = None, None


def _update(bar: ProgressBar, event: BatchProgress) -> None:
    rate = event.images_per_second
    remaining = (event.total - event.done) / rate if rate > 0 else None
    bar.total = event.total
    note = f"epoch {event.epoch}/{event.epochs} {event.phase} loss {event.loss:.3f}"
    bar.update(event.done, rate, remaining, note)


def preflight_lines(scan: DatasetScan, split: DatasetSplit) -> list[str]:
    """Images per class and split, then every warning and the unreadable files."""
    width = max(len("class"), *(len(name) for name in split.class_names))
    source = f"validation: {scan.val_root}" if scan.val_root else f"{split.val_fraction:.0%} split"
    where = f"{scan.root}"
    if scan.labelled_from is not None:
        folder = f" and {scan.root}" if scan.root != scan.labelled_from else ""
        where = f"{scan.labelled} images labelled by a person in {scan.labelled_from}{folder}"
    lines = [f"dataset {where} ({source}, seed {split.seed})", ""]
    lines.append(f"{'class':<{width}}  train  val")
    for name, train, val in zip(
        split.class_names, split.train_counts, split.val_counts, strict=True
    ):
        lines.append(f"{name:<{width}}  {train:>5}  {val:>3}")
    lines.append(f"{'total':<{width}}  {len(split.train):>5}  {len(split.val):>3}")
    lines += [f"warning: {warning}" for warning in scan.warnings()]
    if split.leaked_duplicates:
        lines.append(
            f"warning: {split.leaked_duplicates} image(s) of the validation folder are also "
            "in the training folder"
        )
    for problem in scan.unreadable[:MAX_LISTED_FILES]:
        lines.append(f"  skipped {problem.path}: {problem.reason}")
    if len(scan.unreadable) > MAX_LISTED_FILES:
        lines.append(f"  ... and {len(scan.unreadable) - MAX_LISTED_FILES} more")
    return lines


def epoch_line(report: EpochReport) -> str:
    return (
        f"epoch {report.epoch:>3}/{report.epochs}  "
        f"train loss {report.train_loss:.4f} acc {report.train_accuracy:6.1%}  "
        f"val loss {report.val_loss:.4f} acc {report.val_accuracy:6.1%}  "
        f"lr {report.lr:.2e}  {report.seconds:.1f} s  {report.images_per_second:.0f} img/s"
        + ("  *" if report.is_best else "")
    )


def result_lines(result: FitResult) -> list[str]:
    """How training ended, the best epoch and its per-class validation metrics."""
    lines = [""]
    if result.cancelled:
        lines.append("training interrupted")
    elif result.stopped_early:
        lines.append("stopped early: the validation loss stopped improving")
    if result.skipped:
        lines.append(f"{len(result.skipped)} file(s) could not be decoded and were skipped:")
        lines += [f"  {p.path}: {p.reason}" for p in result.skipped[:MAX_LISTED_FILES]]
    if result.best_epoch is None or result.report is None:
        return lines
    total = sum(report.seconds for report in result.history)
    lines.append(
        f"best epoch {result.best_epoch} of {len(result.history)}: validation accuracy "
        f"{result.report.accuracy:.2%} ({format_duration(total)} of training)"
    )
    if result.ood is not None:
        lines.append(
            f"'unknown' below a score of {result.ood.threshold:.4g} ({result.ood.method}): "
            f"{DEFAULT_ACCEPT:.0%} of the validation images pass; change it with "
            "'resnet-desktop models set-threshold'"
        )
    return [*lines, "", *class_table(result.report)]
