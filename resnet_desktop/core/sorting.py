"""Sorting images into one folder per label, resumable and undoable, from stored results.

:func:`plan_sort` decides where each image goes without touching a file: a label a
person gave wins over the model's; a result the decider reads as unknown (the model's
"unknown" threshold on its OOD score, or a top-1 probability under a threshold; see
:class:`~resnet_desktop.core.ood.Decider`) goes to the ``unknown`` folder; images
without a result, or whose result is an error, stay where they are. Labels become safe,
distinct folder names (:func:`folder_names`), the mapping and the counts per folder are
the plan's, for a preview.

:func:`run_sort` carries a plan out, one file at a time, and :func:`undo_sort` puts
everything back; both are generators of typed events that poll ``should_stop`` between
files, so the command line runs them in its main thread and the window in a worker.
Every step is recorded in a journal (:mod:`sort_journal`) before it is taken and done so
that a crash at any instant loses no file (:mod:`file_steps`). Running a sort again into
the same folder resumes an interrupted one; copying or linking again skips the files
that are already there. A file is never written over: a name in use gets `` (2)``.
The event of a moved file carries its signature from before the move, so that its
records in the results catalog can follow it (:meth:`Catalog.moved`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import os
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog import FileSignature, file_signature
from resnet_desktop.core.errors import (
    REMEDY_SORT_FINISH_UNDO,
    REMEDY_SORT_SAME_MODE,
    UserError,
    one_line,
)
from resnet_desktop.core.file_steps import (
    MODES,
    MOVED_BACK,
    NOTHING,
    Mode,
    StepProblem,
    TargetTaken,
    finish_step,
    reverse_step,
    same_content,
)
from resnet_desktop.core.locking import file_lock
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.sort_journal import (
    JournalState,
    JournalWriter,
    Step,
    read_journal,
    unfinished_journals,
)

UNKNOWN_FOLDER = "unknown"
MAX_FOLDER_CHARS = 100
MAX_FOLDER_BYTES = 200  # UTF-8; file systems allow 255, and a suffix must still fit
MAX_NAME_BYTES = 255
_FORBIDDEN_CHARS = set('/\\<>:"|?*')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{device}{digit}" for device in ("COM", "LPT") for digit in "123456789¹²³"
}
_STOPPING_ERRNOS = {errno.ENOSPC, errno.EROFS, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _never() -> bool:
    return False


# ------------------------------------------------------------------------------ folder names


def safe_folder_name(label: str) -> str:
    """A folder name for ``label`` that every desktop file system accepts.

    No separators or characters Windows forbids, no control characters, no leading dot
    (hidden, or ``..``), no trailing dot or space, no reserved device name (``CON``,
    ``com1.txt``), at most :data:`MAX_FOLDER_CHARS` characters and
    :data:`MAX_FOLDER_BYTES` bytes. Never empty.
    """
    text = unicodedata.normalize("NFC", label)
    text = "".join("_" if _unsafe_char(char) else char for char in text).strip()
    text = _shortened(text)
    if text.startswith("."):
        text = "_" + text[1:]
    text = text.rstrip(". ") or "_"
    stem = text.split(".")[0]
    if stem.rstrip(" ").upper() in _RESERVED:  # "con.txt" is the device too
        text = stem + "_" + text[len(stem) :]
    return text


def _unsafe_char(char: str) -> bool:
    # Cc: control characters; Cf: invisible format characters (bidi overrides rewrite
    # how a name reads); Zl/Zp: line breaks; Cs: lone surrogates, not encodable.
    return char in _FORBIDDEN_CHARS or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp", "Cs")


def _shortened(text: str) -> str:
    text = text[:MAX_FOLDER_CHARS]
    while len(text.encode("utf-8")) > MAX_FOLDER_BYTES:
        text = text[:-1]
    return text


def _folded(name: str) -> str:
    """What case-insensitive file systems (Windows, macOS) compare names by."""
    return unicodedata.normalize("NFC", name).casefold()


def folder_names(labels: Iterable[str]) -> dict[str | None, str]:
    """Distinct safe folder names for ``labels`` and for the unknown folder (key None).

    Labels earlier in ``labels`` keep the plain name when two map to the same one (also
    when they differ only in case); later ones get `` (2)``, `` (3)``...; the unknown
    folder comes last. Give the model's classes first, in their order, so a class's folder
    is the same whatever images a sort sees.
    """
    mapping: dict[str | None, str] = {}
    taken: set[str] = set()
    for label in [*dict.fromkeys(labels), None]:
        base = UNKNOWN_FOLDER if label is None else safe_folder_name(label)
        name, number = base, 1
        while _folded(name) in taken:
            number += 1
            name = f"{base} ({number})"
        taken.add(_folded(name))
        mapping[label] = name
    return mapping


# ------------------------------------------------------------------------------ planning


@dataclass(frozen=True)
class SortInput:
    """What is known of one image: the model's top-1 result and a person's label."""

    path: Path
    label: str | None = None  # the model's top-1 class; None with an error or no result
    confidence: float | None = None  # its probability
    ood_score: float | None = None  # how like the training images (models with a setup)
    error: str | None = None  # why the model has no answer for the image
    person_label: str | None = None


@dataclass(frozen=True)
class Placement:
    """Where one image goes: a folder inside the destination."""

    source: Path
    folder: str
    label: str | None  # None: the unknown folder
    by_person: bool = False


@dataclass(frozen=True)
class FolderPlan:
    """One folder of the plan: which label it holds and how many images go there."""

    folder: str
    label: str | None  # None: the images read as unknown
    files: int
    by_person: int  # of which a person labelled


@dataclass(frozen=True)
class SortPlan:
    """What a sort will do; the window shows it as a preview, ``sort --dry-run`` prints it."""

    dest: Path
    decider: Decider | None  # what reads a result as unknown; None: nothing is
    placements: tuple[Placement, ...]
    folders: tuple[FolderPlan, ...]  # the folders used, in folder-name order
    not_classified: tuple[Path, ...]  # no stored result: left alone
    unreadable: tuple[Path, ...]  # the result is an error: left alone
    already_sorted: int = 0  # placed by the interrupted sort this one resumes
    in_folders: int = 0  # already in one of the destination's label folders: left alone
    resumes: Path | None = None  # the journal of the unfinished sort this one continues


def plan_sort(
    inputs: Iterable[SortInput],
    dest: Path,
    class_names: Sequence[str],
    *,
    decider: Decider | None = None,
    resume: JournalState | None = None,
) -> SortPlan:
    """Decide where each image goes; reads no file.

    Args:
        class_names: the model's classes, in order: they decide the folder names (and a
            person's label equal to one but for case goes to that class's folder).
        decider: reads a result as one of the classes or unknown, as ``predict``'s
            ``decision`` column does (:func:`resnet_desktop.app.unknown.decider_for`);
            None: no image goes to ``unknown``.
        resume: the unfinished sort into ``dest`` this one continues
            (:func:`unfinished_sort`): the files it placed are not planned again.
    """
    dest = Path(os.path.abspath(dest))
    items = list(inputs)
    classes = _ClassLookup(class_names)
    own_labels = classes.others(classes.resolve(i.person_label) for i in items if i.person_label)
    mapping = folder_names([*class_names, *sorted(own_labels)])
    already = resume.handled() if resume is not None else frozenset()
    sorted_before = _in_folders(dest, mapping.values())
    chosen: list[Placement] = []
    left: dict[str, list[Path]] = {"not classified": [], "unreadable": []}
    skipped = Counter[str]()
    for item in items:
        if item.path in already or sorted_before(item.path):
            skipped["already" if item.path in already else "in folders"] += 1
        elif item.person_label is not None:
            label = classes.resolve(item.person_label)
            chosen.append(Placement(item.path, mapping[label], label, True))
        elif item.error is not None or item.label is None:
            left["unreadable" if item.error is not None else "not classified"].append(item.path)
        else:
            below = decider is not None and decider.below(item.confidence or 0.0, item.ood_score)
            label = None if below else item.label
            chosen.append(Placement(item.path, mapping[label], label))
    return SortPlan(
        dest,
        decider,
        tuple(chosen),
        _folder_plans(chosen),
        tuple(left["not classified"]),
        tuple(left["unreadable"]),
        skipped["already"],
        skipped["in folders"],
        resume.path if resume is not None else None,
    )


class _ClassLookup:
    """A person's label as the model's class it names, up to case."""

    def __init__(self, class_names: Sequence[str]) -> None:
        self._exact = set(class_names)
        self._by_fold = {_folded(name): name for name in reversed(class_names)}

    def resolve(self, label: str) -> str:
        if label in self._exact:
            return label
        return self._by_fold.get(_folded(label), label)

    def others(self, labels: Iterable[str | None]) -> set[str]:
        """The labels that are no class (a person's own)."""
        return {label for label in labels if label is not None and label not in self._exact}


def _in_folders(dest: Path, names: Iterable[str]) -> Callable[[Path], bool]:
    """Whether a path lies in one of the folders ``names`` of ``dest``, through symbolic
    links too: sorted files are not sorted again, but a sort into the very folder it
    sorts (``sort photos --into photos``) takes the others."""
    folded = {_folded(name) for name in names}
    roots = {str(dest), os.path.realpath(dest)}

    @functools.cache
    def folder_in(folder: str) -> bool:
        for seen in {folder, os.path.realpath(folder)}:
            for root in roots:
                try:
                    relative = os.path.relpath(seen, root)
                except ValueError:  # another drive (Windows)
                    continue
                first = relative.split(os.sep)[0]
                if first not in (".", "..") and _folded(first) in folded:
                    return True
        return False

    return lambda path: folder_in(os.path.dirname(os.path.abspath(path)))


def _folder_plans(placements: Sequence[Placement]) -> tuple[FolderPlan, ...]:
    files = Counter(p.folder for p in placements)
    by_person = Counter(p.folder for p in placements if p.by_person)
    labels = {p.folder: p.label for p in placements}
    return tuple(
        FolderPlan(folder, labels[folder], files[folder], by_person[folder])
        for folder in sorted(files, key=_folded)
    )


# ------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class SortStarted:
    journal: Path
    mode: Mode
    total: int  # files to place now (an interrupted step to finish included)
    resumed: bool  # continuing an interrupted sort's journal


@dataclass(frozen=True)
class FileSorted:
    source: Path
    target: Path
    how: str  # file_steps.MOVED, COPIED, HARD_LINK, SYMLINK ... or ALREADY_THERE
    done: int
    total: int
    elapsed: float
    moved_from: FileSignature | None = None  # a moved file's signature at its source


@dataclass(frozen=True)
class FileFailed:
    source: Path
    reason: str
    done: int
    total: int
    elapsed: float
    remedy: str | None = None  # worded by the front end after the reason (errors.remedied)


@dataclass(frozen=True)
class SortFinished:
    journal: Path
    placed: tuple[tuple[str, int], ...]  # (folder, files placed in it now), by folder
    hows: tuple[tuple[str, int], ...]  # (how, files), e.g. ("symbolic link", 3)
    already_there: int  # copies or links found in place: nothing to do
    failed: int
    cancelled: bool  # should_stop ended it: the journal stays open for resuming
    elapsed: float


SortEvent = SortStarted | FileSorted | FileFailed | SortFinished
ALREADY_THERE = "already there"


# ------------------------------------------------------------------------------ sorting


def run_sort(
    plan: SortPlan,
    mode: Mode,
    journal: Path | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[SortEvent]:
    """Carry ``plan`` out, one file at a time, journaled; stops between files when asked.

    Args:
        journal: an unfinished journal of a sort into ``plan.dest`` to continue. By
            default the one such journal in the destination is continued (so running
            the same sort again resumes it), else a new one is started there.

    Raises:
        UserError: another sort or undo of the destination is running, an unfinished one
            cannot be continued with ``mode``, the disk is full or read-only, or the
            journal cannot be written. What was done so far stays journaled.
    """
    if mode not in MODES:
        raise ValueError(f"unknown sort mode {mode!r}")
    dest = plan.dest
    with _dest_lock(dest):
        previous = _journal_to_continue(dest, mode, journal)
        if previous is None:
            _make_folder(dest)
            writer = JournalWriter.create(dest, mode)
        else:
            writer = JournalWriter.append_to(previous.path)
            writer.mark("resumed")
        with writer:
            yield from _SortRun(plan, mode, writer, previous, should_stop or _never).events()


def unfinished_sort(dest: Path) -> JournalState | None:
    """The journal of the interrupted sort into ``dest`` that a sort there continues.

    Raises:
        UserError: there are several (sorts run at once by another means), or one is
            damaged.
    """
    states = unfinished_journals(dest)
    if len(states) > 1:
        names = ", ".join(str(state.path) for state in states)
        raise UserError(f"{dest} holds several unfinished sorts ({names}): undo them first")
    return states[0] if states else None


def _journal_to_continue(dest: Path, mode: Mode, named: Path | None) -> JournalState | None:
    """The unfinished journal this sort continues, if any; refuses what it cannot."""
    state = read_journal(named) if named is not None else unfinished_sort(dest)
    if state is None:
        return None
    if state.finished:
        raise UserError(f"the sort recorded in {state.path} is finished: nothing to resume")
    if state.undo is not None:
        raise UserError(
            f"an undo of the sort into {dest} was interrupted",
            remedy=REMEDY_SORT_FINISH_UNDO,
            fields={"journal": state.path},
        )
    if state.mode != mode or os.path.abspath(state.dest) != os.path.abspath(dest):
        raise UserError(
            f"{dest} holds an unfinished sort by {state.mode}",
            remedy=REMEDY_SORT_SAME_MODE,
            fields={"mode": state.mode, "journal": state.path},
        )
    return state


class _SortRun:
    """One run of :func:`run_sort`: the steps left from before, then the plan."""

    def __init__(
        self,
        plan: SortPlan,
        mode: Mode,
        writer: JournalWriter,
        previous: JournalState | None,
        should_stop: Callable[[], bool],
    ) -> None:
        self.plan = plan
        self.mode = mode
        self.writer = writer
        self.should_stop = should_stop
        self.leftover = previous.unfinished() if previous else ()
        handled = previous.handled() if previous else frozenset()
        skip = handled | {step.source for step in self.leftover}
        self.todo = [p for p in plan.placements if p.source not in skip]
        self.recorded = set(previous.folders) if previous else set()  # in the journal
        self.ready: set[Path] = set()  # known to exist
        self.created: list[Path] = []  # by this run
        self.number = previous.next_number() if previous else 1
        self.resumed = previous is not None
        self.total = len(self.leftover) + len(self.todo)
        self.done = 0
        self.placed = Counter[str]()
        self.hows = Counter[str]()
        self.already_there = 0
        self.failed = 0
        self.start = time.monotonic()

    def events(self) -> Iterator[SortEvent]:
        yield SortStarted(self.writer.path, self.mode, self.total, self.resumed)
        cancelled = False
        for work in [*self.leftover, *self.todo]:
            if self.should_stop():
                cancelled = True
                break
            if isinstance(work, Step):
                yield self._settle(work)
            else:
                yield self._place(work)
        if not cancelled:
            _remove_empty(self.created)  # the folders of labels whose every file failed
            self.writer.mark("done")
        yield SortFinished(
            self.writer.path,
            tuple(sorted(self.placed.items(), key=lambda item: _folded(item[0]))),
            tuple(sorted(self.hows.items())),
            self.already_there,
            self.failed,
            cancelled,
            self._elapsed(),
        )

    def _settle(self, step: Step) -> FileSorted | FileFailed:
        """Finish a step an interrupted run began."""
        return self._carry_out(step, step.target.parent.name)

    def _place(self, placement: Placement) -> FileSorted | FileFailed:
        try:
            folder = self._folder(placement.folder)
            target, present = _free_target(folder, placement.source, self.mode)
        except (OSError, StepProblem) as error:
            return self._failed(placement.source, _reason(error))
        if present:
            return self._sorted(placement.source, target, ALREADY_THERE, placement.folder)
        step = Step(self.number, placement.source, target)
        self.number += 1
        self.writer.begin(step)
        return self._carry_out(step, placement.folder)

    def _carry_out(self, step: Step, folder: str) -> FileSorted | FileFailed:
        before = file_signature(step.source) if self.mode == "move" else None
        try:
            how = finish_step(step.source, step.target, self.mode)
        except TargetTaken as problem:
            self.writer.failed(step.number, str(problem), left=False)
            return self._failed(step.source, str(problem))
        except (OSError, StepProblem) as problem:
            left = not _put_back(step)
            self.writer.failed(step.number, _reason(problem), left)
            if isinstance(problem, OSError) and problem.errno in _STOPPING_ERRNOS:
                raise UserError(
                    f"stopped: {_reason(problem)}; run the same sort again to continue"
                ) from problem
            remedy = problem.remedy if isinstance(problem, StepProblem) else None
            return self._failed(step.source, _reason(problem), remedy)
        self.writer.ok(step.number, how)
        return self._sorted(step.source, step.target, how, folder, before)

    def _folder(self, name: str) -> Path:
        """The folder ``name`` in the destination, created (and journaled) if needed."""
        folder = self.plan.dest / name
        if folder not in self.ready:
            if not folder.is_dir():
                if folder not in self.recorded:  # a crash may have come before the mkdir
                    self.writer.folder(folder)
                    self.recorded.add(folder)
                folder.mkdir(exist_ok=True)
                self.created.append(folder)
            self.ready.add(folder)
        return folder

    def _sorted(
        self,
        source: Path,
        target: Path,
        how: str,
        folder: str,
        before: FileSignature | None = None,
    ) -> FileSorted:
        self.done += 1
        if how == ALREADY_THERE:
            self.already_there += 1
        else:
            self.placed[folder] += 1
            self.hows[how] += 1
        return FileSorted(source, target, how, self.done, self.total, self._elapsed(), before)

    def _failed(self, source: Path, reason: str, remedy: str | None = None) -> FileFailed:
        self.done += 1
        self.failed += 1
        return FileFailed(source, reason, self.done, self.total, self._elapsed(), remedy)

    def _elapsed(self) -> float:
        return time.monotonic() - self.start


def _free_target(folder: Path, source: Path, mode: Mode) -> tuple[Path, bool]:
    """The first name for ``source`` in ``folder`` not in use: ``a.jpg``, ``a (2).jpg``...

    Returns (target, present): present when a copy or link finds the file itself already
    there under one of those names (a sort run again), so nothing needs doing.
    """
    for number in range(1, 100_000):
        target = folder / _numbered(source.name, number)
        if not os.path.lexists(target):
            return target, False
        if mode != "move" and same_content(source, target):
            return target, True
    raise StepProblem(f"no free name for {source.name} in {folder}")


def _numbered(name: str, number: int) -> str:
    """``a.jpg``, then ``a (2).jpg``...; shortened to fit the file system's name limit."""
    if number == 1:
        return name
    stem, extension = os.path.splitext(name)
    mark = f" ({number})"
    while len(os.fsencode(stem + mark + extension)) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    return stem + mark + extension


def _put_back(step: Step) -> bool:
    """Undo a failed step; whether its files are as they were before it."""
    try:
        reverse_step(step.source, step.target)
    except (OSError, StepProblem):
        return False
    return True


def _make_folder(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the folder {path}: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and not isinstance(error, UserError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return one_line(error.strerror + where)
    return one_line(str(error)) or type(error).__name__


@contextlib.contextmanager
def _dest_lock(dest: Path) -> Iterator[None]:
    """One sort or undo at a time per destination, across processes (kept in the data folder)."""
    key = hashlib.sha256(os.fsencode(os.path.realpath(dest))).hexdigest()[:24]
    busy = f"another sort or undo into {dest} is running; try again when it has finished"
    with file_lock(app_paths.data_dir() / "locks" / f"sort-{key}.lock", 0.0, busy):
        yield


# ------------------------------------------------------------------------------ undoing


@dataclass(frozen=True)
class UndoStarted:
    journal: Path
    total: int  # steps to take back


@dataclass(frozen=True)
class FileRestored:
    source: Path
    target: Path
    how: str  # file_steps.MOVED_BACK, REMOVED or NOTHING
    done: int
    total: int
    elapsed: float
    moved_from: FileSignature | None = None  # a file moved back: its signature at target


@dataclass(frozen=True)
class FileKept:
    """A step that cannot be taken back; its files stay as they are."""

    source: Path
    target: Path
    reason: str
    done: int
    total: int
    elapsed: float


@dataclass(frozen=True)
class UndoFinished:
    journal: Path
    restored: int  # files moved back or copies and links removed
    kept: int
    cancelled: bool  # should_stop ended it: run the undo again to finish
    elapsed: float


UndoEvent = UndoStarted | FileRestored | FileKept | UndoFinished


def undo_sort(journal: Path, should_stop: Callable[[], bool] | None = None) -> Iterator[UndoEvent]:
    """Put back everything the sort recorded in ``journal`` did, last step first.

    Safe to run again after an interruption or a crash, and on a sort that was itself
    interrupted. Copies and links are removed only while they still hold the original's
    bytes; folders the sort created are removed when empty. The journal stays, ending
    with an ``undone`` record.
    """
    state = read_journal(Path(os.path.abspath(journal)))
    should_stop = should_stop or _never
    with _dest_lock(state.dest), JournalWriter.append_to(state.path) as writer:
        writer.mark("undo")
        # A failed step was put back when it failed, unless that failed too ("left").
        steps = [s for s in reversed(state.steps) if s.outcome != "failed" or s.left]
        yield UndoStarted(state.path, len(steps))
        start = time.monotonic()
        restored = kept = 0
        for done, step in enumerate(steps, start=1):
            if should_stop():
                yield UndoFinished(state.path, restored, kept, True, time.monotonic() - start)
                return
            event = _take_back(step, done, len(steps), start)
            kept += isinstance(event, FileKept)
            restored += isinstance(event, FileRestored) and event.how != NOTHING
            yield event
        _remove_empty(state.folders)
        writer.mark("undone")
        yield UndoFinished(state.path, restored, kept, False, time.monotonic() - start)


def _take_back(step: Step, done: int, total: int, start: float) -> FileRestored | FileKept:
    before = file_signature(step.target)
    try:
        how = reverse_step(step.source, step.target)
    except (OSError, StepProblem) as problem:
        elapsed = time.monotonic() - start
        return FileKept(step.source, step.target, _reason(problem), done, total, elapsed)
    elapsed = time.monotonic() - start
    moved_from = before if how == MOVED_BACK else None
    return FileRestored(step.source, step.target, how, done, total, elapsed, moved_from)


def _remove_empty(folders: Sequence[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty: what a person put there stays
