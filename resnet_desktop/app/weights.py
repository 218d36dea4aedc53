"""Getting weights in: installing an ImageNet file, importing one into the library, and
recording where a fine-tuned model's starting weights came from.

The install and import are jobs (generators taking ``should_stop``) that the window runs
in workers; the description is written into the library's metadata by both front ends,
so a model's record does not depend on which one made it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from resnet_desktop.core.atomic import atomic_open
from resnet_desktop.core.library import ModelLibrary
from resnet_desktop.core.model_loader import RANDOM, LoadedModel, load_model
from resnet_desktop.core.weights import (
    WeightsError,
    apply_state_dict,
    imagenet_weights_path,
    load_state_dict_file,
)
from resnet_desktop.core.zoo import ModelSpec

COPY_CHUNK = 1 << 20


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
    spec: ModelSpec, source: Path, name: str, should_stop: Callable[[], bool]
) -> Iterator[str]:
    """Add ``source`` to the library as ``name``, with the class names its head implies."""
    loaded = load_model(spec.name, weights=source, should_stop=should_stop)
    ModelLibrary().import_file(source, spec.name, loaded.class_names, name)
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
