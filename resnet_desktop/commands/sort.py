"""``resnet-desktop sort``: copy, move or link classified images into a folder per label.

The plan (which label goes to which folder, how many files each) is printed before
anything is touched, and is all that ``--dry-run`` does. Progress goes to stderr; the
first Ctrl+C stops after the file in hand (exit 130), and running the same command again
continues. Every step is journaled in the destination, so ``sort --undo JOURNAL`` puts
everything back (see :mod:`resnet_desktop.core.sorting`).
"""

from __future__ import annotations

import argparse
import functools
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.model_identity import ModelArgs
from resnet_desktop.app.sorting import follow_moves, load_identity, prepare_sort
from resnet_desktop.app.unknown import unknown_rule
from resnet_desktop.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    REMEDIES,
    add_model_args,
    ctrl_c_stops,
    reports_errors,
)
from resnet_desktop.commands.progress import ProgressBar
from resnet_desktop.commands.results_io import add_threshold_arg, decider_of
from resnet_desktop.core.errors import remedied
from resnet_desktop.core.export import display_path, terminal_safe
from resnet_desktop.core.file_steps import MOVED_BY_COPY, SYMLINK
from resnet_desktop.core.sorting import (
    FileFailed,
    FileKept,
    FileRestored,
    FileSorted,
    FolderPlan,
    SortEvent,
    SortFinished,
    SortPlan,
    SortStarted,
    UndoEvent,
    UndoFinished,
    UndoStarted,
    run_sort,
    undo_sort,
)

EXIT_INTERRUPTED = 130
SHOWN_PROBLEMS = 20  # failures listed one per line; the journal holds them all
_PAST = {"copy": "copied", "move": "moved", "link": "linked"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sort",
        help="copy, move or link classified images into a folder per label",
        usage="%(prog)s PATH ... --model NAME --into DEST [--copy|--move|--link] "
        "[--threshold T] [--dry-run]\n       %(prog)s --undo JOURNAL",
        description="Sort images into a folder per label, by the results the catalog holds "
        "for this model (run predict first); a label a person gave wins, and an image goes to "
        "'unknown' exactly when predict's decision column says so. Images without a "
        "result, or that the model could not read, stay where they are. Nothing is ever "
        "written over (a name in use gets ' (2)'), a move deletes a file only once its copy "
        "is verified, and every step is journaled in DEST: run the same command again to "
        "finish an interrupted sort, or undo it with --undo. Exit status: 0 every image "
        "sorted, 3 some were not (no result, unreadable, failed), 1 could not run, 2 bad "
        "arguments, 130 interrupted.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files or folders")
    add_model_args(parser, required=False)
    parser.add_argument("--classes", help="class names: .txt (one per line) or .json")
    parser.add_argument("--into", metavar="DEST", help="the folder to sort into")
    how = parser.add_mutually_exclusive_group()
    for mode, text in (
        ("copy", "copy the images (the default)"),
        ("move", "move the images"),
        ("link", "make hard links (symbolic links where hard links are not possible)"),
    ):
        how.add_argument(f"--{mode}", dest="mode", action="store_const", const=mode, help=text)
    add_threshold_arg(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch nothing")
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        help="the results catalog (moved files take their results and labels along)",
    )
    parser.add_argument(
        "--undo", metavar="JOURNAL", help="put back everything the sort in JOURNAL did"
    )
    parser.set_defaults(func=functools.partial(_dispatch, parser))


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Check the two forms' arguments (exit 2 on a wrong mix), then run one."""
    if args.undo is not None:
        given = [
            option
            for option, value in (
                ("PATH", args.paths),
                ("--model", args.model),
                ("--weights", args.weights),
                ("--classes", args.classes),
                ("--into", args.into),
                ("--copy/--move/--link", args.mode),
                ("--threshold", args.threshold),
                ("--dry-run", args.dry_run),
            )
            if value
        ]
        if given:
            parser.error(f"--undo takes the journal (and --catalog), not {', '.join(given)}")
        return undo(args)
    missing = [
        option
        for option, value in (("PATH", args.paths), ("--model", args.model), ("--into", args.into))
        if not value
    ]
    if missing:
        parser.error(f"missing {', '.join(missing)} (or give --undo JOURNAL)")
    return sort(args)


# ------------------------------------------------------------------------------ sorting


@reports_errors
def sort(args: argparse.Namespace) -> int:
    """Print the plan, then sort; "unknown" reads as in ``predict``'s decision column."""
    mode = args.mode or "copy"
    identity = load_identity(args.model, args.weights, args.classes)
    decider = decider_of(ModelArgs(args.model, args.weights, args.classes), args.threshold)
    plan = prepare_sort(args.paths, identity, args.into, decider=decider, catalog_path=args.catalog)
    for line in plan_lines(plan, args.model, mode, _predict_hint(args), dry_run=args.dry_run):
        print(line)
    left_alone = len(plan.not_classified) + len(plan.unreadable)
    if args.dry_run or not (plan.placements or plan.resumes):
        return EXIT_PARTIAL if left_alone and not args.dry_run else EXIT_OK
    with ctrl_c_stops("file") as should_stop:
        report = _SortReport()
        report.follow(follow_moves(run_sort(plan, mode, plan.resumes, should_stop), args.catalog))
    for line in report.summary():
        print(line)
    if report.finished is None or report.finished.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if report.finished.failed or left_alone else EXIT_OK


def _predict_hint(args: argparse.Namespace) -> str:
    """The predict command that classifies what this sort found unclassified."""
    words = ["resnet-desktop", "predict", "PATH", "--model", args.model]
    for option in ("weights", "classes", "catalog"):
        if getattr(args, option) is not None:
            words += [f"--{option}", getattr(args, option)]
    return " ".join(words[:3] + [shlex.quote(terminal_safe(word)) for word in words[3:]])


def plan_lines(
    plan: SortPlan, model: str, mode: str, predict_hint: str, dry_run: bool = False
) -> list[str]:
    """The plan as printed: one line per folder (with the label it holds, where the name
    differs), then what stays where it is."""
    verb = "would be" if dry_run else "will be"
    files = sum(folder.files for folder in plan.folders)
    lines = [f"{_count(files, 'image')} {verb} {_PAST[mode]} into {_shown(plan.dest)}:"]
    width = max((len(terminal_safe(folder.folder)) for folder in plan.folders), default=0)
    for folder in plan.folders:
        name = terminal_safe(folder.folder)
        lines.append(f"  {name + '/':<{width + 1}}  {folder.files:>6}  {_holds(folder, plan)}")
    stays = " (left in place)"
    if plan.not_classified:
        lines.append(
            f"{_count(len(plan.not_classified), 'image')} not classified yet by {model}{stays}: "
            f"run `{predict_hint}` first"
        )
    if plan.unreadable:
        lines.append(f"{_count(len(plan.unreadable), 'image')} {model} could not read{stays}")
    if plan.in_folders:
        lines.append(
            f"{_count(plan.in_folders, 'image')} already in the label folders of "
            f"{_shown(plan.dest)} (left in place)"
        )
    if plan.resumes is not None:
        lines.append(
            f"continuing the unfinished sort journaled in {_shown(plan.resumes)}: "
            f"{_count(plan.already_sorted, 'image')} already placed"
        )
    return [line.rstrip() for line in lines]


def _holds(folder: FolderPlan, plan: SortPlan) -> str:
    """What a folder line says beside the count: its label where the name differs."""
    if folder.label is None:
        what = unknown_rule(plan.decider) if plan.decider is not None else ""
    else:
        what = f"label {terminal_safe(repr(folder.label))}" if folder.label != folder.folder else ""
    if folder.by_person:
        what += f"{'; ' if what else ''}{folder.by_person} labelled by a person"
    return what


@dataclass
class _SortReport:
    """What a sort's events add up to: the progress bar, failures, the summary."""

    started: SortStarted | None = None
    finished: SortFinished | None = None
    problems: list[str] = field(default_factory=list)

    def follow(self, events: Iterable[SortEvent]) -> None:
        bar: ProgressBar | None = None
        try:
            for event in events:
                match event:
                    case SortStarted():
                        self.started = event
                        bar = ProgressBar(event.total, unit="files")
                    case FileSorted(done=done, total=total, elapsed=elapsed):
                        _advance(bar, done, total, elapsed)
                    case FileFailed(source, reason, done, total, elapsed, remedy):
                        reason = remedied(reason, remedy, REMEDIES)
                        self.problems.append(f"{_shown(source)}: {terminal_safe(reason)}")
                        _advance(bar, done, total, elapsed)
                    case SortFinished():
                        self.finished = event
                    case _:
                        raise TypeError(f"unknown sort event {event!r}")
        finally:
            if bar is not None:
                bar.close()

    def summary(self) -> list[str]:
        if self.started is None or self.finished is None:
            return []
        end = self.finished
        placed = sum(count for _, count in end.placed)
        where = ", ".join(f"{terminal_safe(folder)} {count}" for folder, count in end.placed)
        lines = [
            f"{_PAST[self.started.mode]} {_count(placed, 'file')} in {format_duration(end.elapsed)}"
            + (f": {where}" if where else "")
        ]
        lines += _how_notes(dict(end.hows))
        if end.already_there:
            lines.append(f"{end.already_there} were already there (same name and bytes)")
        lines += _problem_lines(self.problems, "failed", self.started.journal)
        if end.cancelled:
            lines.append(
                f"interrupted after {placed + end.already_there + end.failed} of "
                f"{self.started.total} files: run "
                "the same command again to finish"
            )
        lines.append(f"journal: {_shown(self.started.journal)}")
        lines.append(f"undo with: resnet-desktop sort --undo {_quoted(self.started.journal)}")
        return lines


def _how_notes(hows: dict[str, int]) -> list[str]:
    notes = []
    if hows.get(SYMLINK):
        notes.append(
            f"hard links were not possible (another device, or a file system without them): "
            f"made {hows[SYMLINK]} symbolic links instead"
        )
    if hows.get(MOVED_BY_COPY):
        notes.append(f"{hows[MOVED_BY_COPY]} moved across devices (copied, verified, deleted)")
    return notes


# ------------------------------------------------------------------------------ undoing


@reports_errors
def undo(args: argparse.Namespace) -> int:
    with ctrl_c_stops("file") as should_stop:
        report = _UndoReport()
        report.follow(follow_moves(undo_sort(Path(args.undo), should_stop), args.catalog))
    for line in report.summary():
        print(line)
    if report.finished is None or report.finished.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_PARTIAL if report.finished.kept else EXIT_OK


@dataclass
class _UndoReport:
    journal: Path | None = None
    finished: UndoFinished | None = None
    problems: list[str] = field(default_factory=list)

    def follow(self, events: Iterable[UndoEvent]) -> None:
        bar: ProgressBar | None = None
        try:
            for event in events:
                match event:
                    case UndoStarted(journal, total):
                        self.journal = journal
                        print(f"undoing the sort journaled in {_shown(journal)}", file=sys.stderr)
                        bar = ProgressBar(total, unit="files")
                    case FileRestored(done=done, total=total, elapsed=elapsed):
                        _advance(bar, done, total, elapsed)
                    case FileKept(_, target, reason, done, total, elapsed):
                        self.problems.append(f"{_shown(target)}: {terminal_safe(reason)}")
                        _advance(bar, done, total, elapsed)
                    case UndoFinished():
                        self.finished = event
                    case _:
                        raise TypeError(f"unknown undo event {event!r}")
        finally:
            if bar is not None:
                bar.close()

    def summary(self) -> list[str]:
        if self.journal is None or self.finished is None:
            return []
        end = self.finished
        lines = [f"put back {_count(end.restored, 'file')} in {format_duration(end.elapsed)}"]
        lines += _problem_lines(self.problems, "kept as they are", self.journal)
        if end.cancelled:
            lines.append("interrupted: run the same command again to finish the undo")
        return lines


# ------------------------------------------------------------------------------ shared


def _advance(bar: ProgressBar | None, done: int, total: int, elapsed: float) -> None:
    if bar is not None:
        rate = done / elapsed if elapsed > 0 else 0.0
        bar.update(done, rate, (total - done) / rate if rate > 0 else None)


def _problem_lines(problems: list[str], what: str, journal: Path) -> list[str]:
    if not problems:
        return []
    lines = [f"{len(problems)} {what}:"]
    lines += [f"  {problem}" for problem in problems[:SHOWN_PROBLEMS]]
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"  ... and {len(problems) - SHOWN_PROBLEMS} more (see {_shown(journal)})")
    return lines


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _shown(path: Path) -> str:
    return terminal_safe(display_path(path))


def _quoted(path: Path) -> str:
    """The path as a shell would take it back."""
    return shlex.quote(_shown(path))
