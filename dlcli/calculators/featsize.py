"""Output sizes of conv / pool / transposed-conv chains, with exactly PyTorch's semantics.

The formulas are those of `torch.nn` (ATen's conv and pooling shape functions):

    conv        out = floor((in + pl + pr - d(k-1) - 1) / s) + 1
    pool        the same, or ceil(...) in ceil mode, where the last window must start inside
                the input or left padding (PyTorch drops it otherwise)
    deconv      out = (in - 1) s - 2p + d(k-1) + op + 1

and every case where PyTorch raises is an `InputError` here. Pure Python: no heavy imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING, NamedTuple

from dlcli.errors import InputError
from dlcli.layers import MAX_NUMBER, Dims, Layer, LayerDims, as_size

if TYPE_CHECKING:
    from dlcli.archs import Side


class LayerSize(NamedTuple):
    """One layer's effect on the size. `dropped`: input rows/columns no window ever covers."""

    index: int  # type: ignore[assignment]  # a field may shadow tuple's method
    spec: str
    kind: str
    input: Dims
    output: Dims
    channels: int | None = None
    params: int | None = None
    dropped: Dims = ()

    def to_dict(self) -> dict:
        return {
            "index": self.index,
            "spec": self.spec,
            "kind": self.kind,
            "input": list(self.input),
            "output": list(self.output),
            "channels": self.channels,
            "params": self.params,
            "dropped": list(self.dropped),
        }


class SideParams(NamedTuple):
    """Parameters of a preset's parts off the main path, by kind (see dlcli.archs.Side)."""

    kind: str
    count: int  # type: ignore[assignment]  # a field may shadow tuple's method
    params: int | None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "count": self.count, "params": self.params}


class ChainSize(NamedTuple):
    input: Dims
    output: Dims
    layers: list[LayerSize]
    in_channels: int | None = None
    out_channels: int | None = None
    sides: tuple[SideParams, ...] = ()  # a preset's batch norms, shortcuts, classifier

    @property
    def params(self) -> int | None:
        counts = [layer.params for layer in self.layers if layer.kind in ("conv", "deconv")]
        counts += [side.params for side in self.sides]
        if not counts or any(c is None for c in counts):
            return None
        return sum(counts)  # type: ignore[arg-type]

    def to_dict(self) -> dict:
        document = {
            "input": list(self.input),
            "output": list(self.output),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "params": self.params,
            "layers": [layer.to_dict() for layer in self.layers],
        }
        if self.sides:
            document["sides"] = [side.to_dict() for side in self.sides]
        return document


def _floor_div(a: int, b: int) -> int:
    return a // b  # Python's // rounds towards -inf, like ATen's div_rtn


def one_dim(
    layer: Layer, n: int, k: int, s: int, pl: int, pr: int, d: int, op: int
) -> tuple[int, int]:
    """(output size, dropped input rows) along one dimension; raises where PyTorch raises."""
    span = d * (k - 1) + 1  # the dilated kernel
    if layer.kind == "deconv":
        if not (op < s or op < d):
            raise InputError(
                f"output padding {op} must be smaller than the stride ({s}) or the dilation ({d})"
            )
        out = (n - 1) * s - pl - pr + span - 1 + op + 1
        if out < 1:
            raise InputError(f"input {n} gives output size {out}; the padding is too large")
        if out > MAX_NUMBER:
            raise InputError(f"input {n} gives output size {out}, over 2**63 - 1 (PyTorch's limit)")
        return out, 0
    if layer.is_pool:
        if pl > k // 2:
            raise InputError(
                f"pool padding {pl} must be at most half the kernel ({k}//2 = {k // 2})"
            )
        if layer.ceil_mode:
            out = _floor_div(n + pl + pr - span + (s - 1), s) + 1
            if (out - 1) * s >= n + pl:  # the last window would start in the right padding
                out -= 1
        else:
            out = _floor_div(n + pl + pr - span, s) + 1
        if out < 1:
            raise InputError(
                f"input {n} is too small for a window of {span} "
                f"(padding {pl}), output size would be {out}"
            )
    else:
        if n + pl + pr < span:
            what = "dilated kernel" if d > 1 else "kernel"
            raise InputError(
                f"input {n} padded to {n + pl + pr} is smaller than the {what} ({span})"
            )
        out = _floor_div(n + pl + pr - span, s) + 1
    if out > MAX_NUMBER:  # a padding near 2**63 grows the size past it
        raise InputError(f"input {n} gives output size {out}, over 2**63 - 1 (PyTorch's limit)")
    last_covered = (out - 1) * s - pl + span - 1  # in input coordinates
    return out, max(0, (n - 1) - last_covered)


def layer_output(layer: Layer, size: Dims) -> tuple[Dims, Dims]:
    """(output size, dropped rows per dimension) of one layer for an input of `size`."""
    if not layer.spatial:
        return size, (0,) * len(size)
    try:
        dims: LayerDims = layer.dims(len(size))
    except InputError as exc:
        raise InputError(f"{exc}") from None
    if (
        layer.kind == "avgpool"
        and len(size) == 3
        and any(n < k for n, k in zip(size, dims.kernel, strict=True))
    ):
        # ATen's avg_pool3d alone checks the unpadded input against the kernel
        raise InputError(
            f"'{layer.spec}': input {'x'.join(map(str, size))} is smaller than the kernel "
            f"{'x'.join(map(str, dims.kernel))} "
            "(3-D average pooling needs the unpadded input to fit)"
        )
    outs, dropped = [], []
    for i, n in enumerate(size):
        try:
            out, drop = one_dim(
                layer,
                n,
                dims.kernel[i],
                dims.stride[i],
                dims.pad_left[i],
                dims.pad_right[i],
                dims.dilation[i],
                dims.output_padding[i],
            )
        except InputError as exc:
            where = f" (dimension {i + 1})" if len(size) > 1 else ""
            raise InputError(f"'{layer.spec}'{where}: {exc}") from None
        outs.append(out)
        dropped.append(drop)
    return tuple(outs), tuple(dropped)


def _params(layer: Layer, in_channels: int | None, out_channels: int, ndim: int) -> int | None:
    if in_channels is None:
        return None
    weights = in_channels * out_channels * prod(layer.dims(ndim).kernel)
    return weights + (out_channels if layer.bias else 0)


def check_in_channels(in_channels: int | None) -> None:
    if in_channels is not None and not 1 <= in_channels <= MAX_NUMBER:
        raise InputError(
            f"invalid --in-channels {in_channels}: expected a positive integer up to 2**63 - 1"
        )


def channel_counts(
    layers: Sequence[Layer], ndim: int, in_channels: int | None = None
) -> list[tuple[int | None, int | None]]:
    """(output channels, parameter count) of each layer; they depend on the number of spatial
    dimensions (the kernel's volume) but not on the size."""
    check_in_channels(in_channels)
    counts: list[tuple[int | None, int | None]] = []
    channels = in_channels
    for layer in layers:
        params = None
        if layer.kind in ("conv", "deconv"):
            if layer.channels is not None:
                params = _params(layer, channels, layer.channels, ndim)
                channels = layer.channels
            else:
                params = _params(layer, channels, channels, ndim) if channels else None
        counts.append((channels, params))
    return counts


def _check_classes(sides: Sequence[Side], classes: int | None) -> None:
    if classes is not None and not any(side.kind == "classifier" for side in sides):
        raise InputError(
            "--classes counts a ResNet preset's classifier (global average pooling, linear): "
            "give --arch resnetN or cifar-resnetN"
        )
    if classes is not None and not 1 <= classes <= MAX_NUMBER:
        raise InputError(f"invalid --classes {classes}: expected a positive integer")


def check_classes(arch: str | None, classes: int | None) -> None:
    """Refuse `classes` where preset `arch` has no classifier (before a stream starts)."""
    _check_classes(_sides(arch), classes)


def _sides(arch: str | None) -> list[Side]:
    """Preset `arch`'s parts off its main path (none without a preset: dlcli.archs not loaded)."""
    if arch is None:
        return []
    from dlcli.archs import arch_sides

    return arch_sides(arch)


def side_params(
    sides: Sequence[Side], result: ChainSize, classes: int | None = None
) -> tuple[SideParams, ...]:
    """The parameters of a preset's parts off the main path, by kind, from the channels the
    main path has (None without --in-channels); the classifier only with `classes`."""
    _check_classes(sides, classes)
    before = [result.in_channels, *(layer.channels for layer in result.layers)]
    totals: dict[str, list] = {}
    for side in sides:
        if side.kind == "classifier" and classes is None:
            continue
        if side.kind == "batch norm":
            c = before[side.at]
            params = None if c is None else 2 * c  # weight and bias per channel
        elif side.kind == "projection shortcut":
            c_in, c_out = before[side.at - 1], before[side.until]
            # 1x1 conv without bias (kernel volume 1 in any dimension), then its batch norm
            params = None if c_in is None or c_out is None else c_in * c_out + 2 * c_out
        else:  # classifier: linear from the last channels to the classes, with bias
            c = before[side.at]
            params = None if c is None else c * classes + classes  # type: ignore[operator]
        entry = totals.setdefault(side.kind, [0, 0])
        entry[0] += 1
        entry[1] = None if params is None or entry[1] is None else entry[1] + params
    return tuple(SideParams(kind, count, params) for kind, (count, params) in totals.items())


def chain_output(layers: Sequence[Layer], size: Dims, in_channels: int | None = None) -> ChainSize:
    """Walk the chain; each layer's output size, channels and parameter count."""
    check_in_channels(in_channels)
    sizes: list[LayerSize] = []
    current = tuple(size)
    for index, layer in enumerate(layers, start=1):
        try:
            out, dropped = layer_output(layer, current)
        except InputError as exc:
            raise InputError(f"layer {index} {exc}") from None
        sizes.append(LayerSize(index, layer.spec, layer.kind, current, out, None, None, dropped))
        current = out
    counts = channel_counts(layers, len(size), in_channels)
    sizes = [
        entry._replace(channels=channels, params=params)
        for entry, (channels, params) in zip(sizes, counts, strict=True)
    ]
    out_channels = counts[-1][0] if counts else in_channels
    return ChainSize(tuple(size), current, sizes, in_channels, out_channels)


# --- the library's face: `dlcli.featsize(...)` ----------------------------------------------------

KINDS = ("conv", "deconv", "maxpool", "avgpool")


def layer_token(
    kernel: str | int,
    kind: str = "conv",
    stride: str | int | None = None,
    padding: str | int | None = None,
    dilation: str | int | None = None,
    output_padding: str | int | None = None,
    ceil: bool = False,
    channels: int | None = None,
) -> str:
    """One layer's settings written as a spec token ('conv5s2p1-32'): one parser serves both."""
    kind = kind.lower()
    if kind not in KINDS:
        raise InputError(f"invalid layer type '{kind}': expected one of {', '.join(KINDS)}")
    token = f"{kind}{kernel}"
    for prefix, value in (("s", stride), ("p", padding), ("d", dilation), ("op", output_padding)):
        if value is not None:
            token += f"{prefix}{value}"
    if ceil:
        token += "ceil"
    if channels is not None:
        token += f"-{channels}"
    return token.lower()


def resolve_chain(
    kernel: str | int | None = None,
    layers: str | None = None,
    arch: str | None = None,
    **layer: object,
) -> list[Layer]:
    """The chain one of kernel (+ that layer's settings), a layer SPEC or an ARCH name gives."""
    from dlcli.layers import parse_layer, parse_layers

    single = kernel is not None or any(v not in (None, False) for v in layer.values())
    if sum([single, layers is not None, arch is not None]) > 1:
        raise InputError(
            "give one of -k/--kernel (one layer), --layers SPEC or --arch NAME, not several"
        )
    if single and kernel is None:
        raise InputError(
            "-s/-p/-d/--type/--ceil/-c describe the -k layer: give its kernel with -k/--kernel"
        )
    if kernel is not None:
        settings = {k: v for k, v in layer.items() if v is not None}
        return [parse_layer(layer_token(kernel, **settings))]  # type: ignore[arg-type]
    if layers is not None:
        return parse_layers(layers)
    if arch is not None:
        from dlcli.archs import arch_layers

        return arch_layers(arch)
    raise InputError("nothing to compute: give -k/--kernel, --layers SPEC or --arch NAME")


def featsize(
    size: str | int | Sequence[int],
    kernel: str | int | None = None,
    *,
    layers: str | None = None,
    arch: str | None = None,
    kind: str = "conv",
    stride: str | int | None = None,
    padding: str | int | None = None,
    dilation: str | int | None = None,
    output_padding: str | int | None = None,
    ceil: bool = False,
    channels: int | None = None,
    in_channels: int | None = None,
    classes: int | None = None,
) -> ChainSize:
    """Output size of one layer, a chain (`layers='conv5,maxpool2'`) or a network (`arch=`).

    `size` is 32, (32, 32) or '32x32'. `dlcli.featsize(32, 5).output == (28,)`. For a ResNet
    preset, the parameters include its batch norms and projection shortcuts, and with `classes`
    its classifier: `featsize((8, 8), arch='cifar-resnet8', in_channels=1, classes=10).params`
    is the parameter count of `train resnet --depth 8` on 8x8 digits.
    """
    chain = resolve_chain(
        kernel,
        layers,
        arch,
        kind=None if kind == "conv" else kind,  # None: not a setting of its own (-k's default)
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=output_padding,
        ceil=ceil,
        channels=channels,
    )
    return with_sides(chain_output(chain, as_size(size), in_channels), arch, classes)


def with_sides(result: ChainSize, arch: str | None, classes: int | None = None) -> ChainSize:
    """`result` (a chain's) with the parameters of preset `arch`'s parts off the main path."""
    return result._replace(sides=side_params(_sides(arch), result, classes))
