"""Planning a sort into folders from the results catalog: what the CLI and the window share.

A sort uses only stored results, and only those of the very model named: its identity
includes the sha256 of its weights file, so a retrained model's folder never mixes in
another version's answers. Images without a result are left alone (classify them
first); a person's label, from the same catalog, wins over the model's. An image goes
to ``unknown`` exactly when ``predict``'s ``decision`` column says so: the model's own
"unknown" threshold on its stored OOD score, or the threshold given (see
:func:`~resnet_desktop.app.unknown.decider_for`). The plan is
then run or undone with :mod:`resnet_desktop.core.sorting`, through
:func:`follow_moves`, so that moved files keep their results and labels.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from resnet_desktop.app.model_identity import ModelArgs, identify_model
from resnet_desktop.app.unknown import decider_for
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog import Catalog, FileSignature, ModelIdentity
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.file_steps import Mode
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.sort_journal import PREFIX as JOURNAL_PREFIX
from resnet_desktop.core.sort_journal import SUFFIX as JOURNAL_SUFFIX
from resnet_desktop.core.sort_journal import read_journal
from resnet_desktop.core.sorting import (
    FileRestored,
    FileSorted,
    SortEvent,
    SortInput,
    SortPlan,
    UndoEvent,
    plan_sort,
    run_sort,
    undo_sort,
    unfinished_sort,
)

PathLike = str | Path
Event = TypeVar("Event", SortEvent, UndoEvent)
Move = tuple[Path, Path, FileSignature]
StopCheck = Callable[[], bool]
FOLLOW_BATCH = 200  # moves recorded per catalog transaction


def load_identity(
    name: str, weights: PathLike | None = None, classes: PathLike | None = None
) -> ModelIdentity:
    """The identity of the model ``predict --model name [--weights] [--classes]`` ran.

    Never downloads weights: a model whose weights are not here has classified nothing
    here.

    Raises:
        UserError: random weights, ImageNet weights not on this machine, or any reason
            the model cannot be identified.
    """
    identified = identify_model(ModelArgs(name, weights, classes), download=False)
    if identified.identity is None:
        raise UserError("results of random weights are never recorded: nothing to sort by")
    return identified.identity


def stored_inputs(
    catalog: Catalog, identity: ModelIdentity, paths: Sequence[Path]
) -> Iterator[SortInput]:
    """Each image with the model's stored top-1 result (and OOD score) and a person's
    label, in order.

    A result of a file changed since it was classified does not count.
    """
    model = catalog.find_model(identity)
    results = (
        catalog.results_for(paths, model, top_k=1)
        if model is not None
        else ((path, None) for path in paths)
    )
    for (path, result), (_, label) in zip(results, catalog.person_labels(paths), strict=True):
        if result is None:
            yield SortInput(path, person_label=label)
        elif result.error is not None:
            yield SortInput(path, error=result.error, person_label=label)
        else:
            yield SortInput(
                path, result.labels[0], result.probs[0], result.ood_score, person_label=label
            )


def prepare_sort(
    paths: Sequence[PathLike],
    identity: ModelIdentity,
    dest: PathLike,
    *,
    decider: Decider | None = None,
    catalog_path: PathLike | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SortPlan:
    """The plan for sorting the images in ``paths`` (files or folders) into ``dest``.

    An unfinished sort in ``dest`` is accounted for: the files it placed are not planned
    again (running the sort continues it).

    Raises:
        UserError: a path does not exist, there are no images, the catalog cannot be read,
            or ``dest`` holds a damaged journal or several unfinished sorts.
    """
    images = list(scan_images(paths, should_stop))
    if not images:
        raise UserError("no images found in " + ", ".join(str(path) for path in paths))
    where = Path(catalog_path) if catalog_path is not None else app_paths.catalog_path()
    with contextlib.ExitStack() as stack:
        if where.is_file():
            catalog = stack.enter_context(Catalog.open(where, read_only=True))
            inputs: Iterable[SortInput] = stored_inputs(catalog, identity, images)
        else:  # nothing was ever classified: every image is left alone
            inputs = (SortInput(path) for path in images)
        return plan_sort(
            inputs,
            Path(dest),
            identity.class_names,
            decider=decider,
            resume=unfinished_sort(Path(dest)),
        )


def follow_moves(events: Iterable[Event], catalog_path: PathLike | None = None) -> Iterator[Event]:
    """Pass a sort's or an undo's events on, moving the catalog's records with moved files.

    A move changes a file's path and ctime, so without this its results would be lost
    (and after ``sort --undo``, the originals' results too): the next sort would find
    them unclassified. Records move in batches, the last when the events end.
    """
    where = Path(catalog_path) if catalog_path is not None else app_paths.catalog_path()
    if not where.is_file():
        yield from events
        return
    with Catalog.open(where) as catalog:
        batch: list[Move] = []
        try:
            for event in events:
                move = move_of(event)
                if move is not None:
                    batch.append(move)
                if len(batch) >= FOLLOW_BATCH:
                    catalog.moved(batch)
                    batch.clear()
                yield event
        finally:
            if batch:
                catalog.moved(batch)


@dataclass(frozen=True)
class SortPreview:
    """A plan, and how many listed files were gone (moved or deleted since listing)."""

    plan: SortPlan
    gone: int


def preview_job(
    listed: Callable[[StopCheck], Sequence[PathLike]],
    model: str,
    dest: PathLike,
    *,
    threshold: float | None = None,
    catalog_path: PathLike | None = None,
) -> Callable[[StopCheck], Iterator[SortPreview]]:
    """A job for a worker: the plan for sorting the images ``listed`` gives, by ``model``.

    ``threshold``: in place of the model's own "unknown" threshold, on its score (a
    top-1 probability for a model without one), as ``predict --threshold`` takes it.
    A window's list can hold files moved or deleted since: they are left out and counted.

    Raises (in the worker):
        OodError: ``threshold`` is outside what the model's score can be.
    """

    def job(should_stop: StopCheck) -> Iterator[SortPreview]:
        given = listed(should_stop)
        if should_stop():
            return
        paths = [path for path in given if os.path.lexists(path)]
        identity = load_identity(model)
        plan = prepare_sort(
            paths,
            identity,
            dest,
            decider=decider_for(model, threshold),
            catalog_path=catalog_path,
            should_stop=should_stop,
        )
        yield SortPreview(plan, len(given) - len(paths))

    return job


def sort_job(
    plan: SortPlan, mode: Mode, catalog_path: PathLike | None = None
) -> Callable[[StopCheck], Iterator[SortEvent]]:
    """A job for a worker: carry ``plan`` out (continuing what it resumes), records following."""
    return lambda should_stop: follow_moves(
        run_sort(plan, mode, plan.resumes, should_stop), catalog_path
    )


def undo_job(
    journal: PathLike, catalog_path: PathLike | None = None
) -> Callable[[StopCheck], Iterator[UndoEvent]]:
    """A job for a worker: put back what the sort journaled in ``journal`` did; given a
    folder, the latest sort into it that is not undone yet."""

    def job(should_stop: StopCheck) -> Iterator[UndoEvent]:
        where = Path(journal)
        chosen = latest_sort(where) if where.is_dir() else where
        yield from follow_moves(undo_sort(chosen, should_stop), catalog_path)

    return job


def latest_sort(dest: Path) -> Path:
    """The journal of the latest sort into ``dest`` that has not been undone.

    Raises:
        UserError: there is none (journals are kept in the folder sorted into).
    """
    for path in sorted(dest.glob(f"{JOURNAL_PREFIX}*{JOURNAL_SUFFIX}"), reverse=True):
        if read_journal(path).undo != "done":
            return path
    raise UserError(f"no sort into {dest} is left to undo (its journal is kept there)")


def move_of(event: SortEvent | UndoEvent) -> Move | None:
    """(old path, new path, signature at the old path) of a file an event says was moved."""
    match event:
        case FileSorted(source, target, moved_from=before) if before is not None:
            return source, target, before
        case FileRestored(source, target, moved_from=before) if before is not None:
            return target, source, before
    return None
