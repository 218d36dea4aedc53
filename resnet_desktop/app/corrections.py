"""Retraining a model from the labels a person gave its results: what the CLI and window share.

The labels live in the results catalog, next to the results they correct; training reads
the files where they lie (:mod:`resnet_desktop.core.labelled_data`), optionally with the
folder the model was first trained on, when its metadata names one that still exists.
After training, the images whose results came from the old version can be classified
again with the new one (:func:`rerun`), so the catalog does not go on showing answers
of a model that has been replaced.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.app.catalog_run import CatalogStore, RunEvent, classify_listing, predictor_for
from resnet_desktop.app.model_identity import ModelArgs, identify_model
from resnet_desktop.app.sorting import load_identity
from resnet_desktop.core import paths as app_paths
from resnet_desktop.core.catalog import STORED_TOP_K, Catalog, ModelIdentity
from resnet_desktop.core.dataset import ScanEvent
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.labelled_data import LabelledFile, scan_labelled
from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.core.runtime import RuntimeOptions

PathLike = str | os.PathLike[str]
StopCheck = Callable[[], bool]


@dataclass(frozen=True)
class Corrections:
    """What retraining ``model`` from a person's labels would train on."""

    model: str
    identity: ModelIdentity  # the version whose results were reviewed
    labelled: tuple[LabelledFile, ...]  # labels spelled as the model's classes where they match
    training_folder: Path | None  # the model's own training folder, when it still exists
    catalog: Path

    def counts(self) -> dict[str, int]:
        """Labelled images per label, most first."""
        counts: dict[str, int] = {}
        for _, label in self.labelled:
            counts[label] = counts.get(label, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))

    def scan(
        self,
        with_folder: bool,
        folder: PathLike | None = None,
        should_stop: StopCheck | None = None,
    ) -> Iterator[ScanEvent]:
        """The dataset's pre-flight scan: the labelled files, plus ``folder`` (default: the
        model's training folder) when ``with_folder``."""
        chosen = (folder or self.training_folder) if with_folder else None
        return scan_labelled(
            self.labelled,
            chosen,
            origin=self.catalog,
            keep=self.identity.class_names,
            should_stop=should_stop,
        )


def find_corrections(
    model: str, weights: PathLike | None = None, catalog_path: PathLike | None = None
) -> Corrections:
    """The labels a person gave for ``model`` (see :meth:`Catalog.labelled_for`).

    Raises:
        UserError: the model cannot be identified, there is no catalog, or nobody has
            labelled an image for this model yet.
    """
    identity = load_identity(model, weights)
    where = Path(catalog_path) if catalog_path is not None else app_paths.catalog_path()
    labelled: Sequence[LabelledFile] = []
    if where.is_file():
        with Catalog.open(where, read_only=True) as catalog:
            labelled = catalog.labelled_for(identity)
    if not labelled:
        raise UserError(
            f"nobody has labelled images for {model} yet (in {where}): review its results "
            "and correct the wrong ones first"
        )
    return Corrections(
        model,
        identity,
        tuple(_as_classes(labelled, identity.class_names)),
        training_folder(model),
        where,
    )


def _as_classes(labelled: Sequence[LabelledFile], classes: Sequence[str]) -> list[LabelledFile]:
    """A label equal to one of the model's classes but for case takes the class's spelling."""
    by_fold = {name.casefold(): name for name in reversed(classes)}
    return [(path, by_fold.get(label.casefold(), label)) for path, label in labelled]


def training_folder(model: str) -> Path | None:
    """The folder a library model was trained on, as its metadata records, if still there."""
    try:
        entry = ModelLibrary().get(model)
    except LibraryError:  # a zoo model, or not in the library: no folder recorded
        return None
    dataset = entry.training.get("dataset")
    root = dataset.get("root") if isinstance(dataset, dict) else None
    if not isinstance(root, str) or not root or not os.path.isdir(root):
        return None
    return Path(root)


def old_results(old: ModelIdentity, catalog_path: PathLike | None = None) -> list[Path]:
    """The images whose stored results came from ``old``, a version now replaced."""
    where = Path(catalog_path) if catalog_path is not None else app_paths.catalog_path()
    if not where.is_file():
        return []
    with Catalog.open(where, read_only=True) as catalog:
        return catalog.classified_by(old)


def rerun(
    paths: Sequence[Path],
    model: str,
    options: RuntimeOptions,
    *,
    catalog_path: PathLike | None = None,
    notify: Callable[[str], None] | None = None,
    should_stop: StopCheck | None = None,
) -> Iterator[RunEvent]:
    """Classify ``paths`` with ``model`` into the catalog (as ``predict`` would)."""
    stop = should_stop or (lambda: False)
    identified = identify_model(ModelArgs(model), download=False)
    if identified.identity is None:
        raise UserError(f"{model} has random weights: there is nothing to record")
    with Catalog.open(catalog_path) as catalog:
        store = CatalogStore(catalog, identified.identity, STORED_TOP_K)

        def start() -> Predictor:
            return predictor_for(identified, options, STORED_TOP_K, notify=notify, should_stop=stop)

        yield from classify_listing(paths, store, start, stop)
