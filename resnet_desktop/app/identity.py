"""Which model a result comes from: a model's catalog identity and the sha256 of its weights.

A result belongs to the exact weights that computed it, so the identity hashes the
weights file the model is loaded from: the library's file, torchvision's cached ImageNet
file, or a file the user names. Hashing 100 MB takes a noticeable fraction of a second,
so each file is hashed once per process while its size and mtime stay the same.
Random weights have no file and no identity: their results are never recorded.

:func:`identity_for` finds the identity of a model the window lists without building its
network, so switching models shows the stored results before torch is even needed
(a zoo model's ImageNet class names still import torchvision: call it off the GUI thread).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from resnet_desktop.core.catalog import ModelIdentity
from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.model_loader import RANDOM, LoadedModel
from resnet_desktop.core.weights import file_sha256, imagenet_class_names, imagenet_weights_path
from resnet_desktop.core.zoo import SPECS

_hashes: dict[tuple[str, int, int], str] = {}
_hashes_lock = threading.Lock()


def weights_sha256(path: Path) -> str:
    """The file's sha256, computed again only when its size or mtime changed."""
    info = os.stat(path)
    key = (os.path.abspath(path), info.st_size, info.st_mtime_ns)
    with _hashes_lock:
        known = _hashes.get(key)
    if known is None:
        known = file_sha256(path)
        with _hashes_lock:
            _hashes[key] = known
    return known


def weights_file(name: str, weights: str | Path | None = None) -> Path | None:
    """The file ``load_model(name, weights)`` reads its weights from; None for random ones.

    Raises LibraryError for a library model whose entry cannot be read.
    """
    if weights is not None:
        return None if str(weights) == RANDOM else Path(weights)
    if name not in SPECS:
        return ModelLibrary().get(name).weights_path
    spec = SPECS[name]
    return imagenet_weights_path(spec) if spec.has_builtin_weights else None


def identity_of(model: LoadedModel, weights: str | Path | None = None) -> ModelIdentity | None:
    """The identity of a model loaded with ``load_model(model.name, weights)``.

    None when it has no weights file (random weights): such results are not recorded.
    """
    path = weights_file(model.name, weights)
    return None if path is None else ModelIdentity.of(model, weights_sha256(path))


def identity_for(name: str) -> ModelIdentity | None:
    """The identity ``name`` (a library or zoo model, its own weights) will load with.

    Reads the library's metadata or the zoo's table instead of building the network.
    None when the weights are not on disk (not downloaded yet, or an architecture
    without weights of its own) or the library entry cannot be read: then nothing
    that the catalog holds can be this model's.
    """
    try:
        if name in SPECS:
            spec = SPECS[name]
            if not (spec.has_builtin_weights and imagenet_weights_path(spec).is_file()):
                return None
            path, preprocess = imagenet_weights_path(spec), spec.preprocess
            names = tuple(imagenet_class_names(spec))
        else:
            entry = ModelLibrary().get(name)
            path, names, preprocess = entry.weights_path, entry.class_names, entry.preprocess
        return ModelIdentity(name, weights_sha256(path), tuple(names), preprocess)
    except (LibraryError, OSError):
        return None
