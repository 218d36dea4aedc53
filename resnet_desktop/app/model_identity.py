"""Which model a run means, known by its catalog identity before its network is built.

A stored result belongs to a model *identity*: its name, the sha256 of the weights file
it was loaded from, its class names and preprocessing. Most of that is metadata (a
library entry's JSON, the zoo table, the ``--classes`` file), so a run that finds every
result already stored, and ``results``, which only reads them, never build a network or
import torch. Only what metadata cannot tell (the head size of a bare weights file named
without ``--classes``, ImageNet weights not downloaded yet) is found by loading.

The identity is taken from the file as it was hashed; :meth:`IdentifiedModel.load` then
checks that the network was built from that same file, so a result is never recorded
under weights it did not come from.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from resnet_desktop.app.identity import weights_file
from resnet_desktop.core.catalog import ModelIdentity
from resnet_desktop.core.errors import UserError
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import RANDOM, LoadedModel, ModelLoadError, load_model
from resnet_desktop.core.safe_read import check_regular_file
from resnet_desktop.core.weights import (
    MAX_WEIGHTS_BYTES,
    file_sha256,
    imagenet_class_names,
    imagenet_weights_path,
    read_class_names,
)
from resnet_desktop.core.zoo import SPECS, Preprocess

Stamp = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode: is it the same file?


@dataclass(frozen=True)
class ModelArgs:
    """A model as the user names it: what :func:`load_model` takes."""

    name: str
    weights: str | Path | None = None  # None: the model's own; "random"; or a file
    classes: str | Path | None = None  # a .txt/.json file of class names

    @property
    def random(self) -> bool:
        return self.weights is not None and str(self.weights) == RANDOM


@dataclass(frozen=True)
class WeightsFile:
    path: Path
    sha256: str
    stamp: Stamp  # of the file when it was hashed


class IdentifiedModel:
    """A model with its identity; :meth:`load` builds its network when a run needs it."""

    def __init__(
        self,
        args: ModelArgs,
        identity: ModelIdentity | None,
        weights: WeightsFile | None,
        loaded: LoadedModel | None = None,
    ) -> None:
        self.args = args
        self.identity = identity  # None for random weights: nothing to record them under
        self.weights = weights
        self._loaded = loaded

    def class_names(self) -> tuple[str, ...]:
        """The model's class names (random weights: the network is built to know them)."""
        if self.identity is not None:
            return self.identity.class_names
        return tuple(self.load().class_names)

    def load(self, should_stop: Callable[[], bool] | None = None) -> LoadedModel:
        """The network, built from the very weights file the identity was taken from."""
        if self._loaded is None:
            args = self.args
            loaded = load_model(args.name, args.weights, args.classes, should_stop=should_stop)
            self._check_same_weights(loaded)
            self._loaded = loaded
        return self._loaded

    def _check_same_weights(self, loaded: LoadedModel) -> None:
        if self.weights is None or self.identity is None:
            return
        if (
            _weights_path(self.args) != self.weights.path
            or _stamp(self.weights.path) != self.weights.stamp
        ):
            raise ModelLoadError(
                f"the weights of {self.args.name} ({self.weights.path}) changed while they "
                "were loading; run again"
            )
        if ModelIdentity.of(loaded, self.weights.sha256) != self.identity:
            raise RuntimeError(f"{self.args.name} loaded differently than its metadata says")


def identify_model(args: ModelArgs, *, download: bool = True) -> IdentifiedModel:
    """The identity of the model ``args`` name, from metadata where it tells enough.

    Args:
        download: whether ImageNet weights not cached yet may be downloaded (by loading
            the model); without it their absence is a :class:`UserError`.
    """
    if args.random:
        return IdentifiedModel(args, None, None)
    described = _described(args, download)
    return described if described is not None else _identified_by_loading(args)


def _described(args: ModelArgs, download: bool) -> IdentifiedModel | None:
    """The identity from metadata alone, or None where only loading can tell."""
    names = read_class_names(args.classes) if args.classes is not None else None
    library = ModelLibrary()
    if args.name not in SPECS and library.exists(args.name):
        entry = library.get(args.name)
        return _with_hash(args, names or list(entry.class_names), entry.preprocess)
    spec = SPECS.get(args.name)
    if spec is None or (args.weights is None and not spec.has_builtin_weights):
        return None  # loading says why it cannot be used
    if args.weights is None:
        if not imagenet_weights_path(spec).is_file():
            if download:
                return None
            raise UserError(
                f"the ImageNet weights of {spec.name} are not on this machine, so no "
                "stored result can be matched to them"
            )
        return _with_hash(args, names or imagenet_class_names(spec), spec.preprocess)
    return _with_hash(args, names, spec.preprocess) if names is not None else None


def _with_hash(args: ModelArgs, names: list[str], preprocess: Preprocess) -> IdentifiedModel | None:
    path = _weights_path(args)
    try:
        weights = _hashed(path)
    except OSError:
        return None  # missing or unreadable: loading says so in its own words
    identity = ModelIdentity(args.name, weights.sha256, tuple(names), preprocess)
    return IdentifiedModel(args, identity, weights)


def _identified_by_loading(args: ModelArgs) -> IdentifiedModel:
    """Load the model, then hash the weights file it was loaded from."""
    # A named file exists before; ImageNet weights may only appear now (downloaded).
    before = _stamp_or_none(Path(args.weights)) if args.weights is not None else None
    loaded = load_model(args.name, args.weights, args.classes)
    path = _weights_path(args)
    try:
        weights = _hashed(path)
    except OSError as error:
        raise ModelLoadError(f"cannot read the weights file {path}: {error}") from error
    if before is not None and before != weights.stamp:
        raise ModelLoadError(f"the weights file {path} changed while it was loading; run again")
    return IdentifiedModel(args, ModelIdentity.of(loaded, weights.sha256), weights, loaded)


def _weights_path(args: ModelArgs) -> Path:
    """The file :func:`load_model` reads the weights from (never called for random)."""
    path = weights_file(args.name, args.weights)
    assert path is not None, "random weights have no file"
    return path


def _hashed(path: Path) -> WeightsFile:
    """The file's sha256, refusing a file that changes while it is read."""
    check_regular_file(path, MAX_WEIGHTS_BYTES)  # never hash a FIFO or a device
    before = _stamp(path)
    digest = file_sha256(path)
    if _stamp(path) != before:
        raise ModelLoadError(f"the weights file {path} changed while it was read; run again")
    return WeightsFile(path, digest, before)


def _stamp(path: Path) -> Stamp:
    info = os.stat(path)
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _stamp_or_none(path: Path) -> Stamp | None:
    try:
        return _stamp(path)
    except OSError:
        return None
