"""Layer specs: the one parser behind `featsize`, `receptive-field` and `train cnn`.

A chain is a comma-separated list of tokens, read left to right (spaces ignored, case-insensitive):

    KIND KERNEL [MODIFIERS] [-CHANNELS]      conv3p1-64, maxpool3s2ceil, deconv4s2p1-32

KIND is conv | deconv | maxpool | avgpool; KERNEL is `3` or one size per dimension (`3x5`);
modifiers, in any order: sN (stride), pN | psame | pvalid (padding), dN (dilation), opN (output
padding, deconv), ceil (ceil mode, pools), nobias (conv/deconv without a bias). Every number may
be given per dimension (`s2x1`). Tokens a user may paste from a model (relu, bn, dropout, ...)
pass sizes through unchanged.

`--arch NAME` presets (dlcli.archs) expand to spec strings, so a preset and a hand-typed chain
are the same thing. Pure Python, no heavy imports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
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


def as_size(size: str | int | Sequence[int]) -> Dims:
    """32, (32, 32) or '32x32' -> a tuple of positive ints."""
    if isinstance(size, str):
        return parse_size(size)
    if isinstance(size, int):
        size = (size,)
    values = tuple(size)
    if not values or len(values) > 3 or not all(isinstance(v, int) and v > 0 for v in values):
        raise InputError(f"invalid size {size!r}: expected 1 to 3 positive integers")
    if any(v > MAX_NUMBER for v in values):
        raise InputError("invalid size: at most 2**63 - 1 per dimension (PyTorch's limit)")
    return values
