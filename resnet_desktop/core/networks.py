"""Build the networks of the model table and swap their classifier heads.

Everything architecture-specific comes from the :class:`~resnet_desktop.core.zoo.ModelSpec`:
the builder is imported from its ``module:function`` string and the head is found through
``spec.head``, so adding an architecture never means adding a branch here.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable

from torch import nn

from resnet_desktop.core.zoo import ModelSpec


def _builder(spec: ModelSpec) -> Callable[..., nn.Module]:
    module_name, _, function_name = spec.builder.partition(":")
    return getattr(importlib.import_module(module_name), function_name)


def build_network(spec: ModelSpec, num_classes: int | None = None) -> nn.Module:
    """An untrained network of ``spec`` with a head of ``num_classes`` (default: the spec's).

    torchvision's builders default to ``weights=None``, so every builder is called the same
    way; pretrained weights are loaded separately and safely by :mod:`.weights`.
    """
    return _builder(spec)(num_classes=spec.num_classes if num_classes is None else num_classes)


def _parent_and_attribute(model: nn.Module, spec: ModelSpec) -> tuple[nn.Module, str]:
    """The module holding the head and the head's attribute name (``spec.head`` may be dotted)."""
    parent_path, _, attribute = spec.head.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    return parent, attribute


def head_of(model: nn.Module, spec: ModelSpec) -> nn.Linear:
    """The final ``nn.Linear`` of ``model``, found through ``spec.head``."""
    parent, attribute = _parent_and_attribute(model, spec)
    head = getattr(parent, attribute, None)
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{spec.name}: {spec.head!r} is {type(head).__name__}, not nn.Linear")
    return head


def replace_head(model: nn.Module, spec: ModelSpec, num_classes: int) -> nn.Linear:
    """Put a freshly initialised ``nn.Linear`` for ``num_classes`` in place of the head.

    The new head takes the old one's input size, device and dtype, so it can be swapped
    into a model that has already been moved to an accelerator.
    """
    old = head_of(model, spec)
    new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    parent, attribute = _parent_and_attribute(model, spec)
    setattr(parent, attribute, new)
    return new


def headless_copy(model: nn.Module, spec: ModelSpec) -> nn.Module:
    """A copy of ``model`` with an identity where the head is: it outputs the head's inputs.

    Its module tree and weights are those of fine-tuning's headless backbone, so an
    engine's cache keyed on them serves both.
    """
    copied = copy.deepcopy(model)
    parent, attribute = _parent_and_attribute(copied, spec)
    setattr(parent, attribute, nn.Identity())
    return copied
