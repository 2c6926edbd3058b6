"""Models for the README's `receptive-field --model` examples (plain PyTorch, no torchvision).

`resnet18()` has torchvision's ResNet-18 layout (stem, max pool, four stages of basic blocks with
identity and 1x1 projection shortcuts, global pooling, a linear head). `SkipNet` joins an odd and
an even kernel and upsamples: paths that do not agree on their centres, and a fractional stride.
"""

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, blocks=(2, 2, 2, 2), num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, cin = [], 64
        for i, n in enumerate(blocks):
            cout = 64 * 2**i
            layer = [BasicBlock(cin, cout, 1 if i == 0 else 2)]
            layer += [BasicBlock(cout, cout) for _ in range(n - 1)]
            stages.append(nn.Sequential(*layer))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000) -> ResNet:
    return ResNet((2, 2, 2, 2), num_classes)


class SkipNet(nn.Module):
    """Down, up, and a skip: an odd 3x3 and an even 2x2 kernel side by side."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.odd = nn.Conv2d(3, width, 3, padding=1)
        self.even = nn.Conv2d(3, width, 2, padding=1)
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose2d(width, width, 2, stride=2)

    def forward(self, x):
        skip = self.odd(x) + self.even(x)[:, :, 1:, 1:]
        return skip + self.up(self.down(skip))
