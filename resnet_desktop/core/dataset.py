"""Folder-per-class datasets: the pre-flight scan and a stratified, duplicate-aware split.

One class list, ``sorted()`` folder names, is used for training and validation alike and
is stored with the model, so class indices never shift between folders. Every file is
read once during the scan (content hash and a cheap header check); files that still fail
to decode later are skipped by the trainer and reported, never a crash.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections import defaultdict
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

from resnet_desktop.core.errors import UserError, user_file_errors
from resnet_desktop.core.events import TextEnum, unknown_event
from resnet_desktop.core.imaging import IMAGE_EXTENSIONS, scan_images
from resnet_desktop.core.throttle import Throttle

MIN_IMAGES_PER_CLASS = 5
IMBALANCE_RATIO = 10.0
# Folder names that mean a part of a dataset's split, not a class.
TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")

StopCheck = Callable[[], bool]


class DatasetError(UserError, ValueError):
    """The folder cannot be used for training; the message is for the user."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int  # index into the class names
    sha256: str  # of the file's bytes, to find identical copies


@dataclass(frozen=True)
class FileProblem:
    path: Path
    reason: str


@dataclass(frozen=True)
class DuplicateGroup:
    sha256: str
    paths: tuple[Path, ...]
    classes: tuple[str, ...]  # distinct class names of the copies, sorted

    @property
    def conflicting(self) -> bool:
        """The same image is filed under more than one class."""
        return len(self.classes) > 1


class ScanStage(TextEnum):
    LISTING = "listing"  # total unknown (0)
    CHECKING = "checking"


@dataclass(frozen=True)
class ScanProgress:
    stage: ScanStage
    done: int
    total: int


@dataclass
class DatasetScan:
    root: Path
    val_root: Path | None
    class_names: list[str]
    samples: list[Sample]
    val_samples: list[Sample] | None
    unreadable: list[FileProblem]
    empty_classes: list[str]
    missing_in_val: list[str]
    loose_files: int
    duplicates: list[DuplicateGroup]
    cancelled: bool = False
    # Class folder -> its sub-folders that hold images (training folder): a sign that the
    # chosen folder is one level too high, e.g. train/ and val/ taken as two classes.
    nested: dict[str, list[str]] = field(default_factory=dict)
    # Images a person labelled, taken from this results catalog (they are among the
    # samples); ``root`` is then the model's training folder, or the catalog itself.
    labelled: int = 0
    labelled_from: Path | None = None
    # Classes of the model being retrained that no image here has: it will not know them.
    dropped_classes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Readable images per class, both folders together."""
        counts = dict.fromkeys(self.class_names, 0)
        for sample in self.samples + (self.val_samples or []):
            counts[self.class_names[sample.label]] += 1
        return counts

    @property
    def small_classes(self) -> list[str]:
        return [name for name, n in self.counts().items() if n < MIN_IMAGES_PER_CLASS]

    @property
    def imbalance_ratio(self) -> float:
        counts = [n for n in self.counts().values() if n]
        return max(counts) / min(counts) if counts else 1.0

    def warnings(self) -> list[str]:
        """Everything the user should look at before training, one sentence each."""
        counts = self.counts()
        lines = self._nesting_warnings()
        if self.dropped_classes:
            lines.append(
                f"classes of the model without images, which the new model will not know: "
                f"{_join(self.dropped_classes)}"
            )
        if self.unreadable:
            lines.append(f"{len(self.unreadable)} unreadable file(s) will be skipped")
        if self.empty_classes:
            lines.append(f"class folders without images are ignored: {_join(self.empty_classes)}")
        if self.small_classes:
            small = [f"{name} ({counts[name]})" for name in self.small_classes]
            lines.append(f"classes with fewer than {MIN_IMAGES_PER_CLASS} images: {_join(small)}")
        if self.imbalance_ratio > IMBALANCE_RATIO:
            largest = max(counts, key=counts.__getitem__)
            smallest = min(counts, key=counts.__getitem__)
            lines.append(
                f"strong class imbalance: {largest} has {counts[largest]} images, "
                f"{smallest} only {counts[smallest]} ({self.imbalance_ratio:.0f}x)"
            )
        if self.missing_in_val:
            lines.append(f"classes without validation images: {_join(self.missing_in_val)}")
        if self.loose_files:
            lines.append(
                f"{self.loose_files} image(s) directly in {self.root} are not in a class "
                "folder and are ignored"
            )
        lines.extend(self._duplicate_warnings())
        return lines

    def _nesting_warnings(self) -> list[str]:
        """Class folders of class folders: said first, as it makes every other count wrong."""
        if not self.nested:
            return []
        shown = [f"{name} ({_join(subs, 4)})" for name, subs in self.nested.items()]
        return [
            f"class folders hold sub-folders of images: {_join(shown, 4)}; each counts as one "
            f"class with all the images below it. {self._nesting_advice()}"
        ]

    def _nesting_advice(self) -> str:
        train = _named(self.class_names, TRAIN_NAMES)
        if train is None:
            example = next(iter(self.nested))
            return f"If those sub-folders are the classes, choose {self.root / example} instead"
        advice = f"These look like parts of a split: choose {self.root / train} to train on"
        val = _named(self.class_names, VAL_NAMES)
        return advice + (f" and {self.root / val} as the validation folder" if val else "")

    def _duplicate_warnings(self) -> list[str]:
        if not self.duplicates:
            return []
        copies = sum(len(group.paths) for group in self.duplicates)
        lines = [
            f"{len(self.duplicates)} group(s) of identical files ({copies} files); "
            "identical files are kept on the same side of the split"
        ]
        conflicts = [group for group in self.duplicates if group.conflicting]
        if conflicts:
            example = conflicts[0]
            lines.append(
                f"{len(conflicts)} identical image(s) are filed under different classes, "
                f"e.g. {example.paths[0]} ({_join(example.classes)})"
            )
        return lines


@dataclass
class DatasetSplit:
    class_names: list[str]
    train: list[Sample]
    val: list[Sample]
    scan: DatasetScan
    seed: int
    val_fraction: float | None  # None: the scan has a separate validation folder
    leaked_duplicates: int  # identical-file groups with copies on both sides

    @property
    def train_counts(self) -> list[int]:
        return _label_counts(self.train, len(self.class_names))

    @property
    def val_counts(self) -> list[int]:
        return _label_counts(self.val, len(self.class_names))


def _label_counts(samples: Iterable[Sample], num_classes: int) -> list[int]:
    counts = [0] * num_classes
    for sample in samples:
        counts[sample.label] += 1
    return counts


def _named(names: Iterable[str], wanted: tuple[str, ...]) -> str | None:
    """The first of ``names`` that is one of ``wanted``, ignoring case."""
    return next((name for name in names if name.lower() in wanted), None)


def _join(names: Iterable[str], limit: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def class_folders(root: Path) -> list[Path]:
    """The non-hidden sub-folders of ``root``, in plain ``sorted()`` order of their names."""
    if not root.is_dir():
        raise DatasetError(f"not a folder: {root}")
    with user_file_errors("read", root):
        entries = [entry for entry in root.iterdir() if entry.is_dir()]
    return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def nested_folders(root: Path, classes: dict[str, list[Path]]) -> dict[str, list[str]]:
    """Per class folder of ``root``, its sub-folders that hold images (from the listing)."""
    base = Path(os.path.abspath(root))
    nested = {}
    for name, paths in classes.items():
        subs = sorted({_first_part(path, base / name) for path in paths} - {""})
        if subs:
            nested[name] = subs
    return nested


def _first_part(path: Path, folder: Path) -> str:
    """The sub-folder of ``folder`` that holds ``path``; '' when it lies directly in it."""
    try:
        parts = path.relative_to(folder).parts
    except ValueError:
        return ""
    return parts[0] if len(parts) > 1 else ""


def _loose_images(root: Path) -> int:
    return sum(
        1
        for entry in root.iterdir()
        if entry.is_file() and entry.suffix.lower() in IMAGE_EXTENSIONS
    )


def _check_file(path: Path) -> tuple[str, str | None]:
    """(sha256, None) for a file whose header Pillow accepts, else ("", reason)."""
    from PIL import Image

    try:
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as error:  # any failure makes the file unusable
        return "", _reason(error)
    return hashlib.sha256(data).hexdigest(), None


def _reason(error: BaseException) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image Pillow can read (unknown format or corrupt header)"
    text = str(error).splitlines()[0] if str(error) else ""
    return text or type(error).__name__


def list_classes(
    root: Path, should_stop: StopCheck, listed: list[int]
) -> Generator[ScanProgress, None, dict[str, list[Path]]]:
    """Image paths per class folder, with listing progress; partial when stopped."""

    throttle = Throttle()
    classes: dict[str, list[Path]] = {}
    for folder in class_folders(root):
        paths = []
        for path in scan_images([folder], should_stop=should_stop):
            paths.append(path)
            listed[0] += 1
            if throttle():
                yield ScanProgress(ScanStage.LISTING, listed[0], 0)
        if should_stop():
            break
        classes[folder.name] = paths
    return classes


def check_files(
    paths: list[Path], should_stop: StopCheck, workers: int
) -> Generator[ScanProgress, None, dict[Path, tuple[str, str | None]]]:
    """Hash and header-check every file in a thread pool; partial when stopped."""
    results: dict[Path, tuple[str, str | None]] = {}
    throttle = Throttle()
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        for path, result in zip(paths, executor.map(_check_file, paths), strict=True):
            results[path] = result
            if should_stop():
                return results
            if throttle():
                yield ScanProgress(ScanStage.CHECKING, len(results), len(paths))
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    yield ScanProgress(ScanStage.CHECKING, len(results), len(paths))
    return results


# What scan_dataset() yields: progress, and as its last item always one DatasetScan.
ScanEvent: TypeAlias = ScanProgress | DatasetScan


def scan_dataset(
    root: str | os.PathLike[str],
    val_root: str | os.PathLike[str] | None = None,
    *,
    should_stop: StopCheck | None = None,
    workers: int | None = None,
) -> Iterator[ScanEvent]:
    """Pre-flight check of a folder-per-class dataset; yields progress, then one DatasetScan.

    Raises DatasetError when fewer than two classes have readable images, or when the
    validation folder has a class the training folder lacks. Cancelled: the DatasetScan
    has ``cancelled=True`` and must not be trained on.
    """
    stop = should_stop or (lambda: False)
    roots = [Path(root)] + ([Path(val_root)] if val_root is not None else [])
    listed = [0]
    per_root: list[dict[str, list[Path]]] = []
    for folder in roots:
        per_root.append((yield from list_classes(folder, stop, listed)))
        if stop():
            yield cancelled_scan(roots)
            return
    all_paths = [path for classes in per_root for paths in classes.values() for path in paths]
    workers = workers or min(8, os.cpu_count() or 1)
    checked = yield from check_files(all_paths, stop, workers)
    if stop():
        yield cancelled_scan(roots)
        return
    yield build_scan(roots, per_root, checked)


def cancelled_scan(roots: Sequence[Path]) -> DatasetScan:
    """The empty scan a stopped scan yields: nothing found, ``cancelled`` set."""
    return DatasetScan(
        root=roots[0],
        val_root=roots[1] if len(roots) > 1 else None,
        class_names=[],
        samples=[],
        val_samples=None,
        unreadable=[],
        empty_classes=[],
        missing_in_val=[],
        loose_files=0,
        duplicates=[],
        cancelled=True,
    )


def build_scan(
    roots: list[Path],
    per_root: list[dict[str, list[Path]]],
    checked: dict[Path, tuple[str, str | None]],
) -> DatasetScan:
    unreadable = [
        FileProblem(path, reason) for path, (_, reason) in checked.items() if reason is not None
    ]
    readable = [
        {name: [p for p in paths if checked[p][1] is None] for name, paths in classes.items()}
        for classes in per_root
    ]
    train, val = readable[0], readable[1] if len(readable) > 1 else None
    class_names = sorted(name for name, paths in train.items() if paths)
    empty = sorted(name for name, paths in train.items() if not paths)
    _check_classes(roots[0], class_names, val)

    def samples_of(classes: dict[str, list[Path]]) -> list[Sample]:
        index = {name: i for i, name in enumerate(class_names)}
        return [
            Sample(path, index[name], checked[path][0])
            for name in sorted(classes)
            for path in classes[name]
        ]

    samples = samples_of(train)
    val_samples = samples_of(val) if val is not None else None
    return DatasetScan(
        root=roots[0],
        val_root=roots[1] if len(roots) > 1 else None,
        class_names=class_names,
        samples=samples,
        val_samples=val_samples,
        unreadable=unreadable,
        empty_classes=empty,
        missing_in_val=[n for n in class_names if not (val or {}).get(n)]
        if val is not None
        else [],
        loose_files=sum(_loose_images(folder) for folder in roots if folder.is_dir()),
        duplicates=_duplicates(samples + (val_samples or []), class_names),
        nested=nested_folders(roots[0], {name: train[name] for name in class_names}),
    )


def _check_classes(root: Path, class_names: list[str], val: dict[str, list[Path]] | None) -> None:
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise DatasetError(
            f"{root} needs at least 2 class sub-folders with images (found {found}); "
            "put each class's images in a folder named after the class"
        )
    if val is not None:
        extra = sorted(name for name, paths in val.items() if paths and name not in class_names)
        if extra:
            raise DatasetError(
                f"validation classes without training images: {_join(extra)} "
                "(every validation class needs a training folder with images)"
            )


def _duplicates(samples: list[Sample], class_names: list[str]) -> list[DuplicateGroup]:
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.sha256].append(sample)
    return [
        DuplicateGroup(
            sha256=digest,
            paths=tuple(sample.path for sample in members),
            classes=tuple(sorted({class_names[sample.label] for sample in members})),
        )
        for digest, members in sorted(groups.items())
        if len(members) > 1
    ]


def load_scan(
    root: str | os.PathLike[str],
    val_root: str | os.PathLike[str] | None = None,
    *,
    should_stop: StopCheck | None = None,
    progress: Callable[[ScanProgress], None] | None = None,
) -> DatasetScan:
    """Run :func:`scan_dataset` to the end (command line, tests)."""
    return last_scan(scan_dataset(root, val_root, should_stop=should_stop), progress)


def last_scan(
    events: Iterable[ScanEvent], progress: Callable[[ScanProgress], None] | None = None
) -> DatasetScan:
    """Run a scan's events to the end, passing its progress on; its DatasetScan."""
    for event in events:
        match event:
            case ScanProgress():
                if progress is not None:
                    progress(event)
            case DatasetScan():
                return event
            case _:
                raise unknown_event(event)
    raise AssertionError("a dataset scan always yields a DatasetScan last")


def split_dataset(scan: DatasetScan, val_fraction: float = 0.2, seed: int = 0) -> DatasetSplit:
    """Training and validation samples: the scan's own folders, or a stratified random split.

    The random split works on groups of identical files so no image sits on both sides;
    each class with at least two images gets at least one validation image and keeps at
    least one training image.
    """
    if scan.cancelled:
        raise DatasetError("the dataset scan was cancelled; scan the folder again")
    if scan.val_samples is not None:
        return DatasetSplit(
            class_names=list(scan.class_names),
            train=list(scan.samples),
            val=list(scan.val_samples),
            scan=scan,
            seed=seed,
            val_fraction=None,
            leaked_duplicates=_leaked(scan.samples, scan.val_samples),
        )
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"the validation fraction must be between 0 and 1, not {val_fraction}")
    rng = random.Random(seed)
    train: list[Sample] = []
    val: list[Sample] = []
    for groups in _groups_per_class(scan.samples, len(scan.class_names)):
        rng.shuffle(groups)
        chosen = _pick_val_groups(groups, val_fraction)
        for index, group in enumerate(groups):
            (val if index in chosen else train).extend(group)
    return DatasetSplit(
        class_names=list(scan.class_names),
        train=sorted(train, key=_sample_key),
        val=sorted(val, key=_sample_key),
        scan=scan,
        seed=seed,
        val_fraction=val_fraction,
        leaked_duplicates=0,
    )


def _sample_key(sample: Sample) -> tuple[int, str]:
    return sample.label, str(sample.path)


def _groups_per_class(samples: list[Sample], num_classes: int) -> list[list[list[Sample]]]:
    """Identical files grouped by hash; each group belongs to its first sample's class."""
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    for sample in sorted(samples, key=_sample_key):
        by_hash[sample.sha256].append(sample)
    per_class: list[list[list[Sample]]] = [[] for _ in range(num_classes)]
    for digest in sorted(by_hash):
        group = by_hash[digest]
        per_class[group[0].label].append(group)
    return per_class


def _pick_val_groups(groups: list[list[Sample]], val_fraction: float) -> set[int]:
    """Indices of the groups that go to validation: about ``val_fraction`` of the images."""
    total = sum(map(len, groups))
    if total < 2:
        return set()
    target = min(total - 1, max(1, round(total * val_fraction)))
    chosen: set[int] = set()
    taken = 0
    for index, group in enumerate(groups):
        if taken + len(group) <= target:
            chosen.add(index)
            taken += len(group)
    if not chosen:
        smallest = min(range(len(groups)), key=lambda i: len(groups[i]))
        if len(groups[smallest]) < total:
            chosen.add(smallest)
    return chosen


def _leaked(train: list[Sample], val: list[Sample]) -> int:
    return len({s.sha256 for s in train} & {s.sha256 for s in val})
