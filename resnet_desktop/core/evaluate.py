"""Accuracy, per-class precision/recall and a confusion matrix on a labelled folder.

The metric helpers are plain Python over class indices, so the trainer reports its
validation metrics with the same code that ``resnet-desktop evaluate`` uses.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.dataset import FileProblem, class_folders
from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.export import csv_target_problem, safe_cell
from resnet_desktop.core.imaging import scan_images
from resnet_desktop.core.predictor import Predictor
from resnet_desktop.core.runtime import RuntimeOptions

if TYPE_CHECKING:
    from resnet_desktop.core.model_loader import LoadedModel


class EvaluationError(UserError, ValueError):
    """The folder does not fit the model; the message is for the user."""


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float  # 0.0 when nothing was predicted as this class
    recall: float  # 0.0 when the class has no images
    support: int  # images whose true class this is

    @property
    def f1(self) -> float:
        """The harmonic mean of precision and recall; 0.0 when both are 0."""
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclass(frozen=True)
class Misclassified:
    path: Path
    true_label: str
    predicted_label: str
    probability: float  # of the predicted label


@dataclass(frozen=True)
class EvalProgress:
    done: int
    total: int
    elapsed: float
    images_per_second: float
    eta_seconds: float | None


@dataclass
class EvalReport:
    class_names: list[str]
    accuracy: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]  # [true][predicted]
    misclassified: list[Misclassified] = field(default_factory=list)
    errors: list[FileProblem] = field(default_factory=list)
    cancelled: bool = False

    @property
    def total(self) -> int:
        """Images that were classified (unreadable ones excluded)."""
        return sum(map(sum, self.confusion))

    def to_dict(self, max_misclassified: int = 0) -> dict[str, Any]:
        """A JSON-safe summary, e.g. for a model's library metadata."""
        return {
            "accuracy": self.accuracy,
            "total": self.total,
            "class_names": list(self.class_names),
            "per_class": [asdict(metrics) for metrics in self.per_class],
            "confusion": self.confusion,
            "misclassified_count": len(self.misclassified),
            "misclassified": [
                {**asdict(item), "path": str(item.path)}
                for item in self.misclassified[:max_misclassified]
            ],
            "errors": len(self.errors),
            "cancelled": self.cancelled,
        }


# What evaluate() yields: progress, and as its last item always one EvalReport.
EvalEvent: TypeAlias = EvalProgress | EvalReport


def confusion_matrix(
    true: Sequence[int], predicted: Sequence[int], num_classes: int
) -> list[list[int]]:
    """Counts of (true class, predicted class) pairs as a ``num_classes`` square."""
    matrix = [[0] * num_classes for _ in range(num_classes)]
    for t, p in zip(true, predicted, strict=True):
        matrix[t][p] += 1
    return matrix


def class_metrics(confusion: list[list[int]], class_names: Sequence[str]) -> list[ClassMetrics]:
    """Precision and recall per class from a confusion matrix."""
    metrics = []
    for index, name in enumerate(class_names):
        hits = confusion[index][index]
        support = sum(confusion[index])
        predicted = sum(row[index] for row in confusion)
        metrics.append(
            ClassMetrics(
                name=name,
                precision=hits / predicted if predicted else 0.0,
                recall=hits / support if support else 0.0,
                support=support,
            )
        )
    return metrics


def accuracy_of(confusion: list[list[int]]) -> float:
    """Fraction on the diagonal; 0.0 for an empty matrix."""
    total = sum(map(sum, confusion))
    return sum(confusion[i][i] for i in range(len(confusion))) / total if total else 0.0


def build_report(
    class_names: Sequence[str],
    true: Sequence[int],
    predicted: Sequence[int],
    probs: Sequence[float] | None = None,
    paths: Sequence[Path] | None = None,
    errors: Sequence[FileProblem] = (),
    cancelled: bool = False,
) -> EvalReport:
    """The full report; misclassified items are listed only when ``paths`` are given."""
    confusion = confusion_matrix(true, predicted, len(class_names))
    misclassified = []
    if paths is not None:
        probs = probs if probs is not None else [float("nan")] * len(true)
        misclassified = [
            Misclassified(path, class_names[t], class_names[p], prob)
            for path, t, p, prob in zip(paths, true, predicted, probs, strict=True)
            if t != p
        ]
    return EvalReport(
        class_names=list(class_names),
        accuracy=accuracy_of(confusion),
        per_class=class_metrics(confusion, class_names),
        confusion=confusion,
        misclassified=misclassified,
        errors=list(errors),
        cancelled=cancelled,
    )


def labelled_images(
    folder: str | os.PathLike[str],
    class_names: Sequence[str],
    should_stop: Callable[[], bool] | None = None,
) -> list[tuple[Path, int]]:
    """(image, class index) for every image in ``folder``'s class sub-folders.

    Sub-folder names must be class names of the model: anything else would silently be
    scored against the wrong label, so it is an error that lists the unknown names.
    """

    folders = class_folders(Path(folder))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = [path.name for path in folders if path.name not in index]
    if unknown:
        raise EvaluationError(
            f"folder names that are not classes of the model: {', '.join(unknown)} "
            f"(the model's classes: {_abbreviated(class_names)})"
        )
    items = [
        (image, index[class_dir.name])
        for class_dir in folders
        for image in scan_images([class_dir], should_stop=should_stop)
    ]
    if not items and not (should_stop and should_stop()):
        raise EvaluationError(f"no images in class sub-folders of {folder}")
    return items


def _abbreviated(names: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def evaluate(
    model: LoadedModel,
    folder: str | os.PathLike[str],
    runtime: RuntimeOptions,
    *,
    notify: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[EvalEvent]:
    """Classify every labelled image; yields progress, then exactly one EvalReport."""
    items = labelled_images(folder, model.class_names, should_stop)
    labels = {path: label for path, label in items}
    resolved = runtime.resolve(model.preprocess)
    predictor = Predictor(model, resolved, top_k=1, notify=notify, should_stop=should_stop)
    true: list[int] = []
    predicted: list[int] = []
    probs: list[float] = []
    paths: list[Path] = []
    errors: list[FileProblem] = []
    for batch in predictor.predict_iter([path for path, _ in items], should_stop):
        for prediction in batch.predictions:
            if not prediction.ok:
                errors.append(FileProblem(prediction.path, prediction.error or "unreadable"))
                continue
            paths.append(prediction.path)
            true.append(labels[prediction.path])
            predicted.append(prediction.indices[0])
            probs.append(prediction.probs[0])
        yield EvalProgress(
            batch.done, batch.total, batch.elapsed, batch.images_per_second, batch.eta_seconds
        )
    cancelled = bool(should_stop and should_stop()) or len(paths) + len(errors) < len(items)
    yield build_report(model.class_names, true, predicted, probs, paths, errors, cancelled)


# ------------------------------------------------------------------------------ report files

REPORT_HEADER = ("class", "precision", "recall", "f1", "support")
ACCURACY_ROW = "(all images: accuracy)"


def confusion_csv_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`write_report_csv` puts the confusion matrix: beside the report."""
    target = Path(path)
    return target.with_name(f"{target.stem}-confusion{target.suffix}")


def report_target_problem(path: str | os.PathLike[str]) -> str:
    """Why the report (or the confusion matrix beside it) must not be written there ('' if ok).

    Checked before a long evaluation too, so a slip such as ``--report photo.jpg`` fails
    at once instead of after the run.
    """
    for target in (Path(path), confusion_csv_path(path)):
        if target.is_dir():
            return f"{target} is a folder"
        problem = csv_target_problem(target, [])
        if problem:
            return problem
    return ""


def _number(value: float) -> str:
    return f"{value:.6f}"


def report_rows(report: EvalReport) -> list[list[str]]:
    """Per-class precision, recall, F1 and support, then a row for all images.

    With one label per image the micro-averaged precision, recall and F1 all equal the
    accuracy, so the last row holds it in each column.
    """
    rows = [list(REPORT_HEADER)]
    for metrics in report.per_class:
        values = (metrics.precision, metrics.recall, metrics.f1)
        rows.append([safe_cell(metrics.name), *map(_number, values), str(metrics.support)])
    rows.append([ACCURACY_ROW, *[_number(report.accuracy)] * 3, str(report.total)])
    return rows


def confusion_rows(report: EvalReport) -> list[list[str]]:
    """The confusion matrix with class names: rows are true classes, columns predicted ones."""
    names = [safe_cell(name) for name in report.class_names]
    header = ["true \\ predicted", *names]
    return [header] + [
        [name, *map(str, row)] for name, row in zip(names, report.confusion, strict=True)
    ]


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    with (
        user_file_errors("write", path),
        atomic_open(path, "w", encoding="utf-8", newline="") as handle,
    ):
        csv.writer(handle, lineterminator="\r\n").writerows(rows)  # RFC 4180


def write_report_csv(report: EvalReport, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the per-class metrics to ``path`` and the confusion matrix beside it.

    Two files, so each is a plain table a spreadsheet or ``pandas.read_csv`` opens as
    is; each is written atomically. Returns (metrics file, confusion-matrix file).
    """
    problem = report_target_problem(path)
    if problem:
        raise EvaluationError(f"not writing the report: {problem}")
    metrics_path, confusion_path = Path(path), confusion_csv_path(path)
    _write_rows(metrics_path, report_rows(report))
    _write_rows(confusion_path, confusion_rows(report))
    return metrics_path, confusion_path
