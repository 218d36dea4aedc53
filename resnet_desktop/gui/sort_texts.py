"""What the sort dialog says: the preview's sentence, the summaries of a sort and an undo.

Plain functions of the core's plan and events, so the tests read the same words.
"""

from __future__ import annotations

from collections.abc import Sequence

from resnet_desktop.app.formatting import format_duration
from resnet_desktop.app.unknown import unknown_rule
from resnet_desktop.core.file_steps import Mode
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.sorting import SortFinished, SortPlan, UndoFinished

SHOWN_FAILURES = 5
_PAST = {"copy": "copied", "move": "moved", "link": "linked"}
_VERB = {"copy": "copying", "move": "moving", "link": "linking"}


def verb(mode: Mode) -> str:
    return _VERB[mode]


def _past(mode: Mode) -> str:
    return _PAST[mode]


def folder_holds(label: str | None, folder: str, decider: Decider | None) -> str:
    """What a preview row says a folder holds: its label, spelled as the model does."""
    if label is None:
        return "images with " + unknown_rule(decider) if decider is not None else "unknown"
    return label if label == folder else f"{label}  (renamed to a safe folder name)"


def plan_text(plan: SortPlan, model: str, mode: Mode, gone: int = 0) -> str:
    """The preview's sentence: how many go where, what stays, what a resumed sort did."""
    files = sum(folder.files for folder in plan.folders)
    parts = [f"{_count(files, 'image')} will be {_past(mode)} into {plan.dest}."]
    if plan.decider is not None:
        parts.append(f"Images with {unknown_rule(plan.decider)} go to 'unknown'.")
    if gone:
        parts.append(f"{_count(gone, 'listed file')} no longer there (moved or deleted).")
    if plan.not_classified:
        parts.append(
            f"{_count(len(plan.not_classified), 'image')} not classified by {model} yet stay "
            "where they are (classify them first)."
        )
    if plan.unreadable:
        parts.append(f"{_count(len(plan.unreadable), 'image')} {model} could not read stay too.")
    if plan.in_folders:
        parts.append(f"{_count(plan.in_folders, 'image')} already in these folders stay.")
    if plan.resumes is not None:
        parts.append(f"Continues an interrupted sort ({plan.already_sorted} placed before).")
    return " ".join(parts)


def sort_summary(end: SortFinished, mode: Mode, failures: Sequence[str]) -> str:
    """What went where, and what did not."""
    placed = sum(count for _, count in end.placed)
    where = ", ".join(f"{folder} {count}" for folder, count in end.placed)
    text = f"{_past(mode).capitalize()} {_count(placed, 'file')} in {format_duration(end.elapsed)}"
    text += f": {where}." if where else "."
    if end.already_there:
        text += f" {end.already_there} were already there."
    text += _failure_text(failures, "failed")
    if end.cancelled:
        text += " Cancelled: sort again into the same folder to finish, or undo it."
    return text + f"\nJournal: {end.journal}"


def undo_summary(end: UndoFinished, failures: Sequence[str]) -> str:
    text = f"Put back {_count(end.restored, 'file')} in {format_duration(end.elapsed)}."
    text += _failure_text(failures, "kept as they are")
    if end.cancelled:
        text += " Cancelled: undo again to finish."
    return text


def _failure_text(failures: Sequence[str], what: str) -> str:
    if not failures:
        return ""
    shown = "; ".join(failures[:SHOWN_FAILURES])
    more = f" and {len(failures) - SHOWN_FAILURES} more" if len(failures) > SHOWN_FAILURES else ""
    return f" {len(failures)} {what}: {shown}{more}."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
