"""A small residual CNN in plain PyTorch, for `dlcli featsize --model` and `dlcli train custom`.

    dlcli featsize --model sample_data/mynet.py:Net --input 1x8x8
    dlcli train custom --model sample_data/mynet.py:Net --data digits --epochs 5
"""

import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Two 3x3 convs with batch norm and an identity shortcut (He et al., 2016)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + x)


class Net(nn.Module):
    """(N, in_channels, H, W) -> (N, num_classes) for any H, W."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.block = Block(width)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.block(F.relu(self.stem(x)))
        return self.head(x.mean((2, 3)))
