"""Every architecture of the model table builds, runs and has a swappable head."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from resnet_desktop.core import cifar_resnet, zoo
from resnet_desktop.core.networks import build_network, head_of, replace_head

# Parameter counts of the paper's Table 6 (millions, as printed there).
PAPER_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}


@pytest.mark.parametrize("name", list(zoo.SPECS))
def test_every_spec_builds_and_classifies_into_the_requested_classes(name):
    spec = zoo.SPECS[name]
    torch.manual_seed(0)
    network = build_network(spec, num_classes=7).eval()
    crop = spec.preprocess.crop
    with torch.inference_mode():
        logits = network(torch.randn(2, 3, crop, crop))
    assert logits.shape == (2, 7)
    assert torch.isfinite(logits).all()
    assert head_of(network, spec).out_features == 7
    modules = dict(network.named_modules())
    assert all(name in modules for name in spec.last_stage)


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "cifar_resnet20"])
def test_default_class_count_is_the_specs(name):
    spec = zoo.SPECS[name]
    assert head_of(build_network(spec), spec).out_features == spec.num_classes


@pytest.mark.parametrize(
    ("name", "attribute", "in_features"),
    [
        ("resnet18", "fc", 512),
        ("densenet121", "classifier", 1024),
        ("cifar_resnet20", "linear", 64),
    ],
)
def test_head_is_found_through_the_spec(name, attribute, in_features):
    spec = zoo.SPECS[name]
    network = build_network(spec)
    head = head_of(network, spec)
    assert head is getattr(network, attribute)
    assert head.in_features == in_features


def test_replace_head_swaps_in_a_new_linear_of_the_same_width():
    spec = zoo.SPECS["cifar_resnet20"]
    network = build_network(spec).eval()
    old = head_of(network, spec)
    new = replace_head(network, spec, 3)
    assert new is not old
    assert network.linear is new
    assert (new.in_features, new.out_features) == (old.in_features, 3)
    with torch.inference_mode():
        assert network(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_replace_head_keeps_dtype():
    spec = zoo.SPECS["resnet18"]
    network = build_network(spec).to(torch.float64)
    assert replace_head(network, spec, 4).weight.dtype == torch.float64


def test_head_of_refuses_a_spec_whose_head_is_not_linear():
    spec = zoo.SPECS["resnet18"]
    bad = dataclasses.replace(spec, head="layer1")
    with pytest.raises(TypeError, match=r"not nn\.Linear"):
        head_of(build_network(spec), bad)


@pytest.mark.parametrize(("depth", "millions"), PAPER_PARAMS_M.items())
def test_cifar_resnets_have_the_papers_parameter_counts(depth, millions):
    network = build_network(zoo.SPECS[f"cifar_resnet{depth}"])
    params = sum(p.numel() for p in network.parameters())
    assert float(f"{params / 1e6:.2g}") == millions


def test_cifar_resnet_uses_the_shared_checkpoints_key_names():
    keys = build_network(zoo.SPECS["cifar_resnet20"]).state_dict()
    blocks = {k.split(".")[1] for k in keys if k.startswith("layer3.")}
    assert blocks == {"0", "1", "2"}  # n = (20 - 2) / 6
    assert keys["layer1.0.conv1.weight"].shape == (16, 16, 3, 3)
    assert keys["layer2.0.conv1.weight"].shape == (32, 16, 3, 3)
    assert keys["layer3.2.bn2.running_var"].shape == (64,)
    assert keys["linear.weight"].shape == (10, 64)
    assert not any("shortcut" in k for k in keys)  # option A has no parameters


def test_option_a_shortcut_subsamples_and_pads_channels_on_both_sides():
    shortcut = cifar_resnet.PadShortcut(16, 32, stride=2)
    x = torch.arange(16 * 4 * 4, dtype=torch.float32).reshape(1, 16, 4, 4)
    out = shortcut(x)
    assert out.shape == (1, 32, 2, 2)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2])
    assert not out[:, :8].any() and not out[:, 24:].any()


def test_cifar_convolutions_are_he_initialised():
    torch.manual_seed(0)
    conv = build_network(zoo.SPECS["cifar_resnet56"]).layer3[0].conv2
    fan_out = conv.out_channels * 3 * 3
    assert conv.weight.std().item() == pytest.approx((2 / fan_out) ** 0.5, rel=0.05)


def test_cifar_resnet_refuses_a_depth_that_is_not_6n_plus_2():
    with pytest.raises(ValueError, match="6n"):
        cifar_resnet.cifar_resnet(21)


def test_cifar_resnet_is_a_plain_module_tree():
    network = build_network(zoo.SPECS["cifar_resnet20"])
    assert isinstance(network.layer2, nn.Sequential)
    assert [type(b).__name__ for b in network.layer2] == ["BasicBlock"] * 3
