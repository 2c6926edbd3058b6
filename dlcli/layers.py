"""Layer specs: the one parser behind `featsize`, `receptive-field` and `train cnn`.

A chain is a comma-separated list of tokens, read left to right (spaces ignored, case-insensitive):

    KIND KERNEL [MODIFIERS] [-CHANNELS]      conv3p1-64, maxpool3s2ceil, deconv4s2p1-32

KIND is conv | deconv | maxpool | avgpool; KERNEL is `3` or one size per dimension (`3x5`);
modifiers, in any order: sN (stride), pN | psame | pvalid (padding), dN (dilation), opN (output
padding, deconv), ceil (ceil mode, pools), nobias (conv/deconv without a bias). Every number may
be given per dimension (`s2x1`). Tokens a user may paste from a model (relu, bn, dropout, ...)
pass sizes through unchanged.

`--arch NAME` presets expand to spec strings, so a preset and a hand-typed chain are the same thing.
Pure Python, no heavy imports.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from dlcli.errors import InputError

SPATIAL_KINDS = ("conv", "deconv", "maxpool", "avgpool")
POOL_KINDS = ("maxpool", "avgpool")
# Tokens that keep the spatial size; the value is the canonical kind they stand for.
PASSTHROUGH = {
    "relu": "relu",
    "relu6": "relu",
    "leakyrelu": "relu",
    "elu": "relu",
    "gelu": "relu",
    "silu": "relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "bn": "bn",
    "batchnorm": "bn",
    "lrn": "lrn",
    "dropout": "dropout",
    "identity": "identity",
}

Dims = tuple[int, ...]

_NUM = r"\d+(?:x\d+)*"
_SPATIAL_RE = re.compile(
    rf"^(?P<kind>conv|deconv|maxpool|avgpool)(?P<kernel>{_NUM})(?P<mods>[a-z0-9]*?)(?:-(?P<ch>\d+))?$"
)
_MOD_RE = re.compile(
    rf"op(?P<op>{_NUM})|s(?P<s>{_NUM})|p(?P<p>same|valid|{_NUM})|d(?P<d>{_NUM})|(?P<ceil>ceil)|(?P<nobias>nobias)"
)
_DROPOUT_RE = re.compile(r"^dropout(?P<rate>0?\.\d+|0|1(?:\.0*)?)?$")

GRAMMAR_HINT = (
    "expected KIND KERNEL [sN] [pN|psame|pvalid] [dN] [opN] [ceil] [-CHANNELS] with KIND one of "
    "conv, deconv, maxpool, avgpool (e.g. conv3p1-64, maxpool2, deconv4s2p1), "
    f"or a size-keeping token ({', '.join(sorted(PASSTHROUGH))})"
)


class Layer(NamedTuple):
    """One parsed token. Per-dimension fields hold one value (broadcast) or one per dimension.

    NamedTuples rather than dataclasses here and in the calculators: the `dataclasses` import
    and class generation cost milliseconds of every `dlcli featsize` start-up.
    """

    spec: str
    kind: str
    kernel: Dims = (1,)
    stride: Dims = (1,)
    padding: Dims | str = (0,)  # or "same"
    dilation: Dims = (1,)
    output_padding: Dims = (0,)
    ceil_mode: bool = False
    channels: int | None = None
    bias: bool = True
    rate: float | None = None  # dropout probability, when the token gives one

    @property
    def spatial(self) -> bool:
        return self.kind in SPATIAL_KINDS

    @property
    def is_pool(self) -> bool:
        return self.kind in POOL_KINDS

    @property
    def ndim(self) -> int | None:
        """The number of spatial dimensions this layer pins down (None: any)."""
        lengths = {len(v) for v in self._per_dim_fields() if len(v) > 1}
        return lengths.pop() if lengths else None

    def _per_dim_fields(self) -> list[Dims]:
        fields = [self.kernel, self.stride, self.dilation, self.output_padding]
        if self.padding != "same":
            fields.append(self.padding)  # type: ignore[arg-type]
        return fields

    def dims(self, ndim: int) -> LayerDims:
        """This layer's numbers, one per spatial dimension, for an `ndim`-dimensional input."""
        if self.ndim is not None and self.ndim != ndim:
            raise InputError(
                f"'{self.spec}' gives {self.ndim} values per dimension, "
                f"but the input has {ndim} spatial dimension{'s' if ndim > 1 else ''}"
            )
        kernel = _broadcast(self.kernel, ndim)
        dilation = _broadcast(self.dilation, ndim)
        if self.padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            pad_left = tuple(t // 2 for t in total)  # PyTorch puts the odd pixel on the right
            pad_right = tuple(t - t // 2 for t in total)
        else:
            pad_left = pad_right = _broadcast(self.padding, ndim)  # type: ignore[arg-type]
        return LayerDims(
            kernel=kernel,
            stride=_broadcast(self.stride, ndim),
            pad_left=pad_left,
            pad_right=pad_right,
            dilation=dilation,
            output_padding=_broadcast(self.output_padding, ndim),
        )


class LayerDims(NamedTuple):
    """A layer's numbers resolved for a given number of spatial dimensions."""

    kernel: Dims
    stride: Dims
    pad_left: Dims
    pad_right: Dims
    dilation: Dims
    output_padding: Dims


def _broadcast(values: Dims, ndim: int) -> Dims:
    return values * ndim if len(values) == 1 else values


# PyTorch's sizes, kernels, strides and paddings are 64-bit integers: a larger number is a typo
# (or an attack) and is refused before Python converts it (int() of a 5,000-digit string raises,
# and the arithmetic on it would only pretend to be PyTorch's).
MAX_NUMBER = 2**63 - 1
_MAX_DIGITS = len(str(MAX_NUMBER))


def parse_int(text: str, what: str) -> int:
    """A non-negative decimal integer up to MAX_NUMBER (`text` holds ASCII digits only)."""
    digits = text.lstrip("0")
    if len(digits) > _MAX_DIGITS or (digits and int(digits) > MAX_NUMBER):
        shown = text if len(text) <= 24 else f"{text[:12]}...({len(text)} digits)"
        raise InputError(
            f"{what} {shown} is too large: at most {MAX_NUMBER:,} (2**63 - 1, PyTorch's limit)"
        )
    return int(digits or "0")


def _dims(text: str, what: str, token: str, minimum: int) -> Dims:
    values = tuple(parse_int(v, f"layer '{_short(token)}': {what}") for v in text.split("x"))
    if len(values) > 3:
        raise InputError(f"layer '{token}': {what} has {len(values)} values; at most 3 dimensions")
    for v in values:
        if v < minimum:
            raise InputError(f"layer '{token}': {what} must be at least {minimum}, got {v}")
    return values


def _short(text: str) -> str:
    """`text` for a message: whole if short, else its start and its length."""
    return text if len(text) <= 40 else f"{text[:24]}...({len(text)} characters)"


def parse_layer(token: str) -> Layer:
    """Parse one token of a chain (already stripped of spaces and lower-cased)."""
    if token in PASSTHROUGH:
        return Layer(spec=token, kind=PASSTHROUGH[token])
    dropout = _DROPOUT_RE.match(token)
    if dropout:
        rate = float(dropout["rate"]) if dropout["rate"] else None
        return Layer(spec=token, kind="dropout", rate=rate)
    match = _SPATIAL_RE.match(token)
    if not match:
        raise InputError(f"unknown layer '{token}': {GRAMMAR_HINT}")
    kind = match["kind"]
    kernel = _dims(match["kernel"], "kernel size", token, 1)
    fields = _modifiers(token, match["mods"])
    channels = parse_int(match["ch"], f"layer '{_short(token)}': channels") if match["ch"] else None
    padding = _check_modifiers(token, kind, fields, channels)
    is_pool = kind in POOL_KINDS
    layer = Layer(
        spec=token,
        kind=kind,
        kernel=kernel,
        stride=fields.get("s", kernel if is_pool else (1,)),
        padding=padding,  # type: ignore[arg-type]
        dilation=fields.get("d", (1,)),
        output_padding=fields.get("op", (0,)),
        ceil_mode=bool(fields.get("ceil", False)),
        channels=channels,
        bias=not fields.get("nobias", False),
    )
    lengths = {len(v) for v in layer._per_dim_fields() if len(v) > 1}
    if len(lengths) > 1:
        raise InputError(
            f"layer '{token}': per-dimension values disagree on the number of dimensions "
            f"({' vs '.join(str(n) for n in sorted(lengths))})"
        )
    return layer


_MOD_NAMES = {"s": ("stride", 1), "d": ("dilation", 1), "op": ("output padding", 0)}


def _modifiers(token: str, mods: str) -> dict[str, Any]:
    """The modifiers after the kernel ('s2p1ceil'), by name: per-dimension values or flags."""
    fields: dict[str, Any] = {}  # modifier -> per-dim sizes, 'same'/'valid', or True
    pos = 0
    while pos < len(mods):
        mod = _MOD_RE.match(mods, pos)
        if not mod:
            raise InputError(f"layer '{token}': cannot read '{mods[pos:]}'; {GRAMMAR_HINT}")
        name = mod.lastgroup
        assert name is not None
        if name in fields:
            raise InputError(f"layer '{token}': '{mod.group(0)}' repeats a modifier already given")
        value = mod[name]
        if name in _MOD_NAMES:
            what, low = _MOD_NAMES[name]
            fields[name] = _dims(value, what, token, low)
        elif name == "p":
            fields[name] = (
                value if value in ("same", "valid") else _dims(value, "padding", token, 0)
            )
        else:  # ceil, nobias
            fields[name] = True
        pos = mod.end()
    return fields


def _check_modifiers(token: str, kind: str, fields: dict[str, Any], channels: int | None) -> object:
    """Refuse what PyTorch has no such layer for; return the padding ('same' or per-dim)."""
    is_pool = kind in POOL_KINDS
    refusals = (
        (
            "ceil" in fields and not is_pool,
            "'ceil' applies to pooling layers only (maxpool, avgpool)",
        ),
        ("op" in fields and kind != "deconv", "output padding 'op' applies to deconv only"),
        ("d" in fields and kind == "avgpool", "avgpool has no dilation in PyTorch (maxpool has)"),
        ("nobias" in fields and is_pool, "'nobias' applies to conv and deconv only"),
        (
            channels is not None and is_pool,
            f"pooling keeps the channels; '-{channels}' applies to conv/deconv",
        ),
        (channels == 0, "the number of output channels must be at least 1"),
    )
    for refused, why in refusals:
        if refused:
            raise InputError(f"layer '{token}': {why}")
    padding = fields.get("p", (0,))
    if padding in ("valid", "same") and kind != "conv":
        hint = "; use p0" if padding == "valid" else ""
        raise InputError(
            f"layer '{token}': padding '{padding}' exists for conv only in PyTorch{hint}"
        )
    if padding == "valid":
        return (0,)
    if padding == "same" and any(s != 1 for s in fields.get("s", (1,))):
        raise InputError(
            f"layer '{token}': padding 'same' is not supported for strided convolutions (PyTorch)"
        )
    return padding


def parse_layers(spec: str) -> list[Layer]:
    """Parse a comma-separated chain; an empty chain or token is an input error."""
    text = "".join(spec.split()).lower()
    if not text:
        raise InputError(f"empty layer chain; {GRAMMAR_HINT}")
    layers = []
    for index, token in enumerate(text.split(","), start=1):
        if not token:
            raise InputError(f"empty layer token at position {index} in '{spec}'")
        layers.append(parse_layer(token))
    return layers


def parse_size(text: str) -> Dims:
    """'32' -> (32,), '224x224' -> (224, 224), '16x112x112' -> (16, 112, 112)."""
    # spaces around the 'x' are fine ('224 x 224'); inside a number they are not ('3 2' != 32)
    parts = [p.strip() for p in text.lower().replace("×", "x").split("x")]
    cleaned = "x".join(parts)
    if not cleaned or len(parts) > 3 or not all(p.isascii() and p.isdigit() for p in parts):
        raise InputError(
            f"invalid size '{_short(text)}': expected N, HxW or DxHxW with positive integers"
        )
    values = tuple(parse_int(p, f"size '{_short(text)}': dimension") for p in parts)
    if any(v < 1 for v in values):
        raise InputError(f"invalid size '{_short(text)}': every dimension must be at least 1")
    return values


# --- standard networks (torchvision's feature extractors, up to the last feature map) ----------

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
