"""Reviewing results: the labels a person gives, from a key press to the catalog and CSV.

A person corrects a result by giving the image a label; the catalog keeps it as a label
*a person* gave (never mixed with the model's results), the latest one winning, so an
undo removes the latest and the one before shows again. The window sends
:class:`SetPersonLabel` and :class:`UndoPersonLabel` to the listing's thread, which owns
the catalog connection (:func:`apply_label`); the keys that choose a label
(:func:`shortcut_labels`, :func:`typed_label`) and the undo history are plain Python so
the CLI, tests and the window agree on them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.core.catalog import Catalog, LabelError, clean_label
from resnet_desktop.core.errors import user_message
from resnet_desktop.core.predictor import Prediction

PERSON_COLUMN = "label_by_person"  # the CSV column of the labels a person gave
SHORTCUT_KEYS = "1234567890"  # key i gives the i-th shortcut label
UNDO_DEPTH = 1000  # labels a session can take back, newest first


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True, eq=False)  # eq=False: two equal key presses are two labels
class SetPersonLabel:
    """Record ``label`` as a person's answer for ``path`` (to the model the view shows)."""

    path: Path
    label: str


@dataclass(frozen=True, eq=False)
class UndoPersonLabel:
    """Take back the label numbered ``number`` (as :class:`PersonLabelChanged` gave it)."""

    number: int
    path: Path


@dataclass(frozen=True)
class PersonLabelChanged:
    """The label a person gave ``path`` is now ``label`` (None: none).

    ``number``: the label just set, for an undo; None when this was an undo.
    ``delta``: how the count of labelled images changed (-1, 0 or 1).
    """

    path: Path
    label: str | None
    number: int | None
    delta: int


@dataclass(frozen=True)
class LabelRefused:
    path: Path | None
    message: str


def apply_label(
    catalog: Catalog, model: int | None, request: SetPersonLabel | UndoPersonLabel
) -> PersonLabelChanged | LabelRefused:
    """Carry out ``request`` in ``catalog`` (in the thread that owns its connection)."""
    if isinstance(request, UndoPersonLabel):
        now = catalog.remove_person_label(request.number, request.path)
        if now is None:
            message = f"nothing to undo: the label of {request.path.name} is gone from the catalog"
            return LabelRefused(request.path, message)
        return PersonLabelChanged(request.path, now.label, None, -1 if now.label is None else 0)
    try:
        before = next(iter(catalog.person_labels([request.path])))[1]
        number = catalog.set_person_label(request.path, request.label, model)
    except LabelError as error:
        return LabelRefused(request.path, user_message(error))
    label = clean_label(request.label)
    return PersonLabelChanged(request.path, label, number, 0 if before is not None else 1)


# ------------------------------------------------------------------------------ keys


def shortcut_labels(class_names: Sequence[str], prediction: Prediction | None) -> tuple[str, ...]:
    """The labels keys 1, 2, ..., 9, 0 give, in that order.

    A model of at most ten classes: its classes, the same key for a class on every
    image (quick to learn). A larger one: this image's top-k, most likely first.
    """
    if len(class_names) <= len(SHORTCUT_KEYS):
        return tuple(class_names)
    if prediction is None or not prediction.ok:
        return ()
    return tuple(prediction.labels[: len(SHORTCUT_KEYS)])


def label_for_key(key: str, labels: Sequence[str]) -> str | None:
    """The label a digit key gives among ``labels``; None for another key or none left."""
    position = SHORTCUT_KEYS.find(key) if len(key) == 1 else -1
    return labels[position] if 0 <= position < len(labels) else None


def typed_label(text: str, class_names: Sequence[str]) -> str:
    """What a person typed, as the class name it names (case aside), else as typed.

    Raises:
        LabelError: nothing usable was typed.
    """
    label = clean_label(text)
    folded = label.casefold()
    return next((name for name in class_names if name.casefold() == folded), label)


def accepted_label(prediction: Prediction | None) -> str | None:
    """The label accepting the model's answer gives: its top-1 (None: nothing to accept)."""
    if prediction is None or not prediction.ok or not prediction.labels:
        return None
    return prediction.labels[0]


class UndoHistory:
    """The labels set in this session, newest last, each as (number, path)."""

    def __init__(self, depth: int = UNDO_DEPTH) -> None:
        self._done: deque[tuple[int, Path]] = deque(maxlen=depth)

    def __len__(self) -> int:
        return len(self._done)

    def push(self, number: int, path: Path) -> None:
        self._done.append((number, path))

    def pop(self) -> tuple[int, Path] | None:
        return self._done.pop() if self._done else None

    def clear(self) -> None:
        self._done.clear()


# ------------------------------------------------------------------------------ exports


def any_person_label(catalog: Catalog, paths: Iterable[Path]) -> bool:
    """Whether a person labelled any of ``paths`` (decides the CSV's person column)."""
    return any(label is not None for _, label in catalog.person_labels(paths))


def with_person_labels(
    catalog: Catalog, rows: Iterable[tuple[Path, Prediction | None]], paths: Iterable[Path]
) -> Iterator[tuple[Path, Prediction | None, str | None]]:
    """``rows`` (one per path of ``paths``, in order) each with its person's label."""
    for (path, prediction), (_, label) in zip(rows, catalog.person_labels(paths), strict=True):
        yield path, prediction, label
