"""The sort journal: an append-only record from which any sort can be resumed or undone.

A journal is a JSON-lines file in the destination folder, named
``.resnet-desktop-sort-<date>-<time>.jsonl`` (hidden, so a scan of the folder never takes
it for an image). Before a sort creates a folder or touches a file it appends what it is
about to do and flushes it to disk; after each file it appends how the step ended. The
files' own state tells how far an interrupted step got (see :mod:`file_steps`), so the
journal only has to say which steps were begun, in which order. A sort that ran to the
end says so with a ``done`` record; an undo with ``undo`` and ``undone``.

A crash can cut the last line short: readers ignore it, and a writer that appends to
the journal again first trims it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.file_steps import MODES, Mode
from resnet_desktop.core.safe_read import KIB, check_regular_file

PREFIX = ".resnet-desktop-sort-"
SUFFIX = ".jsonl"
VERSION = 1
MAX_LINE_BYTES = 64 * KIB  # two paths of 4,096 bytes, escaped, fit many times over
MAX_JOURNAL_BYTES = 1 << 30

Outcome = Literal["ok", "failed"]
UndoState = Literal["begun", "done"]


class JournalError(UserError):
    """A journal that cannot be read or written; the message says which and why."""


@dataclass(frozen=True)
class Step:
    """One file placed (or being placed) by a sort."""

    number: int
    source: Path
    target: Path
    outcome: Outcome | None = None  # None: begun, and how it ended is unknown
    left: bool = False  # failed, and its files could not be put back as they were


@dataclass(frozen=True)
class JournalState:
    """What a journal says happened."""

    path: Path
    mode: Mode
    dest: Path
    started: str
    steps: tuple[Step, ...] = ()
    folders: tuple[Path, ...] = ()  # the folders the sort created, in order
    done: bool = False
    undo: UndoState | None = None

    @property
    def finished(self) -> bool:
        """Whether nothing is left to resume: the sort ran to its end or was undone."""
        return self.done or self.undo == "done"

    def handled(self) -> frozenset[Path]:
        """The sources that were placed: a resumed sort leaves them alone."""
        return frozenset(step.source for step in self.steps if step.outcome == "ok")

    def unfinished(self) -> tuple[Step, ...]:
        return tuple(step for step in self.steps if step.outcome is None)

    def next_number(self) -> int:
        return max((step.number for step in self.steps), default=0) + 1


# ------------------------------------------------------------------------------ reading


def read_journal(path: Path) -> JournalState:
    """The state a journal records.

    Raises:
        JournalError: the file is missing, unreadable, not a sort journal, from a newer
            version, or damaged.
    """
    lines = _lines(path)
    try:
        header = next(lines)
    except StopIteration:
        raise JournalError(
            f"{path} holds no complete record: its sort stopped before it began, so there "
            "is nothing to undo (the file can be deleted)"
        ) from None
    state = _from_header(path, header)
    steps: dict[int, Step] = {}
    for number, record in enumerate(lines, start=2):
        try:
            state = _apply(state, steps, record)
        except (KeyError, TypeError, ValueError) as error:
            raise JournalError(f"{path} is damaged at line {number} ({error})") from error
    return replace(state, steps=tuple(steps.values()))


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    """Each complete line's record; a last line a crash cut short is left out."""
    with user_file_errors("read the sort journal", path):
        check_regular_file(path, MAX_JOURNAL_BYTES)
        handle = open(path, "rb")  # noqa: SIM115 - closed by the generator
    with handle:
        number = 0
        while line := handle.readline(MAX_LINE_BYTES + 1):
            number += 1
            if not line.endswith(b"\n"):
                if len(line) > MAX_LINE_BYTES:
                    raise JournalError(f"{path} is damaged at line {number} (too long)")
                return
            yield _parsed(line, path, number)


def _parsed(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as error:
        raise JournalError(f"{path} is damaged at line {number} ({error})") from error
    if not isinstance(record, dict):
        raise JournalError(f"{path} is damaged at line {number} (not a record)")
    return record


def _from_header(path: Path, header: dict[str, Any]) -> JournalState:
    if header.get("record") != "sort":
        raise JournalError(f"{path} is not a sort journal")
    version = header.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise JournalError(
            f"{path} was written by a newer version of ResNet Desktop; update it to use "
            "this journal"
        )
    mode = header.get("mode")
    dest = header.get("dest")
    started = header.get("started")
    if mode not in MODES or not isinstance(dest, str) or not isinstance(started, str):
        raise JournalError(f"{path} is damaged at line 1")
    return JournalState(path, mode, Path(dest), started)


def _apply(state: JournalState, steps: dict[int, Step], record: dict[str, Any]) -> JournalState:
    """The state after one record (steps are kept apart: a tuple per record would be slow)."""
    kind = record["record"]
    if kind == "begin":
        number = _int(record, "step")
        steps[number] = Step(number, Path(_text(record, "source")), Path(_text(record, "target")))
    elif kind == "ok":
        number = _known(steps, record)
        steps[number] = replace(steps[number], outcome="ok")
    elif kind == "failed":
        number = _known(steps, record)
        left = record["left"]
        if not isinstance(left, bool):
            raise TypeError("'left' is not true or false")
        steps[number] = replace(steps[number], outcome="failed", left=left)
    elif kind == "folder":
        return replace(state, folders=(*state.folders, Path(_text(record, "path"))))
    elif kind == "done":
        return replace(state, done=True)
    elif kind == "resumed":
        return state
    elif kind in ("undo", "undone"):
        return replace(state, undo="begun" if kind == "undo" else "done")
    else:
        raise ValueError(f"unknown record {kind!r}")
    return state


def _text(record: dict[str, Any], key: str) -> str:
    value = record[key]
    if not isinstance(value, str) or not value:
        raise TypeError(f"{key!r} is not a path")
    return value


def _int(record: dict[str, Any], key: str) -> int:
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TypeError(f"{key!r} is not a step number")
    return value


def _known(steps: dict[int, Step], record: dict[str, Any]) -> int:
    number = _int(record, "step")
    if number not in steps:
        raise ValueError(f"step {number} was never begun")
    return number


def _ended(path: Path) -> bool:
    """Whether the journal's last complete record ends it, from its tail alone."""
    with user_file_errors("read the sort journal", path):
        size = check_regular_file(path, MAX_JOURNAL_BYTES)
        with open(path, "rb") as handle:
            handle.seek(max(0, size - 2 * MAX_LINE_BYTES))
            tail = handle.read()
    complete = tail[: tail.rfind(b"\n") + 1].splitlines()
    if not complete:
        # Not even the header is whole: a crash cut its creation short, before anything
        # was done. A longer file without a line break is damaged: read_journal says so.
        return size <= MAX_LINE_BYTES
    try:
        last = json.loads(complete[-1])
    except ValueError:
        return False  # read_journal says what is wrong
    return isinstance(last, dict) and last.get("record") in ("done", "undone")


def unfinished_journals(dest: Path) -> list[JournalState]:
    """The journals in ``dest`` of sorts neither run to their end nor undone, oldest first."""
    if not dest.is_dir():
        return []
    found = sorted(dest.glob(f"{PREFIX}*{SUFFIX}"))
    return [read_journal(path) for path in found if not _ended(path)]


# ------------------------------------------------------------------------------ writing


@dataclass
class JournalWriter:
    """Appends records to one journal; records a step relies on are flushed to disk."""

    path: Path
    _fd: int = field(repr=False)

    @classmethod
    def create(cls, dest: Path, mode: Mode) -> JournalWriter:
        """A new journal in ``dest`` (which must exist), its header on disk."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        for number in range(1, 1000):
            extra = "" if number == 1 else f"-{number}"
            path = dest / f"{PREFIX}{stamp}{extra}{SUFFIX}"
            with user_file_errors("create the sort journal", path):
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o666)
                except FileExistsError:
                    continue
            writer = cls(path, fd)
            header = {"version": VERSION, "mode": mode, "dest": str(dest), "started": _now()}
            writer._write("sort", header, sync=True)
            return writer
        raise JournalError(f"cannot name a new sort journal in {dest}")

    @classmethod
    def append_to(cls, path: Path) -> JournalWriter:
        """The journal ``path`` open for more records, a line cut short by a crash trimmed."""
        with user_file_errors("write the sort journal", path):
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
            try:
                _trim_cut_line(fd)
            except BaseException:
                os.close(fd)
                raise
        return cls(path, fd)

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def begin(self, step: Step) -> None:
        self._write(
            "begin",
            {"step": step.number, "source": str(step.source), "target": str(step.target)},
            sync=True,
        )

    def folder(self, path: Path) -> None:
        self._write("folder", {"path": str(path)}, sync=True)

    def ok(self, number: int, how: str) -> None:
        self._write("ok", {"step": number, "how": how})

    def failed(self, number: int, reason: str, left: bool) -> None:
        self._write("failed", {"step": number, "reason": reason, "left": left})

    def mark(self, kind: Literal["resumed", "done", "undo", "undone"]) -> None:
        self._write(kind, {"time": _now()}, sync=True)

    def _write(self, kind: str, fields: dict[str, Any], sync: bool = False) -> None:
        # Paths that are not UTF-8 hold surrogate escapes: JSON keeps them as \udcXX.
        line = json.dumps({"record": kind, **fields}, ensure_ascii=True) + "\n"
        data = line.encode("ascii")
        with user_file_errors("write the sort journal", self.path):
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            if sync:
                os.fsync(self._fd)


def _trim_cut_line(fd: int) -> None:
    """Cut a last line without its newline (a write a crash stopped halfway)."""
    size = os.fstat(fd).st_size
    start = max(0, size - 2 * MAX_LINE_BYTES)
    os.lseek(fd, start, os.SEEK_SET)
    tail = os.read(fd, size - start)
    if tail and not tail.endswith(b"\n"):
        os.ftruncate(fd, start + tail.rfind(b"\n") + 1)
        os.fsync(fd)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
