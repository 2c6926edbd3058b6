"""The `cnn` family: a conv chain in featsize's layer-spec grammar, then flatten and a fully
connected classifier. The per-layer sizes are featsize's own (`cnn_chain`), so the table shown
before training is the one `dlcli featsize --layers SPEC` prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dlcli.training.config import knob
from dlcli.training.families.blocks import (
    ACTIVATIONS,
    activation_module,
    check_common,
    classifier,
    linear_rows,
    parse_hidden,
)
from dlcli.training.families.family import Family, Footprint, dense, dims

if TYPE_CHECKING:
    from torch import nn

    from dlcli.calculators.featsize import ChainSize
    from dlcli.layers import Layer

# For the 8x8 digits: 8x8x32 -> 4x4x32 -> 4x4x64 -> 2x2x64 = 256 features, then 128 -> classes.
DEFAULT_CNN_LAYERS = "conv3p1-32,maxpool2,conv3p1-64,maxpool2"


@dataclass
class CNNConfig:
    """A conv chain in the layer-spec grammar, then flatten and a fully connected classifier.

    Each conv/deconv is followed by `activation` unless the spec places activations itself
    (any relu/sigmoid/tanh token). `dropout` applies in the classifier.
    """

    layers: str = knob(
        DEFAULT_CNN_LAYERS,
        "Layer chain in featsize's grammar, e.g. 'conv3p1-64,maxpool2,conv3p1-128' "
        "(see 'Layer specs' in the README).",
        metavar="SPEC",
    )
    hidden: tuple[int, ...] = knob(
        (128,), "Hidden layer sizes of the classifier, e.g. 128,64; 0 for none.", metavar="SIZES"
    )
    activation: str = knob(
        "relu", "Nonlinearity after each conv and hidden layer.", choices=ACTIVATIONS
    )
    dropout: float = knob(0.0, "Dropout probability in the classifier (training only).")

    def __post_init__(self) -> None:
        from dlcli.layers import parse_layers

        self.hidden = parse_hidden(self.hidden)
        self.activation = check_common(self.activation, self.dropout)
        parse_layers(self.layers)  # fail early on a bad spec


def cnn_chain(config: CNNConfig, input_shape: tuple[int, ...]) -> tuple[list[Layer], ChainSize]:
    """(parsed layers, featsize ChainSize) for an input (C, H, W): the numbers featsize prints."""
    from dlcli.calculators.featsize import chain_output
    from dlcli.layers import parse_layers

    c, h, w = input_shape
    layers = parse_layers(config.layers)
    return layers, chain_output(layers, (h, w), c)


def describe(config: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    _, chain = cnn_chain(config, input_shape)
    rows: list[dict[str, Any]] = [
        {"layer": "input", "output": [chain.in_channels, *chain.input], "params": None}
    ]
    for ls in chain.layers:
        rows.append(
            {
                "layer": ls.spec,
                "output": [ls.channels, *ls.output],
                "params": ls.params
                if ls.kind in ("conv", "deconv")
                else (2 * (ls.channels or 0) if ls.kind == "bn" else 0),
            }
        )
    width = (chain.out_channels or 0) * chain.output[0] * chain.output[1]  # channels known: C
    rows.append({"layer": "flatten", "output": [width], "params": 0})
    return rows + linear_rows(width, config.hidden, num_classes)


def build_cnn(config: CNNConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    from torch import nn

    layers, chain = cnn_chain(config, input_shape)  # raises InputError if the input is too small
    explicit_act = any(layer.kind in ACTIVATIONS for layer in layers)
    modules: list[nn.Module] = []
    channels = input_shape[0]
    for layer, size in zip(layers, chain.layers, strict=True):
        if layer.kind in ("conv", "deconv"):
            out = layer.channels or channels
            modules.append(_conv(layer, channels, out))
            channels = out
            if not explicit_act:
                modules.append(activation_module(config.activation))
        elif layer.kind == "maxpool":
            d = layer.dims(2)
            modules.append(
                nn.MaxPool2d(d.kernel, d.stride, d.pad_left, d.dilation, ceil_mode=layer.ceil_mode)
            )
        elif layer.kind == "avgpool":
            d = layer.dims(2)
            modules.append(
                nn.AvgPool2d(
                    _pair(d.kernel), _pair(d.stride), _pair(d.pad_left), ceil_mode=layer.ceil_mode
                )
            )
        elif layer.kind in ACTIVATIONS:
            modules.append(activation_module(layer.kind))
        elif layer.kind == "bn":
            modules.append(nn.BatchNorm2d(channels))
        elif layer.kind == "dropout":
            modules.append(nn.Dropout2d(layer.rate if layer.rate is not None else 0.25))
        elif layer.kind == "lrn":
            modules.append(nn.LocalResponseNorm(5))
        else:  # identity
            modules.append(nn.Identity())
        assert size.channels in (None, channels)
    features = channels * chain.output[0] * chain.output[1]
    modules.append(nn.Flatten())
    modules += classifier(features, config.hidden, num_classes, config.activation, config.dropout)
    return nn.Sequential(*modules)


def _conv(layer: Layer, channels: int, out: int) -> nn.Module:
    """The Conv2d (conv) or ConvTranspose2d (deconv) of one token, `channels` -> `out`."""
    from torch import nn

    d = layer.dims(2)
    if layer.kind == "conv":
        padding = "same" if layer.padding == "same" else _pair(d.pad_left)
        return nn.Conv2d(
            channels,
            out,
            _pair(d.kernel),
            _pair(d.stride),
            padding,
            _pair(d.dilation),
            bias=layer.bias,
        )
    return nn.ConvTranspose2d(
        channels,
        out,
        _pair(d.kernel),
        _pair(d.stride),
        _pair(d.pad_left),
        _pair(d.output_padding),
        bias=layer.bias,
        dilation=_pair(d.dilation),
    )


def _pair(values: tuple[int, ...]) -> tuple[int, int]:
    """A 2-D layer's (height, width) numbers, as torch's 2-D modules type them."""
    height, width = values
    return height, width


def footprint(config: CNNConfig, shape: tuple[int, ...], classes: int) -> Footprint:
    dims("cnn", shape, 3, "images (C, H, W)")
    _, chain = cnn_chain(config, shape)  # raises InputError if the input is too small
    params = sum(ls.params or 0 for ls in chain.layers)
    params += sum(2 * (ls.channels or 0) for ls in chain.layers if ls.kind == "bn")
    outputs = sum((ls.channels or shape[0]) * math.prod(ls.output) for ls in chain.layers)
    flat = (chain.out_channels or shape[0]) * math.prod(chain.output)
    dense_params, dense_outputs = dense([flat, *config.hidden, classes])
    return Footprint(params + dense_params, 2 * outputs + dense_outputs)  # 2: conv + activation


HELP = """A conv net: --layers in featsize's grammar, then flatten and a classifier.

    Each conv gets --activation unless the chain places relu/tanh/sigmoid itself. The per-layer
    table (the numbers featsize gives) is shown before training.

    \b
    Examples:
      dlcli train cnn                                  # digits, 8x8 images
      dlcli train cnn --layers conv3p1-16,maxpool2 --hidden 64 --epochs 10
      dlcli train cnn --data photos/ --image-size 32 --layers conv5p2-32,maxpool2
    """

FAMILY = Family(
    name="cnn",
    config_cls=CNNConfig,
    build=build_cnn,
    help=HELP,
    layout="image",
    footprint=footprint,
    describe=describe,
    sweep_example=("dropout", ("0", "0.5")),
    train_defaults={"epochs": 30},
)
