"""Build the networks of the model table and swap their classifier heads. (OWNER: helper H2)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from resnet_desktop.core.zoo import ModelSpec

if TYPE_CHECKING:
    from torch import nn


def build_network(spec: ModelSpec, num_classes: int | None = None) -> nn.Module:
    """An untrained network of ``spec`` with a head of ``num_classes`` (default: the spec's)."""
    raise NotImplementedError


def head_of(model: nn.Module, spec: ModelSpec) -> nn.Linear:
    """The final ``nn.Linear`` of ``model``, found through ``spec.head``."""
    raise NotImplementedError


def replace_head(model: nn.Module, spec: ModelSpec, num_classes: int) -> nn.Linear:
    """Put a freshly initialised ``nn.Linear`` for ``num_classes`` in place of the head."""
    raise NotImplementedError
