"""Getting weights in: installing an ImageNet file, importing one into the library, and
recording where a fine-tuned model's starting weights came from.

The inspection, install and import are jobs (generators taking ``should_stop``) that the
window runs in workers; the description is written into the library's metadata by both
front ends, so a model's record does not depend on which one made it. A file is
inspected first, so the window can ask for as many class names as its head has outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from resnet_desktop.app.names import new_model_name
from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.library import ModelLibrary, class_names_problem
from resnet_desktop.core.model_loader import RANDOM, LoadedModel, ModelLoadError, load_model
from resnet_desktop.core.weights import (
    MAX_CLASSES,
    WeightsError,
    apply_state_dict,
    fits,
    imagenet_weights_path,
    load_state_dict_file,
    read_class_names,
)
from resnet_desktop.core.zoo import SPECS, ModelSpec

if TYPE_CHECKING:
    import torch

COPY_CHUNK = 1 << 20
# Class-name files looked for beside a weights file, after ``<its name>.txt``/``.json``.
NAMES_FILES = ("classes.txt", "class_names.txt", "labels.txt", "classes.json")


@dataclass(frozen=True)
class WeightsFileInfo:
    """What a weights file holds: enough for the window to ask the right questions.

    ``spec`` is the architecture the file fits (the one asked for first, else the first
    of the zoo that fits, so a user need not know it). ``class_names`` are the suggested
    names: a names file found beside the weights (``names_file``) with as many names as
    the head has outputs, else the defaults the head implies (ImageNet's, CIFAR-10's, or
    ``class_0``...). ``imagenet``: the file has the architecture's full ImageNet head, so
    it can stand in for its ImageNet weights.
    """

    source: Path
    spec: ModelSpec
    class_names: list[str]
    names_file: Path | None
    imagenet: bool
    suggested_name: str  # for the new library model, free in the library


def inspect_weights_file(
    preferred: ModelSpec, source: Path, should_stop: Callable[[], bool]
) -> Iterator[WeightsFileInfo]:
    """Find the architecture ``source`` fits (``preferred`` first), load it, count its classes.

    A file that fits none fails saying so, with its mismatch against ``preferred``.
    """
    spec = find_architecture(load_state_dict_file(source), preferred)
    try:
        loaded = load_model((spec or preferred).name, weights=source, should_stop=should_stop)
    except ModelLoadError as error:
        if spec is not None:
            raise
        raise WeightsError(
            f"{source.name} fits none of the {len(SPECS)} architectures this app knows; "
            f"as {preferred.title}: {error}"
        ) from None
    spec = spec or preferred
    count = len(loaded.class_names)
    names_file = _names_file_beside(source, count)
    yield WeightsFileInfo(
        source,
        spec,
        read_class_names(names_file) if names_file else loaded.class_names,
        names_file,
        spec.has_builtin_weights and count == spec.num_classes,
        new_model_name(spec.name, source.stem),
    )


def find_architecture(
    state_dict: dict[str, torch.Tensor], preferred: ModelSpec
) -> ModelSpec | None:
    """The zoo architecture ``state_dict`` fits with any number of classes, ``preferred``
    first; None when none fits.

    Networks are built on torch's meta device (shapes without memory), and only those
    whose head the file has.
    """
    import torch

    from resnet_desktop.core.networks import build_network

    for spec in sorted(SPECS.values(), key=lambda candidate: candidate != preferred):
        head = state_dict.get(f"{spec.head}.weight")
        if head is None or head.dim() != 2 or not 1 <= head.shape[0] <= MAX_CLASSES:
            continue
        with torch.device("meta"):
            network = build_network(spec, int(head.shape[0]))
        if fits(network, state_dict):
            return spec
    return None


def _names_file_beside(source: Path, count: int) -> Path | None:
    """The first readable class-names file beside ``source`` with ``count`` names."""
    candidates = [source.with_suffix(".txt"), source.with_suffix(".json")]
    for path in [*candidates, *(source.parent / name for name in NAMES_FILES)]:
        try:
            if path.is_file() and len(read_class_names(path)) == count:
                return path
        except WeightsError:
            continue  # not a names file after all: the next candidate may be
    return None


def class_names_from_text(text: str) -> list[str]:
    """One class name a line (pasted or typed), blank lines and outer spaces dropped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def class_names_issue(names: Sequence[str], count: int) -> str:
    """Why ``names`` cannot name a head of ``count`` outputs ('' if they can)."""
    if len(names) != count:
        return f"{len(names)} names for {count} classes: give exactly one name a line per class"
    repeated = [name for name, times in Counter(names).items() if times > 1]
    if repeated:
        return f"each class needs its own name; repeated: {', '.join(repeated[:5])}"
    return class_names_problem(names)


def install_imagenet_weights(
    spec: ModelSpec, source: Path, should_stop: Callable[[], bool]
) -> Iterator[Path]:
    """Check that ``source`` loads into ``spec``'s network, then copy it into torch's cache."""
    from resnet_desktop.core.networks import build_network  # imports torch

    apply_state_dict(build_network(spec), load_state_dict_file(source))
    target = imagenet_weights_path(spec)
    with open(source, "rb") as reader, atomic_open(target, "wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            if should_stop():
                raise WeightsError("import cancelled")
            writer.write(chunk)
    yield target


def import_into_library(
    spec: ModelSpec,
    source: Path,
    name: str,
    class_names: Sequence[str],
    should_stop: Callable[[], bool],
) -> Iterator[str]:
    """Add ``source`` to the library as ``name``, its outputs named ``class_names``."""
    ModelLibrary().import_file(source, spec.name, list(class_names), name)
    yield name


def describe_base_weights(base: LoadedModel, weights: str | Path | None) -> str:
    """Where ``base``'s weights came from, for a fine-tuned model's metadata.

    ``weights`` is what the model was loaded with: None (its own: a library model's, or
    the architecture's ImageNet weights), ``random``, or a file, recorded by its name
    only (the folders above it say nothing about the weights and may be private).
    """
    if weights is None:
        return f"library:{base.name}" if base.name != base.spec.name else str(base.spec.weights)
    if str(weights) == RANDOM:
        return RANDOM
    return f"file:{Path(weights).name}"
