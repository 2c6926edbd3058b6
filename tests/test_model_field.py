"""receptive-field --model: fields of nn.Modules through branches, checked against gradients.

Every net here is written in the test; `field_oracle` linearises it (positive weights, no
activations, max pools averaged) so the input gradient of one output unit is non-zero exactly
on that unit's field, and compares it with what dlcli reports, node by node.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from field_oracle import check_against_gradients
from torch import nn

from dlcli.modelfield import model_receptive_fields

torch.set_num_threads(1)


def fields(net, shape, nodes=None):
    return model_receptive_fields(net, shape, nodes).to_dict()


def by_name(document: dict) -> dict:
    return {n["name"]: n for n in document["nodes"]}


def conv(cin, cout, k=3, **kw):
    return nn.Conv2d(cin, cout, k, **kw)


class Basic(nn.Module):
    """A ResNet basic block; with stride 2, a 1x1 projection shortcut (`out += identity`)."""

    def __init__(self, c: int, out: int, stride: int = 1):
        super().__init__()
        self.conv1 = conv(c, out, stride=stride, padding=1)
        self.bn1 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv(out, out, padding=1)
        self.down = nn.Sequential(conv(c, out, 1, stride=stride)) if stride != 1 else None

    def forward(self, x):
        identity = x if self.down is None else self.down(x)
        out = self.conv2(self.relu(self.bn1(self.conv1(x))))
        out += identity
        return self.relu(out)


class Inception(nn.Module):
    """Four branches (1x1, 3x3, 5x5 as two 3x3, pool) concatenated along channels."""

    def __init__(self, c: int):
        super().__init__()
        self.b1 = conv(c, 2, 1)
        self.b3 = nn.Sequential(conv(c, 2, 1), nn.ReLU(), conv(2, 2, padding=1))
        self.b5 = nn.Sequential(conv(c, 2, padding=1), conv(2, 2, padding=1))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c, 2, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)


class UNet(nn.Module):
    """Down by pooling and a strided conv, up by nearest, bilinear and transposed conv, with
    skip connections concatenated."""

    def __init__(self, c: int = 3, w: int = 4):
        super().__init__()
        self.enc1 = nn.Sequential(conv(c, w, padding=1), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.enc2 = conv(w, w, padding=1)
        self.down = conv(w, w, stride=2, padding=1)
        self.bottom = conv(w, w, padding=2, dilation=2)
        self.up1 = nn.ConvTranspose2d(w, w, 4, stride=2, padding=1)
        self.dec1 = conv(2 * w, w, padding=1)
        self.up2 = nn.Upsample(scale_factor=2)
        self.dec2 = conv(2 * w, w, padding=1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottom(self.down(e2))
        d1 = self.dec1(torch.cat([self.up1(b), e2], 1))
        d2 = self.dec2(torch.cat([self.up2(d1), e1], 1))
        return d2 + F.interpolate(b, scale_factor=4, mode="bilinear")


class SqueezeExcite(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = conv(c, c, padding=1)
        self.fc = nn.Linear(c, c)

    def forward(self, x):
        y = self.conv(x)
        weights = torch.sigmoid(self.fc(y.mean((2, 3))))
        return y * weights[:, :, None, None]


NETS = {
    "residual": (
        lambda: nn.Sequential(conv(3, 4, 7, stride=2, padding=3), Basic(4, 4), Basic(4, 8, 2)),
        (3, 40, 40),
    ),
    "inception": (lambda: nn.Sequential(conv(3, 4, padding=1), Inception(4)), (3, 24, 24)),
    "dilated": (
        lambda: nn.Sequential(*[conv(3, 3, padding=d, dilation=d) for d in (1, 2, 4, 8)]),
        (3, 48, 48),
    ),
    "unet": (UNet, (3, 64, 64)),
    "non_square": (
        lambda: nn.Sequential(
            conv(3, 4, (3, 5), padding=(1, 0)),
            nn.AvgPool2d((2, 3), ceil_mode=True),
            nn.ZeroPad2d((1, 2, 0, 3)),
            conv(4, 4, (1, 3), stride=(1, 2), dilation=(1, 2)),
            nn.MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
        ),
        (3, 37, 53),
    ),
    "adaptive_then_global": (
        lambda: nn.Sequential(
            conv(3, 4, stride=2),
            nn.AdaptiveAvgPool2d((5, 3)),
            conv(4, 4, 2),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(4, 2),
        ),
        (3, 26, 21),
    ),
    "squeeze_excite": (lambda: nn.Sequential(conv(3, 4, stride=2), SqueezeExcite(4)), (3, 20, 20)),
    "transposed_and_upsampling": (
        lambda: nn.Sequential(
            conv(3, 4, stride=2),
            nn.ConvTranspose2d(4, 4, 3, stride=3, padding=1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
            nn.PixelShuffle(2),
            conv(1, 4, 3),
            nn.PixelUnshuffle(2),
            nn.ConvTranspose2d(16, 4, (2, 5), stride=(2, 1), dilation=(1, 2)),
        ),
        (3, 17, 19),
    ),
    "one_dimension": (
        lambda: nn.Sequential(
            nn.Conv1d(2, 2, 5, padding=2), nn.MaxPool1d(3, 2), nn.Conv1d(2, 2, 3, dilation=3)
        ),
        (2, 60),
    ),
    "three_dimensions": (
        lambda: nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.AvgPool3d(2), nn.Conv3d(2, 1, 3)),
        (1, 12, 12, 12),
    ),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_nets_match_gradients(name):
    make, shape = NETS[name]
    torch.manual_seed(0)
    net = make()
    assert check_against_gradients(net, shape, fields(net, shape)) > 0
