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


def test_the_architecture_of_a_weights_file_is_found_whatever_is_selected():
    from resnet_desktop.app.weights import find_architecture
    from resnet_desktop.core.networks import build_network
    from resnet_desktop.core.zoo import get_spec

    resnet18 = build_network(get_spec("resnet18"), 7).state_dict()  # fine-tuned: 7 classes
    assert find_architecture(resnet18, get_spec("cifar_resnet20")) == get_spec("resnet18")
    cifar = build_network(get_spec("cifar_resnet32"), 3).state_dict()
    assert find_architecture(cifar, get_spec("resnet50")) == get_spec("cifar_resnet32")
    del cifar["layer1.0.conv1.weight"]
    assert find_architecture(cifar, get_spec("resnet50")) is None
