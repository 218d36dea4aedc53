"""A dataset from a list of labelled files, on its own or added to a folder-per-class one.

The labels a person gave in the results catalog name files wherever they lie; training
on them should not need copying them into class folders. :func:`scan_labelled` makes the
same :class:`~resnet_desktop.core.dataset.DatasetScan` as a folder scan (each file read
once: content hash and header check; progress; stop), so the split, the pre-flight
report and the trainer work unchanged. A file both in the folder and in the list counts
once, under the list's label: a person's correction wins over the folder it lies in.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from resnet_desktop.core.dataset import (
    DatasetError,
    DatasetScan,
    ScanEvent,
    build_scan,
    cancelled_scan,
    check_files,
    list_classes,
)

LabelledFile = tuple[Path, str]  # (image, the label a person gave it)


def scan_labelled(
    labelled: Sequence[LabelledFile],
    folder: str | os.PathLike[str] | None = None,
    *,
    origin: Path,
    keep: Sequence[str] = (),
    should_stop: Callable[[], bool] | None = None,
    workers: int | None = None,
) -> Iterator[ScanEvent]:
    """Pre-flight check of ``labelled`` files, plus ``folder``'s class folders if given.

    Yields progress, then one DatasetScan (``cancelled`` when stopped) whose ``root`` is
    ``folder``, or ``origin`` (where the labels come from) without one. Classes of ``keep``
    (the retrained model's) without images are named in its warnings.

    Raises:
        DatasetError: fewer than two classes have readable images.
    """
    stop = should_stop or (lambda: False)
    classes: dict[str, list[Path]] = {}
    if folder is not None:
        classes = yield from list_classes(Path(folder), stop, [0])
    root = Path(folder) if folder is not None else origin
    if stop():
        yield _cancelled(root, origin)
        return
    labels = {Path(os.path.abspath(path)): label for path, label in labelled}
    classes = _with_labels(classes, labels)
    paths = [path for members in classes.values() for path in members]
    checked = yield from check_files(paths, stop, workers or min(8, os.cpu_count() or 1))
    if stop():
        yield _cancelled(root, origin)
        return
    try:
        scan = build_scan([root], [classes], checked)
    except DatasetError as error:
        raise DatasetError(f"{error} ({len(labelled)} images labelled by a person)") from None
    scan.labelled = sum(1 for path in labels if checked[path][1] is None)
    scan.labelled_from = origin
    scan.dropped_classes = [name for name in keep if name not in scan.class_names]
    yield scan


def _with_labels(classes: dict[str, list[Path]], labels: dict[Path, str]) -> dict[str, list[Path]]:
    """The folder's classes with the labelled files added, each file once, the label's."""
    merged: dict[str, list[Path]] = {
        name: [path for path in paths if Path(os.path.abspath(path)) not in labels]
        for name, paths in classes.items()
    }
    for path, label in labels.items():
        merged.setdefault(label, []).append(path)
    return merged


def _cancelled(root: Path, origin: Path) -> DatasetScan:
    return dataclasses.replace(cancelled_scan([root]), labelled_from=origin)
