"""The CIFAR-10 ResNets of "Deep Residual Learning for Image Recognition", section 4.2.

A 3x3 stem with 16 channels, three stages of ``n`` basic blocks with 16/32/64 channels
(``depth = 6n + 2``), option A shortcuts (stride-2 subsampling and zero-padded channels, so
the shortcuts have no parameters), global average pooling and a linear classifier.

Module names match the widely shared checkpoints (``conv1``, ``bn1``, ``layer1``..``layer3``,
``linear``), so their state dicts load as they are once the ``module.`` prefix is gone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGE_CHANNELS = (16, 32, 64)


class PadShortcut(nn.Module):
    """Option A: subsample by ``stride`` and zero-pad the new channels equally on both sides.

    The split of the padding (half before, half after) is what the shared checkpoints were
    trained with; putting all of it after the input channels would scramble them.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad_before = extra // 2
        self.pad_after = extra - extra // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, self.pad_before, self.pad_after))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm, added to the (parameter-free) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        needs_projection = stride != 1 or in_channels != out_channels
        self.shortcut: nn.Module = (
            PadShortcut(in_channels, out_channels, stride) if needs_projection else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images."""

    def __init__(self, blocks_per_stage: int, num_classes: int = 10) -> None:
        super().__init__()
        first = STAGE_CHANNELS[0]
        self.conv1 = nn.Conv2d(3, first, 3, 1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(first)
        self.layer1 = _stage(first, STAGE_CHANNELS[0], blocks_per_stage, stride=1)
        self.layer2 = _stage(STAGE_CHANNELS[0], STAGE_CHANNELS[1], blocks_per_stage, stride=2)
        self.layer3 = _stage(STAGE_CHANNELS[1], STAGE_CHANNELS[2], blocks_per_stage, stride=2)
        self.linear = nn.Linear(STAGE_CHANNELS[2], num_classes)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


def _stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(in_channels, out_channels, stride)]
    layers += [BasicBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _init_weights(module: nn.Module) -> None:
    """He initialisation of the convolutions, as the paper does (its reference [13]).

    Batch norm (weight 1, bias 0) and the linear head keep PyTorch's defaults.
    """
    if isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def cifar_resnet(depth: int, num_classes: int = 10) -> CifarResNet:
    """ResNet-``depth`` for CIFAR; ``depth`` must be 6n + 2."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (8, 14, 20, ...), got {depth}")
    return CifarResNet((depth - 2) // 6, num_classes)


def cifar_resnet20(num_classes: int = 10) -> CifarResNet:
    return cifar_resnet(20, num_classes)


def cifar_resnet32(num_classes: int = 10) -> CifarResNet:
    return cifar_resnet(32, num_classes)


def cifar_resnet44(num_classes: int = 10) -> CifarResNet:
    return cifar_resnet(44, num_classes)


def cifar_resnet56(num_classes: int = 10) -> CifarResNet:
    return cifar_resnet(56, num_classes)


def cifar_resnet110(num_classes: int = 10) -> CifarResNet:
    return cifar_resnet(110, num_classes)
