"""What a fine-tuning run trains and how: trainable layers, optimizer, loss weights."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from torch import nn

from resnet_desktop.core.networks import build_network
from resnet_desktop.core.optimisation import (
    class_weights,
    make_optimizer,
    set_trainable,
    train_mode,
)
from resnet_desktop.core.train_config import TrainConfig
from resnet_desktop.core.zoo import get_spec


def test_last_strategy_trains_the_last_stage_and_frozen_batch_norm_stays_in_eval():
    spec = get_spec("cifar_resnet20")
    model = build_network(spec, 3)
    set_trainable(model, spec, "last")
    trainable = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"layer3", "linear"}
    train_mode(model)
    assert model.layer3[0].bn1.training and not model.bn1.training
    assert not model.layer1[0].bn1.training and model.linear.training
    set_trainable(model, spec, "full")
    assert all(p.requires_grad for p in model.parameters())


def test_no_weight_decay_on_biases_and_norms_and_none_on_frozen_parameters():
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3))
    config = TrainConfig(optimizer="sgd", lr=0.1, weight_decay=0.01)
    optimizer = make_optimizer(model, config)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"]
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.01 and [p.ndim for p in decay["params"]] == [2]
    assert no_decay["weight_decay"] == 0.0 and len(no_decay["params"]) == 3
    model[0].requires_grad_(False)
    adamw = make_optimizer(model, replace(config, optimizer="adamw"))
    assert isinstance(adamw, torch.optim.AdamW)
    assert [len(group["params"]) for group in adamw.param_groups] == [0, 2]


def test_class_weights_only_for_imbalanced_classes_and_one_per_image_on_average():
    assert class_weights([10, 10, 6], None) is None  # max/min below 2
    assert class_weights([30, 10], False) is None
    assert torch.equal(class_weights([5, 5], True), torch.ones(2))
    weights = class_weights([30, 10], None)
    assert weights is not None and float(weights[1]) == pytest.approx(3 * float(weights[0]))
    assert float(weights @ torch.tensor([30.0, 10.0])) == pytest.approx(40.0)


def test_the_training_helpers_load_without_torch():
    """Like the other non-network core modules, they import torch only when called."""
    code = (
        "import sys, resnet_desktop.core.optimisation, resnet_desktop.core.augment, "
        "resnet_desktop.core.throttle; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
