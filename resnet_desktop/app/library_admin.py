"""Managing the library's models: what the Manage Models dialog lists and does, as jobs.

Every job reads or writes the disk, so the window runs them in a worker; each one that
changes the library yields the fresh listing afterwards, so the dialog shows what is
on disk, never what it assumes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from resnet_desktop.app.unknown import stored_setup
from resnet_desktop.core.library import DamagedEntry, LibraryModel, ModelLibrary
from resnet_desktop.core.model_export import OodFiles, export_model
from resnet_desktop.core.model_loader import RANDOM, load_model
from resnet_desktop.core.ood import OodError, OodSetup, score_range
from resnet_desktop.core.zoo import SPECS

ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class ModelSummary:
    """One library model as the dialog shows it."""

    name: str
    architecture: str  # the zoo's title, or the raw name of an architecture this version lacks
    class_names: tuple[str, ...]
    source: str
    created: str  # local date and time
    accuracy: float | None  # validation accuracy of fine-tuning's best epoch
    threshold: float | None  # the "none of my classes" threshold, when the model has one
    suggested: float | None = None  # the threshold fine-tuning suggested
    threshold_range: tuple[float, float] = (0.0, 1.0)  # what its score can be


@dataclass(frozen=True)
class Listing:
    """The library's models; ``done`` says what a job just changed ("" for a plain listing).

    ``renamed`` is the (old, new) name pair of a rename just done. ``damaged``: the
    entries that cannot be used, with the reason: the user can only delete them.
    """

    models: list[ModelSummary]
    folder: Path
    done: str = ""
    select: str | None = None
    renamed: tuple[str, str] | None = None
    damaged: list[DamagedEntry] = field(default_factory=list)


@dataclass(frozen=True)
class Exported:
    files: list[Path]


def summarise(model: LibraryModel) -> ModelSummary:
    spec = SPECS.get(model.architecture)
    return ModelSummary(
        name=model.name,
        architecture=spec.title if spec else model.architecture,
        class_names=model.class_names,
        source=describe_source(model),
        created=_local_time(model.created),
        accuracy=_number(model.metrics.get("accuracy")),
        threshold=_threshold(model.metrics.get("ood")),
        suggested=_suggested(model.metrics.get("ood")),
        threshold_range=_threshold_range(model.metrics.get("ood")),
    )


def describe_source(model: LibraryModel) -> str:
    """Where the weights came from, in words: fine-tuned from what, or imported."""
    if not (model.training or model.base_weights):
        return "imported weights file" if model.source_sha256 else "unknown"
    base = model.base_weights or ""
    kind, _, detail = base.partition(":")
    if base == RANDOM:
        start = "a random start"
    elif kind == "library":
        start = f"library model “{detail}”"
    elif kind == "file":
        start = f"the file {detail}"
    else:
        start = "ImageNet weights" if base else "unknown weights"
    return f"fine-tuned from {start}"


def _local_time(created: str) -> str:
    try:
        return datetime.fromisoformat(created).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return created


def _number(value: object) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None  # type: ignore[arg-type]


def _threshold(setup: object) -> float | None:
    """The OOD setup's threshold (stored under the metrics' ``ood``), if there is a valid one."""
    if setup is None:
        return None
    try:
        return OodSetup.from_dict(setup).threshold
    except OodError:
        return None


def _threshold_range(setup: object) -> tuple[float, float]:
    """The range of the setup's score: what an edited threshold may be."""
    if _threshold(setup) is None:
        return score_range("msp")
    return score_range(OodSetup.from_dict(setup).method)  # type: ignore[arg-type]


def _suggested(setup: object) -> float | None:
    if _threshold(setup) is None:
        return None
    return _number(setup.get("suggested"))  # type: ignore[union-attr]


def _listing(
    done: str = "", select: str | None = None, renamed: tuple[str, str] | None = None
) -> Listing:
    library = ModelLibrary()
    models, damaged = library.contents()
    summaries = [summarise(m) for m in models]
    return Listing(summaries, library.root, done, select, renamed, damaged)


def list_job(should_stop: ShouldStop) -> Iterator[Listing]:
    yield _listing()


def rename_job(name: str, new_name: str) -> Callable[[ShouldStop], Iterator[Listing]]:
    def job(should_stop: ShouldStop) -> Iterator[Listing]:
        ModelLibrary().rename(name, new_name)
        yield _listing(f"Renamed “{name}” to “{new_name}”", new_name, (name, new_name))

    return job


def class_names_job(
    name: str, class_names: Sequence[str]
) -> Callable[[ShouldStop], Iterator[Listing]]:
    def job(should_stop: ShouldStop) -> Iterator[Listing]:
        ModelLibrary().set_class_names(name, class_names)
        yield _listing(f"Saved the class names of “{name}”", select=name)

    return job


def threshold_job(name: str, threshold: float) -> Callable[[ShouldStop], Iterator[Listing]]:
    def job(should_stop: ShouldStop) -> Iterator[Listing]:
        ModelLibrary().set_ood_threshold(name, threshold)
        yield _listing(f"“{name}” now calls images scoring below {threshold:.4g} unknown", name)

    return job


def export_library_model(
    name: str, format: str, folder: Path, should_stop: ShouldStop | None = None
) -> list[Path]:
    """Export ``name``, a library model with its "unknown" setup and features, or a zoo one."""
    loaded = load_model(name, should_stop=should_stop)
    return export_model(loaded, format, folder, _ood_files(name))


def _ood_files(name: str) -> OodFiles | None:
    """The model's setup and features file; None without a setup or with its file gone."""
    setup = stored_setup(name)
    if setup is None:
        return None
    if setup.method != "knn":
        return OodFiles(setup.to_dict(), None)
    path = ModelLibrary().get(name).ood_path
    return OodFiles(setup.to_dict(), path) if path is not None and path.is_file() else None


def delete_job(name: str) -> Callable[[ShouldStop], Iterator[Listing]]:
    """Delete a model or a damaged entry, with its files, under the library's lock."""

    def job(should_stop: ShouldStop) -> Iterator[Listing]:
        ModelLibrary().remove(name)
        yield _listing(f"Deleted “{name}”")

    return job


def export_job(name: str, format: str, folder: Path) -> Callable[[ShouldStop], Iterator[Exported]]:
    def job(should_stop: ShouldStop) -> Iterator[Exported]:
        yield Exported(export_library_model(name, format, folder, should_stop))

    return job
