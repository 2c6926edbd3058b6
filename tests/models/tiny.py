"""Models for the tests of REFs, `featsize --model` and `train custom` (plain PyTorch)."""

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """A residual block: conv, batch norm, `+` the input, relu (functional ops in forward)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)) + x)


class Net(nn.Module):
    """(N, C, H, W) -> (N, classes): stem, a residual block, upsampling, pooling, a head."""

    def __init__(self, classes: int = 10, width: int = 8, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1)
        self.block = Block(width)
        self.head = nn.Linear(width, classes)
        self.mix = nn.Parameter(torch.eye(classes))

    def forward(self, x):
        x = self.block(self.stem(x))
        x = F.interpolate(x, scale_factor=2, mode="bilinear")
        x = x.mean((2, 3))
        return self.head(x) @ self.mix


class Tied(nn.Module):
    """An encoder and a decoder that share one weight tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.encode = nn.Linear(5, 5, bias=False)
        self.decode = nn.Linear(5, 5, bias=False)
        self.decode.weight = self.encode.weight  # tied: one tensor, two names

    def forward(self, x):
        return self.decode(torch.tanh(self.encode(x)))


def computed_widths(classes: int = 10):
    """A factory that computes with tensor values while building (as torchvision's RegNets do):
    it cannot run on the meta device."""
    width = int(torch.tensor([4.0, 8.0]).max().item())
    return Net(classes=classes, width=width)


def not_a_module():
    return 3


def broken(classes: int = 10):
    """A model whose head expects the wrong width: the forward fails inside `head`."""
    model = Net(classes=classes)
    model.head = nn.Linear(5, classes)
    return model


class Flat(nn.Module):
    """A tabular classifier: (N, F) -> (N, classes)."""

    def __init__(self, features: int = 64, classes: int = 10, hidden: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, classes)
        )

    def forward(self, x):
        return self.body(x.flatten(1))
