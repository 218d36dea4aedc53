"""``resnet-desktop predict``: classify images and folders, print or export the top-k."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_model_args,
    add_runtime_args,
    notify,
    positive_int,
    reports_errors,
    runtime_options,
)
from resnet_desktop.commands.progress import ProgressBar
from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.export import csv_target_problem, display_path, terminal_safe, write_csv
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.model_loader import load_model
from resnet_desktop.core.predictor import BatchResult, Prediction, Predictor

EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="classify images and folders",
        description="Classify images (folders are searched recursively). Exit status: 0 all "
        "classified, 3 some files failed, 1 could not run, 2 bad arguments, 130 interrupted "
        "(Ctrl+C; the CSV then holds the images classified so far).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    add_model_args(parser)
    parser.add_argument("--classes", help="class names: .txt (one per line) or .json")
    parser.add_argument("--top-k", type=positive_int, default=5)
    add_runtime_args(parser)
    parser.add_argument("--csv", metavar="OUT", help="write the results to this CSV file")
    parser.add_argument(
        "--force", action="store_true", help="write --csv even where it replaces an image"
    )
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    paths = list(scan_images(args.paths))
    if not paths:
        raise UserError("no images found in " + ", ".join(args.paths))
    if args.csv and not args.force:
        _check_csv_target(args.csv, paths)
    model = load_model(args.model, args.weights, args.classes)
    runtime = runtime_options(args).resolve(model.preprocess)
    predictor = Predictor(model, runtime, top_k=args.top_k, notify=notify)
    print(f"{len(paths)} images, {args.model} on {predictor.runtime.describe()}", file=sys.stderr)
    predictions, last, interrupted = _classify(predictor, paths, show=not args.csv)
    if args.csv:
        with user_file_errors("write", args.csv):
            write_csv(args.csv, predictions, predictor.top_k)
    failed = sum(not p.ok for p in predictions)
    elapsed = last.elapsed if last else 0.0
    print(
        f"classified {len(predictions) - failed} of {len(paths)} images in "
        f"{format_duration(elapsed)} ({len(predictions) / max(elapsed, 1e-9):.1f} images/s)"
        + (f"; {failed} failed" if failed else "")
        + (f"; results in {args.csv}" if args.csv else ""),
        file=sys.stderr,
    )
    if interrupted:
        print(
            f"interrupted: {len(paths) - len(predictions)} images not classified", file=sys.stderr
        )
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if failed else EXIT_OK


def _classify(
    predictor: Predictor, paths: list[Path], show: bool
) -> tuple[list[Prediction], BatchResult | None, bool]:
    """Predictions, the last batch and whether Ctrl+C ended the run (keeping what was done)."""
    predictions: list[Prediction] = []
    bar = ProgressBar(len(paths))
    last = None
    try:
        for last in predictor.predict_iter(paths):
            predictions.extend(last.predictions)
            if show:
                for prediction in last.predictions:
                    print(_describe(prediction))
            bar.update(last.done, last.images_per_second, last.eta_seconds)
    except KeyboardInterrupt:
        return predictions, last, True
    finally:
        bar.close()
    return predictions, last, False


def _check_csv_target(target: str, paths: list[Path]) -> None:
    """Refuse to write the CSV over an image, one of the inputs above all (see --force)."""
    problem = csv_target_problem(target, paths)
    if problem:
        raise UserError(f"not writing --csv: {problem} (add --force to write it anyway)")


def _describe(prediction: Prediction) -> str:
    """One line for the terminal; file and class names cannot act on the terminal."""
    path = terminal_safe(display_path(prediction.path))
    if not prediction.ok:
        return f"{path}\terror: {terminal_safe(str(prediction.error))}"
    top = ", ".join(
        f"{terminal_safe(label)} {prob:.1%}"
        for label, prob in zip(prediction.labels, prediction.probs, strict=True)
    )
    return f"{path}\t{top}"
