"""``resnet-desktop evaluate``: accuracy of a model on a folder with one sub-folder per class."""

from __future__ import annotations

import argparse
import sys

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_model_args,
    add_runtime_args,
    class_table,
    notify,
    reports_errors,
    runtime_options,
)
from resnet_desktop.commands.progress import ProgressBar
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.evaluate import (
    EvalProgress,
    EvalReport,
    evaluate,
    report_target_problem,
    write_report_csv,
)
from resnet_desktop.core.events import unknown_event
from resnet_desktop.core.export import display_path, terminal_safe
from resnet_desktop.core.model_loader import load_model

MAX_CONFUSION_CLASSES = 20  # wider matrices do not fit a terminal


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a model's accuracy on a labelled folder",
        description="Classify every image of FOLDER, whose sub-folders are named after the "
        "model's classes, and report accuracy, per-class precision/recall and the confusion "
        "matrix. Exit status: 0 done, 3 some files could not be read, 1 could not run.",
    )
    parser.add_argument("folder", metavar="FOLDER", help="one sub-folder of images per class")
    parser.add_argument(
        "--report",
        metavar="OUT.csv",
        help="also save per-class precision, recall, F1 and support to OUT.csv, and the "
        "confusion matrix to OUT-confusion.csv beside it",
    )
    add_model_args(parser)
    add_runtime_args(parser)
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    if args.report and (problem := report_target_problem(args.report)):
        raise UserError(f"not writing --report: {problem}")  # before the long run, not after
    model = load_model(args.model, args.weights)
    bar: ProgressBar | None = None
    report: EvalReport | None = None
    elapsed = 0.0
    for item in evaluate(model, args.folder, runtime_options(args), notify=notify):
        match item:
            case EvalProgress():
                bar = bar or ProgressBar(item.total)
                bar.update(item.done, item.images_per_second, item.eta_seconds)
                elapsed = item.elapsed
            case EvalReport():
                report = item
            case _:
                raise unknown_event(item)
    if bar is not None:
        bar.close()
    assert report is not None  # evaluate() always ends with its report
    print("\n".join(summary_lines(report)))
    print(f"evaluated in {format_duration(elapsed)}", file=sys.stderr)
    if args.report:
        written = write_report_csv(report, args.report)
        names = " and ".join(map(display_path, written))
        print(terminal_safe(f"report saved: {names}"), file=sys.stderr)
    for problem in report.errors:
        line = f"unreadable: {display_path(problem.path)}: {problem.reason}"
        print(terminal_safe(line), file=sys.stderr)  # file names cannot act on the terminal
    return EXIT_PARTIAL if report.errors else EXIT_OK


def summary_lines(report: EvalReport) -> list[str]:
    """Accuracy, the per-class table, the confusion matrix and the misclassified count."""
    lines = [f"accuracy: {report.accuracy:.2%} ({_correct(report)} of {report.total} images)"]
    lines += ["", *class_table(report)]
    if len(report.class_names) <= MAX_CONFUSION_CLASSES:
        lines += ["", "confusion matrix (rows: true class, columns: predicted):"]
        lines += confusion_lines(report)
    lines += ["", f"misclassified: {len(report.misclassified)}"]
    if report.errors:
        lines.append(f"unreadable (not counted): {len(report.errors)}")
    return lines


def _correct(report: EvalReport) -> int:
    return sum(report.confusion[i][i] for i in range(len(report.confusion)))


def confusion_lines(report: EvalReport) -> list[str]:
    """The matrix with class-name rows and numbered columns (names are often long)."""
    names = report.class_names
    width = max(len(name) for name in names) + 5
    cell = max(4, *(len(str(value)) + 1 for row in report.confusion for value in row))
    header = " " * width + "".join(f"{index:>{cell}}" for index in range(len(names)))
    rows = [
        f"{index:>3}. {name:<{width - 5}}" + "".join(f"{value:>{cell}}" for value in row)
        for index, (name, row) in enumerate(zip(names, report.confusion, strict=True))
    ]
    return [header, *rows]
