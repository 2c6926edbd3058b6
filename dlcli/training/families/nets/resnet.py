"""The CIFAR ResNet of the `resnet` family (He et al., 2016, section 4.2) as nn.Modules.

    stem      conv3p1-W, BN, ReLU                          (H, W) kept
    stage 1   n basic blocks, W channels                   (H, W)
    stage 2   n basic blocks, 2W channels, first stride 2  (H/2, W/2)
    stage 3   n basic blocks, 4W channels, first stride 2  (H/4, W/4)
    head      global average pooling, linear

A basic block is conv3-BN-ReLU-conv3-BN plus the shortcut, then ReLU. The shortcut is the identity
where the shape is kept and a projection (1x1 conv with the block's stride, then BN) where it
changes (He et al.'s option B). depth = 6n + 2 counts the stem, 6n convs and the linear layer.

The main path is exactly `dlcli.archs.cifar_resnet_specs(depth, width)` (the `--arch resnet20`
preset of `featsize` and `receptive-field`), so those commands describe the model this file builds.
Global average pooling makes the model work on any input size (8x8 digits, 32x32, image folders).
Imports torch: `families/resnet.py`'s builder loads it on first use.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn


class ResNetShape(Protocol):
    """What the network reads of its config (the family's `ResNetConfig`)."""

    width: int
    augment: bool

    @property
    def blocks_per_stage(self) -> int: ...


class BasicBlock(nn.Module):
    """conv3-BN-ReLU-conv3-BN + shortcut, ReLU. x: (B, C_in, H, W) -> (B, C, H/s, W/s)."""

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module
        if stride != 1 or in_planes != planes:
            # Projection (option B): the 1x1 conv matches channels and stride of the main path.
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class RandomShift(nn.Module):
    """Training only: pad each image by `size // 8` pixels (edge values) and crop it back at
    a random offset, i.e. shift it by up to that many pixels (He et al.'s CIFAR crops, no
    flips: digits are not mirror-symmetric). Identity in eval mode."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        pad = max(1, min(h, w) // 8)
        if not self.training:
            return x
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")  # (N, C, H+2p, W+2p)
        dy = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), device=x.device)
        rows = (dy + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
        cols = (dx + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        chan = torch.arange(c, device=x.device)[None, :, None, None]
        return padded[batch, chan, rows, cols]  # (N, C, H, W)


class CifarResNet(nn.Module):
    """x: (B, C, H, W) float -> logits (B, num_classes)."""

    def __init__(self, config: ResNetShape, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.config = config
        w, n = config.width, config.blocks_per_stage
        self.augment = RandomShift() if config.augment else nn.Identity()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
        )
        stages = []
        in_planes = w
        for stage in range(3):
            planes = w * 2**stage
            blocks = []
            for index in range(n):
                stride = 2 if stage > 0 and index == 0 else 1
                blocks.append(BasicBlock(in_planes, planes, stride))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.stage1, self.stage2, self.stage3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)  # global average pooling: any input size
        self.fc = nn.Linear(in_planes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.augment(x))  # (B, W, H, W')
        x = self.stage3(self.stage2(self.stage1(x)))  # (B, 4W, H/4, W'/4)
        return self.fc(torch.flatten(self.pool(x), 1))  # (B, 4W) -> (B, classes)

    def main_path_convs(self) -> list[nn.Conv2d]:
        """The convs of `config.specs()`, in the same order (projections left out)."""
        modules: list[nn.Module | torch.Tensor] = [self.stem[0]]
        for stage in (self.stage1, self.stage2, self.stage3):
            for block in stage:
                modules += [block.conv1, block.conv2]
        return [m for m in modules if isinstance(m, nn.Conv2d)]  # all of them
