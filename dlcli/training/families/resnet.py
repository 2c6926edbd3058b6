"""The `resnet` family: a residual network for small images, as He et al. (2016, section 4.2)
define it for CIFAR-10 (the network itself: `nets/resnet.py`), trained as they train it.

The main path is exactly `dlcli.layers.cifar_resnet_specs(depth, width)` (the `--arch resnet20`
preset of `featsize` and `receptive-field`), so those commands describe the model this family
builds, and its footprint and table are counted from that chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.training.config import knob
from dlcli.training.families.family import Family, Footprint, dims

if TYPE_CHECKING:
    from torch import nn


@dataclass
class ResNetConfig:
    """He et al.'s CIFAR ResNet; classes and input channels come from the data."""

    depth: int = knob(20, "Layers with weights, 6n+2: 20, 32, 44, 56, 110.")
    width: int = knob(16, "Channels of the first stage (then 2x and 4x).")
    augment: bool = knob(
        False,
        "Training only: shift images by up to size/8 pixels (He et al.'s random crops); "
        "pays off with longer training.",
    )

    def __post_init__(self) -> None:
        from dlcli.archs import cifar_resnet_specs

        # raises the InputError for a depth that is not 6n+2 or a bad width
        cifar_resnet_specs(self.depth, self.width)

    @property
    def blocks_per_stage(self) -> int:
        return (self.depth - 2) // 6

    def specs(self) -> list[str]:
        """The main path as layer-spec tokens (what featsize/receptive-field read)."""
        from dlcli.archs import cifar_resnet_specs

        return cifar_resnet_specs(self.depth, self.width)


def build_resnet(config: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The model for `config` on inputs (C, H, W) (fresh He-initialised weights)."""
    from dlcli.training.families.nets.resnet import CifarResNet

    return CifarResNet(config, input_shape[0], num_classes)


def layer_rows(config: ResNetConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """The per-layer table shown before training: stem, each block, pooling, classifier.

    Output sizes come from `featsize.chain_output` over `config.specs()` (the numbers that
    `dlcli featsize --arch resnet20` gives; a test checks them against the torch model), the
    parameter counts from the model itself (batch norm and projections included).
    """
    import torch

    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers
    from dlcli.training.families.nets.resnet import CifarResNet

    c, h, w = input_shape
    chain = chain_output(parse_layers(",".join(config.specs())), (h, w), c)
    with torch.random.fork_rng(devices=[]):  # showing the table must not change the training
        model = CifarResNet(config, c, num_classes)  # what build_resnet builds

    def count(module: Any) -> int:
        return sum(p.numel() for p in module.parameters())

    stem = chain.layers[0]
    rows: list[dict[str, Any]] = [
        {"layer": "input", "output": [c, h, w], "params": None},
        {
            "layer": f"stem {stem.spec},bn,relu",
            "output": [stem.channels, *stem.output],
            "params": count(model.stem),
        },
    ]
    index = 1
    for s, stage in enumerate((model.stage1, model.stage2, model.stage3), start=1):
        for b, block in enumerate(stage, start=1):
            first, second = chain.layers[index], chain.layers[index + 1]
            index += 2
            shortcut = "projection" if count(block.shortcut) else "identity"
            rows.append(
                {
                    "layer": f"stage{s}.block{b} {first.spec},{second.spec} +{shortcut}",
                    "output": [second.channels, *second.output],
                    "params": count(block),
                }
            )
    final = chain.layers[-1]
    rows.append({"layer": "global avgpool", "output": [final.channels], "params": 0})
    rows.append(
        {
            "layer": f"linear {final.channels}->{num_classes}",
            "output": [num_classes],
            "params": count(model.fc),
        }
    )
    return rows


def footprint(config: ResNetConfig, shape: tuple[int, ...], classes: int) -> Footprint:
    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers

    dims("resnet", shape, 3, "images (C, H, W)")
    chain = chain_output(parse_layers(",".join(config.specs())), shape[1:], shape[0])
    params = sum((ls.params or 0) + 2 * (ls.channels or 0) for ls in chain.layers)  # conv + bn
    w = config.width  # the 1x1 projections (and their bn) into stages 2 and 3
    params += (w * 2 * w + 2 * 2 * w) + (2 * w * 4 * w + 2 * 4 * w)
    outputs = sum((ls.channels or 0) * math.prod(ls.output) for ls in chain.layers)
    last = chain.out_channels or 0
    return Footprint(params + (last + 1) * classes, 3 * outputs)  # 3: conv, bn, relu


HELP = """A residual network for small images, as He et al. (2016) define it for CIFAR.

    Trained as they train it: SGD with momentum 0.9, lr 0.1, weight decay 5e-4.

    A 3x3 stem, three stages of basic blocks (two 3x3 convs with batch norm and ReLU, identity
    shortcuts, a 1x1 projection where the shape changes), global average pooling, a linear
    classifier. Works on any image size. `dlcli receptive-field --arch resnet20` and
    `dlcli featsize --arch resnet20` describe the main path of the default model.

    \b
    Examples:
      dlcli train resnet                     # digits, ResNet-20 (0.27M weights)
      dlcli train resnet --depth 8 --width 8 --epochs 5
      dlcli train resnet --data cifar10 --augment      # the CIFAR-10 of the paper
      dlcli train resnet --data photos/ --image-size 32 --depth 32
    """

FAMILY = Family(
    name="resnet",
    config_cls=ResNetConfig,
    build=build_resnet,
    help=HELP,
    layout="image",
    footprint=footprint,
    describe=layer_rows,
    sweep_example=("depth", ("8", "14", "20")),
    # He et al.'s optimiser: SGD with momentum 0.9, lr 0.1 and weight decay 5e-4 (they decay the
    # lr at set steps; the engine keeps it constant). On digits this gives 0.98-0.99 test
    # accuracy where Adam at 1e-3 stops at 0.97 (tests/bench/bench_resnet_lstm_quality.py).
    train_defaults={"epochs": 20, "optimizer": "sgd", "weight_decay": 5e-4},
    lr={"sgd": 0.1},
)
