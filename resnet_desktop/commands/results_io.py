"""What ``predict`` and ``results`` share: which catalog, and where the rows go.

Rows stream: to the terminal one line each, or into a CSV written to a temporary file
renamed at the end (:func:`~resnet_desktop.core.export.write_csv`), so neither holds a
run's results in memory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Sequence

from resnet_desktop.app.model_identity import ModelArgs
from resnet_desktop.app.unknown import decider_for
from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.export import (
    CsvRow,
    Decide,
    csv_target_problem,
    display_path,
    terminal_safe,
    write_csv,
)
from resnet_desktop.core.ood import Decider
from resnet_desktop.core.predictor import Prediction


def add_catalog_arg(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup) -> None:
    parser.add_argument(
        "--catalog", metavar="FILE", help="the results catalog to use (default: the user's)"
    )


def add_csv_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--csv", metavar="OUT", help="write the results to this CSV file")
    parser.add_argument(
        "--force", action="store_true", help="write --csv even where it replaces an image"
    )


def check_csv_target(target: str, paths: Iterable[str | os.PathLike[str]]) -> None:
    """Refuse to write the CSV over an image, one of the inputs above all (see --force)."""
    problem = csv_target_problem(target, paths)
    if problem:
        raise UserError(f"not writing --csv: {problem} (add --force to write it anyway)")


def add_threshold_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="T",
        help="call images scoring below T 'unknown' (default: the model's own threshold, "
        "if it has one; for a model without one, T applies to the top-1 probability)",
    )


def decider_of(model: ModelArgs, threshold: float | None) -> Decider | None:
    """How rows say "unknown": the model's own setup (a library model with its own
    weights and classes), with ``threshold`` instead of its threshold if given."""
    own = model.weights is None and model.classes is None
    return decider_for(model.name if own else None, threshold)


def output_rows(
    rows: Iterable[CsvRow],
    csv_path: str | None,
    top_k: int,
    extra: Sequence[str] = (),
    decider: Decider | None = None,
) -> None:
    """Print each row, or write them all to ``csv_path`` (replaced only when complete).

    ``extra``: the names of further columns, whose cells come with each row (see
    :func:`~resnet_desktop.core.export.write_csv`); printed as ``name: value`` when set.
    With a ``decider`` each row also says its decision: the label, or ``unknown``.
    """
    decide = None if decider is None else decider.decide
    if csv_path is None:
        for row in rows:
            prediction, cells = (row, ()) if isinstance(row, Prediction) else row
            pairs = zip(extra, cells, strict=True)
            named = [f"{name}: {terminal_safe(cell)}" for name, cell in pairs if cell]
            print("\t".join([describe(prediction, decide), *named]))
        return
    with user_file_errors("write", csv_path):
        write_csv(csv_path, rows, top_k, extra, decide=decide)


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path the user named or the catalog holds, safe to print."""
    return terminal_safe(display_path(os.fspath(path)))


def describe(prediction: Prediction, decide: Decide | None = None) -> str:
    """One line for the terminal; file and class names cannot act on the terminal."""
    path = terminal_safe(display_path(prediction.path))
    if not prediction.ok:
        return f"{path}\terror: {terminal_safe(str(prediction.error))}"
    top = ", ".join(
        f"{terminal_safe(label)} {prob:.1%}"
        for label, prob in zip(prediction.labels, prediction.probs, strict=True)
    )
    if decide is None:
        return f"{path}\t{top}"
    return f"{path}\t{top}\t-> {terminal_safe(decide(prediction))}"
