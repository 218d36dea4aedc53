"""Where a fine-tuned model's starting weights came from: one format for both front ends."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from resnet_desktop.app.weights import describe_base_weights
from resnet_desktop.core.zoo import get_spec
from tests.helpers import colour_model


def test_base_weights_are_described_the_same_whoever_asks(tmp_path: Path):
    library_model = colour_model()  # named unlike its architecture: a library model
    zoo_model = dataclasses.replace(library_model, name="resnet50", spec=get_spec("resnet50"))
    assert describe_base_weights(library_model, None) == "library:colours"
    assert describe_base_weights(zoo_model, None) == str(get_spec("resnet50").weights)
    assert describe_base_weights(zoo_model, "random") == "random"
    private = tmp_path / "home" / "me" / "ckpt.pth"
    assert describe_base_weights(zoo_model, private) == "file:ckpt.pth"
    assert describe_base_weights(zoo_model, str(private)) == "file:ckpt.pth"
