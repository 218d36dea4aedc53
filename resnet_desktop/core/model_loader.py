"""Turning a model name (zoo or library) plus optional weights/classes into a ready network.

This is the one place that decides where a model's weights and class names come from:
the library's own files, a file the user names, torchvision's cached ImageNet weights,
or nothing at all (``random``, for benchmarks). Every failure is a ModelLoadError whose
message tells the user what to do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.core import weights as weights_mod
from resnet_desktop.core.errors import REMEDY_NO_WEIGHTS, UserError
from resnet_desktop.core.library import LibraryError, ModelLibrary
from resnet_desktop.core.weights import ProgressCallback, WeightsError
from resnet_desktop.core.zoo import CIFAR10_CLASSES, SPECS, ModelSpec, Preprocess

if TYPE_CHECKING:
    import torch
    from torch import nn

RANDOM = "random"


class ModelLoadError(UserError):
    """The model cannot be loaded; the message is for the user."""


@dataclass
class LoadedModel:
    name: str  # zoo or library name as given
    spec: ModelSpec  # architecture entry
    network: nn.Module  # in eval mode, on the CPU
    class_names: list[str]
    preprocess: Preprocess


def load_model(
    name: str,
    weights: str | Path | None = None,
    classes: str | Path | list[str] | None = None,
    progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedModel:
    """Build ``name`` with its weights.

    Args:
        name: a zoo architecture (``resnet50``) or a library model's name.
        weights: ``None`` for the model's own weights (library file or ImageNet),
            ``"random"`` for an untrained network, or a state-dict file.
        classes: class names, or a ``.txt``/``.json`` file of them; by default the
            weights' own (library metadata, ImageNet or CIFAR-10 names).
        progress, should_stop: passed to the ImageNet download, if one is needed.
    """
    try:
        class_names = _read_classes(classes)
        library = ModelLibrary()
        if name not in SPECS and library.exists(name):  # damaged entries say so
            return load_library_model(library, name, weights, class_names)
        spec = _spec(name, library)
        if weights is None:
            return _load_builtin(spec, class_names, progress, should_stop)
        if str(weights) == RANDOM:
            return _load_random(spec, class_names)
        return _load_file(spec, Path(weights), class_names)
    except (WeightsError, LibraryError) as error:
        raise ModelLoadError(str(error)) from error


def _spec(name: str, library: ModelLibrary) -> ModelSpec:
    if name in SPECS:
        return SPECS[name]
    known = ", ".join([*SPECS, *(m.name for m in library.list())])
    raise ModelLoadError(f"unknown model {name!r}; known models: {known}")


def _read_classes(classes: str | Path | list[str] | None) -> list[str] | None:
    if classes is None or isinstance(classes, list):
        return classes
    return weights_mod.read_class_names(classes)


def load_library_model(
    library: ModelLibrary,
    name: str,
    weights: str | Path | None = None,
    class_names: list[str] | None = None,
) -> LoadedModel:
    """``name`` from ``library`` (any library folder: the cluster's workers have their own)."""
    entry = library.get(name)
    spec = SPECS[entry.architecture]
    names = class_names or list(entry.class_names)
    if weights is None:
        state_dict = library.load_state_dict(name)
    else:
        state_dict = weights_mod.load_state_dict_file(weights)
    return _assemble(name, spec, state_dict, names, entry.preprocess)


def _load_builtin(
    spec: ModelSpec,
    class_names: list[str] | None,
    progress: ProgressCallback | None,
    should_stop: Callable[[], bool] | None,
) -> LoadedModel:
    if not spec.has_builtin_weights:
        raise ModelLoadError(
            f"{spec.name} has no built-in weights: it needs a weights file trained for it",
            remedy=REMEDY_NO_WEIGHTS,
        )
    path = weights_mod.ensure_imagenet_weights(spec, progress, should_stop)
    state_dict = weights_mod.load_state_dict_file(path)
    names = class_names or weights_mod.imagenet_class_names(spec)
    return _assemble(spec.name, spec, state_dict, names, spec.preprocess)


def _load_random(spec: ModelSpec, class_names: list[str] | None) -> LoadedModel:
    """Untrained, but seeded: benchmarks repeat, and their OpenVINO conversion is cached."""
    import torch

    from resnet_desktop.core.networks import build_network

    names = class_names or _default_class_names(spec, spec.num_classes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        network = build_network(spec, len(names))
    return LoadedModel(spec.name, spec, network.eval(), names, spec.preprocess)


def _load_file(spec: ModelSpec, path: Path, class_names: list[str] | None) -> LoadedModel:
    state_dict = weights_mod.load_state_dict_file(path)
    names = class_names or _default_class_names(spec, _head_classes(spec, state_dict))
    return _assemble(spec.name, spec, state_dict, names, spec.preprocess)


def _head_classes(spec: ModelSpec, state_dict: dict[str, torch.Tensor]) -> int:
    """The number of classes the weights' head has, checked before anything is built.

    It is read from the file, and decides the size of the network and of the class list,
    so a head that is not a matrix with a plausible row count is refused here.
    """
    head_weight = state_dict.get(f"{spec.head}.weight")
    if head_weight is None:
        return spec.num_classes
    classes = int(head_weight.shape[0]) if head_weight.dim() == 2 else 0
    if not 1 <= classes <= weights_mod.MAX_CLASSES:
        raise ModelLoadError(
            f"the weights' {spec.head}.weight has shape {tuple(head_weight.shape)}; a "
            f"{spec.name} head has one row per class, 1 to {weights_mod.MAX_CLASSES}"
        )
    return classes


def _assemble(
    name: str,
    spec: ModelSpec,
    state_dict: dict[str, torch.Tensor],
    class_names: list[str],
    preprocess: Preprocess,
) -> LoadedModel:
    from resnet_desktop.core.networks import build_network

    head_weight = state_dict.get(f"{spec.head}.weight")
    if head_weight is not None and int(head_weight.shape[0]) != len(class_names):
        raise ModelLoadError(
            f"the weights have {int(head_weight.shape[0])} classes but "
            f"{len(class_names)} class names were given"
        )
    network = build_network(spec, len(class_names))
    weights_mod.apply_state_dict(network, state_dict)
    return LoadedModel(name, spec, network.eval(), list(class_names), preprocess)


def _default_class_names(spec: ModelSpec, num_classes: int) -> list[str]:
    """Names for a head of ``num_classes`` when the user gave none."""
    if spec.has_builtin_weights and num_classes == spec.num_classes:
        return weights_mod.imagenet_class_names(spec)
    if num_classes == len(CIFAR10_CLASSES) and not spec.has_builtin_weights:
        return list(CIFAR10_CLASSES)
    return [f"class_{index}" for index in range(num_classes)]
