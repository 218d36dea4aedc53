"""``resnet-desktop results``: what the catalog holds for some images, without classifying.

The model is named as for ``predict`` so that its identity (its weights' sha256 above
all) picks its results out of the catalog; for library models and zoo models named with
``--classes`` that takes metadata only, never building the network. The catalog is
opened read-only: this command never changes it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.app.catalog_run import all_rows, scan_listing
from resnet_desktop.app.model_identity import ModelArgs, identify_model
from resnet_desktop.app.review import PERSON_COLUMN, any_person_label, with_person_labels
from resnet_desktop.commands.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    add_model_args,
    positive_int,
    reports_errors,
)
from resnet_desktop.commands.results_io import (
    add_catalog_arg,
    add_csv_args,
    add_threshold_arg,
    check_csv_target,
    decider_of,
    output_rows,
    shown_path,
)
from resnet_desktop.core.catalog import Catalog
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.export import CsvRow
from resnet_desktop.core.predictor import Prediction


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "results",
        help="print or export stored results without classifying",
        description="Print or export the results the catalog holds for these images and "
        "this model (the same model arguments as predict), in scan order, and say how many "
        "have none yet. When a person labelled any of the images (in the window's review), "
        "their labels come in a label_by_person column. "
        "Exit status: 0 every image has a result, 3 some have none or "
        "failed, 1 could not run, 2 bad arguments.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    add_model_args(parser)
    parser.add_argument("--classes", help="class names: .txt (one per line) or .json")
    parser.add_argument("--top-k", type=positive_int, default=5)
    add_csv_args(parser)
    add_threshold_arg(parser)
    add_catalog_arg(parser)
    parser.set_defaults(func=run)


@reports_errors
def run(args: argparse.Namespace) -> int:
    model = identify_model(ModelArgs(args.model, args.weights, args.classes), download=False)
    if model.identity is None:
        raise UserError("results of random weights are never recorded; name trained weights")
    decider = decider_of(model.args, args.threshold)
    with scan_listing(args.paths) as listing:
        if not len(listing):
            raise UserError("no images found in " + ", ".join(args.paths))
        if args.csv and not args.force:
            check_csv_target(args.csv, listing)
        with Catalog.open(args.catalog, read_only=True) as catalog:
            count = _Count(len(listing))
            top_k = min(args.top_k, len(model.identity.class_names))
            extra = (PERSON_COLUMN,) if any_person_label(catalog, listing) else ()
            rows = all_rows(catalog, model.identity, listing, top_k)
            labelled = with_person_labels(catalog, rows, listing)
            output_rows(count.found(labelled, bool(extra)), args.csv, top_k, extra, decider)
            print(count.summary(args.model, catalog.path, args.csv), file=sys.stderr)
    return EXIT_PARTIAL if count.missing or count.failed else EXIT_OK


@dataclass
class _Count:
    total: int
    results: int = 0
    failed: int = 0

    @property
    def missing(self) -> int:
        return self.total - self.results

    def found(
        self, rows: Iterable[tuple[Path, Prediction | None, str | None]], labels: bool
    ) -> Iterator[CsvRow]:
        """The rows with a result; with ``labels``, each with its person's label cell."""
        for _, prediction, label in rows:
            if prediction is not None:
                self.results += 1
                self.failed += not prediction.ok
                yield (prediction, (label or "",)) if labels else prediction

    def summary(self, model: str, catalog: Path, csv_path: str | None) -> str:
        parts = [
            f"{self.results} of {self.total} images have a result of {model} in "
            f"{shown_path(catalog)}"
        ]
        if self.missing:
            parts.append(f"{self.missing} have none yet (predict classifies them)")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if csv_path:
            parts.append(f"results in {shown_path(csv_path)}")
        return "; ".join(parts)
