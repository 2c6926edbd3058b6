"""`--arch NAME`: standard networks as layer specs, and what they have off their main path.

    arch_specs(name) / arch_layers(name)  the feature extractor, as torchvision defines it, up
                                          to the last feature map before global pooling (the
                                          main path of residual nets: 1x1 shortcuts do not
                                          widen the receptive field)
    arch_sides(name)                      its batch norms, projection shortcuts and classifier,
                                          so that featsize counts every parameter
    cifar_resnet_specs(depth, width)      the CIFAR ResNets of `train resnet` (He et al., 2016)

Pure Python, no heavy imports.
"""

from __future__ import annotations

from typing import NamedTuple

from dlcli.errors import InputError
from dlcli.layers import Layer, parse_layer

# torchvision's VGG configurations: output channels of each conv3p1, M for a 2x2 max pool
_VGG_CFGS = {
    "vgg11": "64 M 128 M 256 256 M 512 512 M 512 512 M",
    "vgg13": "64 64 M 128 128 M 256 256 M 512 512 M 512 512 M",
    "vgg16": "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M",
    "vgg19": "64 64 M 128 128 M 256 256 256 256 M 512 512 512 512 M 512 512 512 512 M",
}
_RESNET_BLOCKS = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}
CIFAR_RESNET_DEPTHS = (20, 32, 44, 56, 110)


def _vgg(name: str) -> list[str]:
    return ["maxpool2" if v == "M" else f"conv3p1-{v}" for v in _VGG_CFGS[name].split()]


def _resnet(name: str) -> list[str]:
    # torchvision's ResNet (v1.5): the stride of a stage sits in its first block's 3x3 conv.
    block, counts = _RESNET_BLOCKS[name]
    tokens = ["conv7s2p3nobias-64", "maxpool3s2p1"]
    for stage, count in enumerate(counts):
        planes = 64 * 2**stage
        for index in range(count):
            s = "s2" if stage > 0 and index == 0 else ""
            if block == "basic":
                tokens += [f"conv3{s}p1nobias-{planes}", f"conv3p1nobias-{planes}"]
            else:
                tokens += [
                    f"conv1nobias-{planes}",
                    f"conv3{s}p1nobias-{planes}",
                    f"conv1nobias-{planes * 4}",
                ]
    return tokens


# Bounds that keep a typo from hanging the calculators or allocating terabytes: He et al.'s
# deepest CIFAR net has 1202 layers; 2**16 channels would already be ~10^10 weights a layer.
MAX_RESNET_DEPTH = 10_004
MAX_WIDTH = 1 << 16


def cifar_resnet_specs(depth: int, width: int = 16) -> list[str]:
    """He et al. (2016) ResNet for small images: 3x3 stem, three stages of n basic blocks.

    depth = 6n + 2; the stages have width, 2*width and 4*width channels and the second and third
    stages halve the size in their first block. Main path only: the 1x1 projections do not widen
    the receptive field.
    """
    if depth < 8 or (depth - 2) % 6 or depth > MAX_RESNET_DEPTH:
        raise InputError(
            f"invalid ResNet depth {depth}: expected 6n+2 up to {MAX_RESNET_DEPTH}, "
            "e.g. 20, 32, 44, 56, 110, 1202"
        )
    if not 1 <= width <= MAX_WIDTH:
        raise InputError(
            f"invalid ResNet width {width}: expected 1 to {MAX_WIDTH:,} channels in the first stage"
        )
    n = (depth - 2) // 6
    tokens = [f"conv3p1nobias-{width}"]
    for stage in range(3):
        planes = width * 2**stage
        for index in range(n):
            s = "s2" if stage > 0 and index == 0 else ""
            tokens += [f"conv3{s}p1nobias-{planes}", f"conv3p1nobias-{planes}"]
    return tokens


def _alexnet() -> list[str]:
    return [
        "conv11s4p2-64",
        "maxpool3s2",
        "conv5p2-192",
        "maxpool3s2",
        "conv3p1-384",
        "conv3p1-256",
        "conv3p1-256",
        "maxpool3s2",
    ]


def arch_names() -> list[str]:
    return [
        "alexnet",
        *_VGG_CFGS,
        *_RESNET_BLOCKS,
        *(f"resnet{d}" for d in CIFAR_RESNET_DEPTHS),
        "cifar-resnetN (N = 6n+2)",
    ]


def arch_specs(name: str) -> list[str]:
    """The tokens of a standard network's feature extractor."""
    key = name.strip().lower().replace("-", "").replace("_", "")
    if key == "alexnet":
        return _alexnet()
    if key in _VGG_CFGS:
        return _vgg(key)
    if key in _RESNET_BLOCKS:
        return _resnet(key)
    if key.startswith("resnet") and key[6:].isdigit() and int(key[6:]) in CIFAR_RESNET_DEPTHS:
        return cifar_resnet_specs(int(key[6:]))
    if key.startswith("cifarresnet") and key[11:].isdigit():  # any 6n+2, as `train resnet --depth`
        return cifar_resnet_specs(int(key[11:]))
    raise InputError(f"unknown architecture '{name}': expected one of {', '.join(arch_names())}")


def arch_layers(name: str) -> list[Layer]:
    return [parse_layer(token) for token in arch_specs(name)]


# --- what a preset has beside its main path (parameters only) ------------------------------------


class Side(NamedTuple):
    """A part of a standard network off its main path: it has parameters but changes no size
    and no receptive field. `kind`: "batch norm" (BatchNorm after main-path layer `at`),
    "projection shortcut" (a 1x1 conv without bias, then BatchNorm, from the input of layer
    `at` to the output of layer `until`: He et al.'s option B), "classifier" (global average
    pooling, then a linear layer from the last layer's channels to the classes). Layers are
    numbered from 1, as featsize numbers them."""

    kind: str
    at: int
    until: int = 0


def arch_sides(name: str) -> list[Side]:
    """The parts off the main path of preset `name` (its batch norms, projection shortcuts and
    classifier), so that featsize counts every parameter of the network it names: those of
    `train resnet --depth N` for cifar-resnetN, those of torchvision's model for resnet18-152.
    VGG and AlexNet (torchvision's, without batch norm) have none besides their classifier,
    whose three linear layers featsize does not count."""
    tokens = arch_specs(name)  # validates the name
    key = name.strip().lower().replace("-", "").replace("_", "")
    if not key.startswith(("resnet", "cifarresnet")):
        return []
    sides: list[Side] = []
    convs = [i for i, token in enumerate(tokens, start=1) if token.startswith("conv")]
    sides += [Side("batch norm", i) for i in convs]
    if key in _RESNET_BLOCKS:
        block, _ = _RESNET_BLOCKS[key]
        size = 2 if block == "basic" else 3
        first = 3  # conv7s2p3, maxpool3s2p1, then the blocks
    else:
        size, first = 2, 2  # the 3x3 stem, then the basic blocks
    channels = _channels(tokens)
    for start in range(first, len(tokens) + 1, size):
        end = start + size - 1
        strided = "s2" in tokens[start - 1]
        if strided or channels[start - 2] != channels[end - 1]:
            sides.append(Side("projection shortcut", start, end))
    sides.append(Side("classifier", len(tokens)))
    return sides


def _channels(tokens: list[str]) -> list[int | None]:
    """The output channels after each token (a pool keeps the previous ones)."""
    out: list[int | None] = []
    current = None
    for token in tokens:
        if "-" in token:
            current = int(token.rsplit("-", 1)[1])
        out.append(current)
    return out
