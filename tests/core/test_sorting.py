"""Sorting into folders: safe names, the plan, and files that survive any crash or undo."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import subprocess
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import resnet_desktop
from resnet_desktop.core import file_steps
from resnet_desktop.core.errors import (
    REMEDY_SORT_COPY_OR_LINK,
    REMEDY_SORT_FINISH_UNDO,
    REMEDY_SORT_SAME_MODE,
    UserError,
)
from resnet_desktop.core.file_steps import (
    COPIED,
    HARD_LINK,
    MOVED,
    MOVED_BY_COPY,
    SYMLINK,
    partial_path,
)
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.predictor import Prediction
from resnet_desktop.core.sort_journal import (
    PREFIX,
    JournalError,
    JournalWriter,
    read_journal,
    unfinished_journals,
)
from resnet_desktop.core.sorting import (
    ALREADY_THERE,
    MAX_FOLDER_BYTES,
    MAX_FOLDER_CHARS,
    UNKNOWN_FOLDER,
    FileFailed,
    FileKept,
    FileRestored,
    FileSorted,
    SortFinished,
    SortInput,
    SortStarted,
    UndoFinished,
    folder_names,
    plan_sort,
    run_sort,
    safe_folder_name,
    undo_sort,
    unfinished_sort,
)

REPO = Path(resnet_desktop.__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "bird")

# ------------------------------------------------------------------------------ helpers


def make_images(root: Path, count: int, seed: int = 0, max_bytes: int = 4096) -> dict[Path, bytes]:
    """``count`` files of random bytes and sizes under ``root`` (in two subfolders)."""
    rng = random.Random(seed)
    files = {}
    for number in range(count):
        path = root / ("a" if number % 2 else "b") / f"img_{number:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.randint(1, max_bytes))
        path.write_bytes(data)
        files[path] = data
    return files


def labelled(files: dict[Path, bytes], seed: int = 0) -> dict[Path, str]:
    rng = random.Random(seed)
    return {path: rng.choice(CLASSES) for path in files}


def inputs(labels: dict[Path, str], confidence: float = 0.9) -> list[SortInput]:
    return [SortInput(path, label, confidence) for path, label in labels.items()]


def plan_for(labels: dict[Path, str], dest: Path, **kwargs):
    return plan_sort(inputs(labels), dest, CLASSES, resume=unfinished_sort(dest), **kwargs)


def sort_all(labels: dict[Path, str], dest: Path, mode: str, **kwargs) -> list:
    return list(run_sort(plan_for(labels, dest), mode, **kwargs))


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden ones too) by relative path, with its bytes."""
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def journals(dest: Path) -> list[Path]:
    return sorted(dest.glob(f"{PREFIX}*"))


def assert_restored(files: dict[Path, bytes], source_root: Path, dest: Path) -> None:
    """Every original is back, byte for byte, and nothing else is left anywhere."""
    assert tree(source_root) == {str(p.relative_to(source_root)): d for p, d in files.items()}
    left = [p for p in dest.rglob("*") if p.parent != dest or not p.name.startswith(PREFIX)]
    assert left == []


def assert_sorted(
    files: dict[Path, bytes], labels: dict[Path, str], source_root: Path, dest: Path, mode: str
) -> None:
    """Each original is in its label's folder exactly once, and nothing else is there."""
    expected = {f"{labels[p]}/{p.name}": data for p, data in files.items()}
    placed = {name: data for name, data in tree(dest).items() if not name.startswith(PREFIX)}
    assert placed == expected
    originals = {str(p.relative_to(source_root)): d for p, d in files.items()}
    assert tree(source_root) == ({} if mode == "move" else originals)


def undo_all(dest: Path) -> None:
    """Undo every sort into ``dest`` that began (a crash may leave one that did not)."""
    for journal in journals(dest):
        if b"\n" in journal.read_bytes():
            list(undo_sort(journal))


def events_of(kind: type, events: list) -> list:
    return [event for event in events if isinstance(event, kind)]


def finished(events: list) -> SortFinished | UndoFinished:
    return events[-1]


@contextlib.contextmanager
def other_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Put every folder named ``sorted`` on another device: links and renames across fail."""
    real_link, real_rename = os.link, os.rename
    mark = f"{os.sep}sorted{os.sep}"

    def crosses(first, second) -> bool:
        return (mark in os.fspath(first)) != (mark in os.fspath(second))

    def link(source, target, *args, **kwargs):
        if crosses(source, target):
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(source))
        return real_link(source, target, *args, **kwargs)

    def rename(source, target, *args, **kwargs):
        if crosses(source, target):
            raise OSError(errno.EXDEV, "Invalid cross-device link", str(source))
        return real_rename(source, target, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(os, "link", link)
        patch.setattr(os, "rename", rename)
        yield


# ------------------------------------------------------------------------------ folder names

HOSTILE = [
    "a/b",
    "a\\b",
    "..",
    ".",
    ".hidden",
    "../../etc",
    "CON",
    "con.txt",
    "Com1",
    "LPT9 ",
    "nul.tar.gz",
    "trailing. . ",
    "tab\there",
    "nul\x00byte",
    "esc\x1b[2J",
    "bidi\u202eevil",
    "line\u2028break",
    'quote"colon:star*pipe|q?<>',
    "",
    "   ",
    "é" * 300,
    "猫" * 150,
    "x" * 99 + ".",
]


@pytest.mark.parametrize("label", HOSTILE)
def test_a_folder_name_is_safe_on_every_desktop_file_system(label: str):
    name = safe_folder_name(label)
    assert name and name == name.strip()
    assert not set(name) & set('/\\<>:"|?*')
    assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp", "Cs") for c in name)
    assert not name.startswith(".") and not name.endswith((".", " "))
    assert name.split(".")[0].strip().upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT9"}
    assert len(name) <= MAX_FOLDER_CHARS and len(name.encode("utf-8")) <= MAX_FOLDER_BYTES


def test_ordinary_labels_keep_their_names_and_unsafe_ones_read_alike():
    assert [safe_folder_name(x) for x in ("cat", "golden retriever", "Ångström", "9")] == [
        "cat",
        "golden retriever",
        "Ångström",
        "9",
    ]
    assert safe_folder_name("a/b") == "a_b"
    assert safe_folder_name("CON") == "CON_"
    assert safe_folder_name("..") == "_"
    assert safe_folder_name("A\u030a") == "Å"  # one normal form: macOS would store NFD


def test_labels_that_meet_in_one_name_get_numbered_and_unknown_comes_last():
    mapping = folder_names(["a/b", "a_b", "Cat", "cat", "unknown", "CON", "con"])
    assert mapping == {
        "a/b": "a_b",
        "a_b": "a_b (2)",
        "Cat": "Cat",
        "cat": "cat (2)",  # one folder on Windows and macOS
        "unknown": "unknown",
        "CON": "CON_",
        "con": "con_ (2)",
        None: "unknown (2)",
    }
    assert folder_names(CLASSES)[None] == UNKNOWN_FOLDER


# ------------------------------------------------------------------------------ planning


def test_the_plan_follows_persons_then_threshold_and_leaves_the_rest(tmp_path: Path):
    dest = tmp_path / "sorted"
    p = [tmp_path / f"{n}.jpg" for n in range(9)]
    items = [
        SortInput(p[0], "cat", 0.95),
        SortInput(p[1], "cat", 0.40),  # under the threshold
        SortInput(p[2], "dog", 0.99, person_label="bird"),  # a person's label wins
        SortInput(p[3], person_label="Dog"),  # no result, but a person's label: the class
        SortInput(p[4], error="cannot identify image", person_label="my/own"),
        SortInput(p[5], error="cannot identify image"),
        SortInput(p[6]),  # not classified
        SortInput(dest / "cat" / "old.jpg", "cat", 0.99),  # already sorted: left alone
        SortInput(p[8], "dog", 0.5),  # exactly the threshold: kept
        SortInput(dest / "Unknown" / "a" / "b.jpg", "dog", 0.9),  # sorted (case aside)
        SortInput(dest / "my_own" / "c.jpg", "dog", 0.9),  # a person's label's folder
        SortInput(dest / "holiday" / "d.jpg", "dog", 0.9),  # not a label: sorted
    ]
    plan = plan_sort(items, dest, CLASSES, decider=Decider(0.5, from_confidence=True))
    where = {placement.source: placement.folder for placement in plan.placements}
    assert where == {
        p[0]: "cat",
        p[1]: "unknown",
        p[2]: "bird",
        p[3]: "dog",
        p[4]: "my_own",
        p[8]: "dog",
        dest / "holiday" / "d.jpg": "dog",
    }
    assert [(f.folder, f.label, f.files, f.by_person) for f in plan.folders] == [
        ("bird", "bird", 1, 1),
        ("cat", "cat", 1, 0),
        ("dog", "dog", 3, 1),
        ("my_own", "my/own", 1, 1),
        ("unknown", None, 1, 0),
    ]
    assert plan.unreadable == (p[5],) and plan.not_classified == (p[6],)
    assert plan.in_folders == 3 and plan.already_sorted == 0 and plan.resumes is None


def test_without_a_decider_nothing_is_unknown(tmp_path: Path):
    plan = plan_sort([SortInput(tmp_path / "x.jpg", "dog", 0.01)], tmp_path / "d", CLASSES)
    assert [f.folder for f in plan.folders] == ["dog"]


def test_a_model_with_its_own_threshold_sorts_by_its_score_not_its_confidence(tmp_path: Path):
    p = [tmp_path / f"{n}.jpg" for n in range(4)]
    items = [
        SortInput(p[0], "cat", 0.99, ood_score=-0.9),  # sure, but like no training image
        SortInput(p[1], "cat", 0.30, ood_score=-0.2),  # unsure, but like the training images
        SortInput(p[2], "dog", 0.99, ood_score=-0.5),  # exactly the threshold: kept
        SortInput(p[3], "dog", 0.10),  # stored without a score: known, as predict says
    ]
    decider = Decider(-0.5)
    plan = plan_sort(items, tmp_path / "d", CLASSES, decider=decider)
    where = {placement.source: placement.folder for placement in plan.placements}
    assert where == {p[0]: "unknown", p[1]: "cat", p[2]: "dog", p[3]: "dog"}
    assert plan.decider == decider
    for item in items:  # the same reading as predict's decision column
        prediction = Prediction(item.path, (item.label,), (item.confidence,), (0,),
                                ood_score=item.ood_score)  # fmt: skip
        decision = decider.decide(prediction)
        assert where[item.path] == (UNKNOWN_FOLDER if decision == "unknown" else decision)


def test_a_class_keeps_its_folder_name_whichever_images_are_sorted(tmp_path: Path):
    classes = ("Cat", "cat")
    only_second = plan_sort([SortInput(tmp_path / "1.jpg", "cat", 1.0)], tmp_path / "d", classes)
    assert [f.folder for f in only_second.folders] == ["cat (2)"]


# ------------------------------------------------------------------------------ sorting


@pytest.mark.parametrize("mode", ["copy", "move", "link"])
def test_every_mode_places_each_file_once_and_undo_puts_everything_back(tmp_path: Path, mode):
    files = make_images(tmp_path / "src", 12)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    events = sort_all(labels, dest, mode)
    assert_sorted(files, labels, tmp_path / "src", dest, mode)
    assert isinstance(events[0], SortStarted) and events[0].total == 12
    hows = {event.how for event in events_of(FileSorted, events)}
    assert hows == {{"copy": COPIED, "move": MOVED, "link": HARD_LINK}[mode]}
    if mode == "link":
        assert all(os.path.samefile(e.source, e.target) for e in events_of(FileSorted, events))
    end = finished(events)
    assert end.failed == 0 and not end.cancelled
    assert dict(end.placed) == dict(Counter(labels.values()))
    (journal,) = journals(dest)
    assert read_journal(journal).done

    undone = list(undo_sort(journal))
    assert finished(undone).restored == 12 and finished(undone).kept == 0
    assert_restored(files, tmp_path / "src", dest)
    assert read_journal(journal).undo == "done"


def test_a_name_in_use_gets_a_number_and_nothing_is_written_over(tmp_path: Path):
    files = make_images(tmp_path / "src", 2)
    first, second = files
    dest = tmp_path / "sorted"
    (dest / "cat").mkdir(parents=True)
    (dest / "cat" / first.name).write_bytes(b"somebody else's")
    renamed = second.with_name(first.name)  # same name, other folder, other bytes
    second.rename(renamed)
    events = sort_all({first: "cat", renamed: "cat"}, dest, "copy")
    assert sorted(e.target.name for e in events_of(FileSorted, events)) == [
        "img_000 (2).jpg",
        "img_000 (3).jpg",
    ]
    assert (dest / "cat" / first.name).read_bytes() == b"somebody else's"
    list(undo_sort(journals(dest)[0]))
    assert tree(dest / "cat") == {first.name: b"somebody else's"}


def test_a_folder_sorted_into_itself_moves_and_comes_back(tmp_path: Path):
    files = make_images(tmp_path / "photos", 6)
    labels = labelled(files)
    events = sort_all(labels, tmp_path / "photos", "move")
    assert finished(events).failed == 0
    assert sorted(tree(tmp_path / "photos/cat")) == sorted(
        p.name for p, label in labels.items() if label == "cat"
    )
    again = plan_for({e.target: labels[e.source] for e in events_of(FileSorted, events)},
                     tmp_path / "photos")  # fmt: skip
    assert again.placements == () and again.in_folders == 6
    list(undo_sort(journals(tmp_path / "photos")[0]))
    assert tree(tmp_path / "photos") == {
        **{str(p.relative_to(tmp_path / "photos")): d for p, d in files.items()},
        journals(tmp_path / "photos")[0].name: journals(tmp_path / "photos")[0].read_bytes(),
    }


def test_copying_again_skips_the_files_already_there(tmp_path: Path):
    files = make_images(tmp_path / "src", 6)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    sort_all(labels, dest, "copy")
    again = sort_all(labels, dest, "copy")
    assert {e.how for e in events_of(FileSorted, again)} == {ALREADY_THERE}
    assert_sorted(files, labels, tmp_path / "src", dest, "copy")
    assert len(journals(dest)) == 2 and all(read_journal(j).done for j in journals(dest))


@pytest.mark.parametrize("mode", ["move", "link"])
def test_another_device_moves_by_verified_copy_and_links_symbolically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str
):
    files = make_images(tmp_path / "src", 6)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    dates = {path: path.stat().st_mtime_ns for path in files}
    with other_device(monkeypatch):
        events = sort_all(labels, dest, mode)
        placed = events_of(FileSorted, events)
        assert {e.how for e in placed} == {MOVED_BY_COPY if mode == "move" else SYMLINK}
        if mode == "move":
            assert_sorted(files, labels, tmp_path / "src", dest, mode)
            assert all(e.target.stat().st_mtime_ns == dates[e.source] for e in placed)
        else:
            assert all(os.readlink(e.target) == str(e.source) for e in placed)
        list(undo_sort(journals(dest)[0]))  # back across the device too
    assert_restored(files, tmp_path / "src", dest)


def test_a_move_without_hard_links_renames(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    files = make_images(tmp_path / "src", 4)
    labels = labelled(files)

    def no_links(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    events = sort_all(labels, tmp_path / "sorted", "move")
    assert {e.how for e in events_of(FileSorted, events)} == {MOVED}
    assert_sorted(files, labels, tmp_path / "src", tmp_path / "sorted", "move")


def test_a_copy_that_does_not_verify_deletes_nothing(tmp_path: Path, monkeypatch):
    files = make_images(tmp_path / "src", 3)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    monkeypatch.setattr(file_steps, "file_digest", lambda path: (0, "bad"))
    with other_device(monkeypatch):
        events = sort_all(labels, dest, "move")
    failures = events_of(FileFailed, events)
    assert len(failures) == 3 and all("differs" in f.reason for f in failures)
    assert finished(events).failed == 3
    assert_restored(files, tmp_path / "src", dest)
    steps = read_journal(journals(dest)[0]).steps
    assert [(s.outcome, s.left) for s in steps] == [("failed", False)] * 3


def test_symbolic_links_are_not_moved_but_may_be_copied(tmp_path: Path):
    files = make_images(tmp_path / "src", 1)
    (original,) = files
    link = tmp_path / "src" / "link.jpg"
    link.symlink_to(original)
    dest = tmp_path / "sorted"
    events = sort_all({link: "cat"}, dest, "move")
    (failure,) = events_of(FileFailed, events)
    assert "symbolic link" in failure.reason and link.is_symlink()
    assert failure.remedy == REMEDY_SORT_COPY_OR_LINK and "--" not in failure.reason
    sort_all({link: "cat"}, dest, "copy")
    assert (dest / "cat" / "link.jpg").read_bytes() == files[original]


def test_undo_keeps_a_copy_that_was_changed_since(tmp_path: Path):
    files = make_images(tmp_path / "src", 3)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    events = sort_all(labels, dest, "copy")
    edited = events_of(FileSorted, events)[0].target
    edited.write_bytes(b"edited by a person")
    undone = list(undo_sort(journals(dest)[0]))
    (kept,) = events_of(FileKept, undone)
    assert kept.target == edited and "differs" in kept.reason
    assert finished(undone).kept == 1 and finished(undone).restored == 2
    placed = {name for name in tree(dest) if not name.startswith(PREFIX)}
    assert placed == {str(edited.relative_to(dest))}
    assert edited.read_bytes() == b"edited by a person"
    originals = {str(p.relative_to(tmp_path / "src")): d for p, d in files.items()}
    assert tree(tmp_path / "src") == originals


def test_undo_moves_back_a_file_whose_original_was_deleted(tmp_path: Path):
    files = make_images(tmp_path / "src", 2)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    sort_all(labels, dest, "copy")
    next(iter(files)).unlink()
    undone = list(undo_sort(journals(dest)[0]))
    assert {e.how for e in events_of(FileRestored, undone)} == {"moved back", "removed"}
    assert_restored(files, tmp_path / "src", dest)


# ------------------------------------------------------------------------------ stop, resume


def stop_after(count: int) -> Callable[[], bool]:
    calls = iter(range(1_000_000))
    return lambda: next(calls) >= count


@pytest.mark.parametrize("mode", ["copy", "move"])
def test_a_stopped_sort_resumes_where_it_stopped(tmp_path: Path, mode: str):
    files = make_images(tmp_path / "src", 10)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    first = sort_all(labels, dest, mode, should_stop=stop_after(4))
    assert finished(first).cancelled and len(events_of(FileSorted, first)) == 4
    (journal,) = journals(dest)
    assert unfinished_sort(dest).path == journal
    plan = plan_for(labels, dest)
    assert plan.resumes == journal and plan.already_sorted == 4 and len(plan.placements) == 6
    second = list(run_sort(plan, mode))
    assert second[0].resumed and len(events_of(FileSorted, second)) == 6
    assert journals(dest) == [journal] and read_journal(journal).done
    assert_sorted(files, labels, tmp_path / "src", dest, mode)
    list(undo_sort(journal))
    assert_restored(files, tmp_path / "src", dest)


def test_an_unfinished_sort_is_finished_or_undone_before_another(tmp_path: Path):
    files = make_images(tmp_path / "src", 4)
    labels = labelled(files)
    dest = tmp_path / "sorted"
    sort_all(labels, dest, "move", should_stop=stop_after(1))
    (journal,) = journals(dest)
    with pytest.raises(UserError, match=r"holds an unfinished sort by move$") as refused:
        sort_all(labels, dest, "copy")
    assert refused.value.remedy == REMEDY_SORT_SAME_MODE  # each front end words how
    assert refused.value.fields == {"mode": "move", "journal": journal}
    undone = list(undo_sort(journal, should_stop=stop_after(0)))
    assert finished(undone).cancelled
    with pytest.raises(UserError, match=r"undo .* was interrupted$") as refused:
        sort_all(labels, dest, "move")
    assert refused.value.remedy == REMEDY_SORT_FINISH_UNDO
    assert refused.value.fields == {"journal": journal}
    list(undo_sort(journal))
    assert unfinished_journals(dest) == []
    assert_restored(files, tmp_path / "src", dest)


def test_two_sorts_into_one_folder_do_not_run_at_once(tmp_path: Path):
    files = make_images(tmp_path / "src", 2)
    dest = tmp_path / "sorted"
    running = run_sort(plan_for(labelled(files), dest), "copy")
    next(running)  # started: holds the destination
    with pytest.raises(UserError, match="another sort or undo"):
        sort_all(labelled(files), dest, "copy")
    running.close()


# ------------------------------------------------------------------------------ the journal


def test_a_line_cut_short_by_a_crash_is_ignored_and_trimmed(tmp_path: Path):
    files = make_images(tmp_path / "src", 3)
    dest = tmp_path / "sorted"
    sort_all(labelled(files), dest, "copy", should_stop=stop_after(2))
    (journal,) = journals(dest)
    with open(journal, "ab") as handle:
        handle.write(b'{"record": "begin", "step": 3, "sour')
    assert len(read_journal(journal).steps) == 2
    JournalWriter.append_to(journal).close()
    assert journal.read_bytes().endswith(b"\n")
    assert len(read_journal(journal).steps) == 2


HEADER = b'{"record": "sort", "version": 1, "mode": "copy", "dest": "/", "started": ""}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "nothing to undo"),
        (HEADER[:30], "nothing to undo"),
        (b'{"record": "other"}\n', "not a sort journal"),
        (HEADER.replace(b'"version": 1', b'"version": 99'), "newer version"),
        (HEADER + b'{"record": "ok", "step": 1}\n', "line 2"),
        (HEADER + b'{"record": "begin", "step": 1, "source": 5, "target": "t"}\n', "line 2"),
        (HEADER + b"[1, 2]\n", "line 2"),
        (HEADER + b"x" * 70_000 + b"\n", "too long"),
    ],
)
def test_a_damaged_journal_is_refused_with_the_reason(tmp_path: Path, content: bytes, message):
    journal = tmp_path / "journal.jsonl"
    journal.write_bytes(content)
    with pytest.raises(JournalError, match=message):
        read_journal(journal)


def test_paths_that_are_not_utf8_round_trip_through_the_journal(tmp_path: Path):
    if sys.platform in ("win32", "darwin"):
        pytest.skip("only POSIX file systems other than macOS take any bytes in names")
    source = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.jpg"))
    source.write_bytes(b"bytes")
    dest = tmp_path / "sorted"
    events = sort_all({source: "cat"}, dest, "move")
    (placed,) = events_of(FileSorted, events)
    assert read_journal(journals(dest)[0]).steps[0].source == source
    list(undo_sort(journals(dest)[0]))
    assert source.read_bytes() == b"bytes" and not placed.target.exists()


# ------------------------------------------------------------------------------ crashes


class _Crash(BaseException):
    """What a kill at one system call looks like to the code that was running."""


@contextlib.contextmanager
def crash_at(call: int) -> Iterator[list[int]]:
    """Fail the ``call``-th file-system change, and every one after it, as a kill would."""
    names = ("link", "unlink", "rename", "symlink", "mkdir", "fsync", "write", "ftruncate")
    real = {name: getattr(os, name) for name in names}
    count = [0]

    def wrapped(name: str):
        def call_through(*args, **kwargs):
            count[0] += 1
            if count[0] >= call:
                raise _Crash(name)
            return real[name](*args, **kwargs)

        return call_through

    try:
        for name in names:
            setattr(os, name, wrapped(name))
        yield count
    finally:
        for name, function in real.items():
            setattr(os, name, function)


CRASH_CASES = ["copy", "move", "link", "move to another device"]


@pytest.mark.parametrize("case", CRASH_CASES)
def test_a_crash_at_any_system_call_then_undo_or_resume_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
):
    mode = case.split()[0]
    monkeypatch.setattr(os, "fsync", lambda fd: None)  # a kill keeps what the OS was given
    devices = other_device(monkeypatch) if "device" in case else contextlib.nullcontext()
    with devices:
        calls = _calls_of_a_whole_sort(tmp_path / "count", mode)
        assert calls > 10
        for call in range(1, calls + 1):
            for then in ("undo", "resume"):
                root = tmp_path / f"{call}-{then}"
                files = make_images(root / "src", 4, max_bytes=3000)
                labels = labelled(files)
                dest = root / "sorted"
                with crash_at(call), pytest.raises(_Crash):
                    sort_all(labels, dest, mode)
                if then == "undo":
                    undo_all(dest)
                    assert_restored(files, root / "src", dest)
                else:
                    sort_all(labels, dest, mode)
                    assert_sorted(files, labels, root / "src", dest, mode)


def _calls_of_a_whole_sort(root: Path, mode: str) -> int:
    """How many calls a sort makes (once the lock folder exists, as it does from then on)."""
    for attempt in ("first", "counted"):
        files = make_images(root / attempt / "src", 4, max_bytes=3000)
        with crash_at(10**9) as count:
            sort_all(labelled(files), root / attempt / "sorted", mode)
    return count[0]


# ------------------------------------------------------------------------------ killed


_CHILD = r"""
import errno, json, os, sys
from pathlib import Path
from resnet_desktop.core.sorting import SortInput, plan_sort, run_sort, unfinished_sort

spec = json.loads(Path(sys.argv[1]).read_text())
dest = Path(spec["dest"])
if spec["other_device"]:
    real = {"link": os.link, "rename": os.rename}
    inside = spec["dest"] + os.sep

    def across(name):
        def call(first, second, *args, **kwargs):
            if str(first).startswith(inside) != str(second).startswith(inside):
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return real[name](first, second, *args, **kwargs)
        return call

    os.link, os.rename = across("link"), across("rename")
# As a scan would: only the files still there (a move took the others away).
items = [SortInput(Path(p), label, 0.9) for p, label in spec["labels"] if os.path.exists(p)]
plan = plan_sort(items, dest, spec["classes"], resume=unfinished_sort(dest))
print("ready", flush=True)
if plan.placements or plan.resumes:  # as the sort command does
    for event in run_sort(plan, spec["mode"]):
        pass
print("finished", flush=True)
"""


def _child(spec: Path) -> subprocess.Popen:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(spec)],
        env={**os.environ, "PYTHONPATH": path},
        stdout=subprocess.PIPE,
        text=True,
    )


def _write_spec(root: Path, seed: int, mode: str, other_device: bool):
    files = make_images(root / "src", 30, seed=seed, max_bytes=200_000)
    labels = labelled(files, seed)
    spec = root / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "dest": str(root / "sorted"),
                "mode": mode,
                "other_device": other_device,
                "classes": CLASSES,
                "labels": [[str(path), label] for path, label in labels.items()],
            }
        )
    )
    return files, labels, spec


def _run_to_the_end(spec: Path) -> float:
    """Run the child to its end; the seconds it took after start-up."""
    child = _child(spec)
    assert child.stdout.readline() == "ready\n"
    start = time.monotonic()
    with child.stdout:
        output = child.stdout.read()  # not communicate(): readline may have buffered it
    assert child.wait(timeout=120) == 0 and output == "finished\n"
    return time.monotonic() - start


KILL_CASES = [("move", False), ("move", True), ("copy", False)]


@pytest.fixture(scope="module")
def sort_seconds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, bool], float]:
    """How long each kind of sort of 30 files takes here: the span to kill it in."""
    seconds = {}
    for mode, other in KILL_CASES:
        root = tmp_path_factory.mktemp("timing")
        seconds[mode, other] = _run_to_the_end(_write_spec(root, 99, mode, other)[2])
    return seconds


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("mode", "other_device"), KILL_CASES)
@pytest.mark.parametrize("then", ["undo", "resume"])
def test_a_sort_killed_at_a_random_moment_undoes_or_resumes_cleanly(
    tmp_path: Path, sort_seconds, seed: int, mode: str, other_device: bool, then: str
):
    files, labels, spec = _write_spec(tmp_path, seed, mode, other_device)
    dest = tmp_path / "sorted"
    child = _child(spec)
    assert child.stdout.readline() == "ready\n"
    rng = random.Random(f"{seed}{mode}{other_device}{then}")
    time.sleep(rng.uniform(0, sort_seconds[mode, other_device]))
    child.kill()  # SIGKILL on POSIX
    child.communicate(timeout=60)
    if then == "undo":
        undo_all(dest)
        assert_restored(files, tmp_path / "src", dest)
    else:
        _run_to_the_end(spec)
        assert_sorted(files, labels, tmp_path / "src", dest, mode)
        # one journal, or a second when a copy had finished before the kill (a rerun of
        # the copy then finds every file already there)
        assert all(read_journal(j).done for j in journals(dest) if j.stat().st_size)


def test_partial_files_are_named_briefly_and_hidden():
    target = Path("/x") / ("n" * 250 + ".jpg")
    assert partial_path(target).name.startswith(".") and len(partial_path(target).name) < 60
