"""Output sizes of conv / pool / transposed-conv chains, with exactly PyTorch's semantics.

The formulas are those of `torch.nn` (ATen's conv and pooling shape functions):

    conv        out = floor((in + pl + pr - d(k-1) - 1) / s) + 1
    pool        the same, or ceil(...) in ceil mode, where the last window must start inside
                the input or left padding (PyTorch drops it otherwise)
    deconv      out = (in - 1) s - 2p + d(k-1) + op + 1

and every case where PyTorch raises is an `InputError` here. Pure Python: no heavy imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from math import prod
from typing import NamedTuple

from dlcli.errors import InputError
from dlcli.layers import MAX_NUMBER, Dims, Layer, LayerDims, Side


class LayerSize(NamedTuple):
    """One layer's effect on the size. `dropped`: input rows/columns no window ever covers."""

    index: int
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
    """Parameters of a preset's parts off the main path, by kind (see dlcli.layers.Side)."""

    kind: str
    count: int
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


def _one_dim(
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
            out, drop = _one_dim(
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


def _check_in_channels(in_channels: int | None) -> None:
    if in_channels is not None and not 1 <= in_channels <= MAX_NUMBER:
        raise InputError(
            f"invalid --in-channels {in_channels}: expected a positive integer up to 2**63 - 1"
        )


def channel_counts(
    layers: Sequence[Layer], ndim: int, in_channels: int | None = None
) -> list[tuple[int | None, int | None]]:
    """(output channels, parameter count) of each layer; they depend on the number of spatial
    dimensions (the kernel's volume) but not on the size."""
    _check_in_channels(in_channels)
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
    from dlcli.layers import arch_sides

    _check_classes(arch_sides(arch) if arch is not None else [], classes)


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
    _check_in_channels(in_channels)
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


# --- many sizes through one chain (`featsize -`) ---------------------------------------------


class _Invalid(Exception):
    """A layer that refuses every size (checked on the layer alone): chain_output says why."""


def _layer_code(layer: Layer, dims: LayerDims, i: int, n: str, o: str, d: str) -> list[str]:
    """Python lines that compute, from the size `n` along dimension `i`, the layer's output
    `o` and dropped rows `d`, or `return None` wherever `_one_dim` raises an InputError. Only
    integers from the parsed layer are written into the code (the tests hold it to
    `chain_output`). Raises _Invalid where every size fails (checks on the layer alone)."""
    k, s, dil = dims.kernel[i], dims.stride[i], dims.dilation[i]
    pl, pr, op = dims.pad_left[i], dims.pad_right[i], dims.output_padding[i]
    span = dil * (k - 1) + 1
    if layer.kind == "deconv":
        if not (op < s or op < dil):
            raise _Invalid
        # out = (n - 1) s - pl - pr + span + op
        return [
            f"{o} = {n} * {s} + {span - pl - pr + op - s}",
            f"if {o} < 1 or {o} > {MAX_NUMBER}: return None",
            f"{d} = 0",
        ]
    if layer.is_pool and pl > k // 2:
        raise _Invalid
    if layer.is_pool and layer.ceil_mode:
        lines = [
            f"{o} = ({n} + {pl + pr - span + s - 1}) // {s} + 1",
            f"if ({o} - 1) * {s} >= {n} + {pl}: {o} -= 1",  # the last window starts in padding
            f"if {o} < 1 or {o} > {MAX_NUMBER}: return None",
        ]
    else:  # m < 0: a conv's padded input is smaller than its kernel, a pool has no window
        lines = [
            f"m = {n} + {pl + pr - span}",
            f"{o} = m // {s} + 1",
            f"if m < 0 or {o} > {MAX_NUMBER}: return None",
        ]
    # dropped: input rows after the last window, (n - 1) - ((out - 1) s - pl + span - 1)
    lines.append(f"{d} = {n} - 1 - ({o} - 1) * {s} - {span - 1 - pl}")
    lines.append(f"if {d} < 0: {d} = 0")
    return lines


def _compile(layers: Sequence[Layer], ndim: int) -> Callable[..., tuple[int, ...] | None]:
    """One function for the whole chain on `ndim`-dimensional sizes: f(n0[, n1, n2]) -> per
    layer, its input, output and dropped rows (ndim values each), flat; None where
    chain_output raises. Generated once (as dataclasses generates __init__), so a size costs
    its arithmetic and nothing else."""
    size = [f"n{i}" for i in range(ndim)]
    body: list[str] = []
    values: list[str] = []
    for index, layer in enumerate(layers):
        outs = [f"o{index}_{i}" for i in range(ndim)]
        drops = [f"d{index}_{i}" for i in range(ndim)]
        if layer.spatial:
            dims = layer.dims(ndim)
            for i in range(ndim):
                body += _layer_code(layer, dims, i, size[i], outs[i], drops[i])
        else:
            body += [f"{o} = {n}" for o, n in zip(outs, size, strict=True)]
            body += [f"{d} = 0" for d in drops]
        values += [*size, *outs, *drops]
        size = outs
    source = f"def chain({', '.join(f'n{i}' for i in range(ndim))}):\n"
    source += "".join(f"    {line}\n" for line in body)
    source += f"    return ({', '.join(values)},)\n"
    namespace: dict[str, object] = {}
    exec(compile(source, f"<featsize chain, {ndim}-d>", "exec"), namespace)  # noqa: S102
    return namespace["chain"]  # type: ignore[return-value]


class CompiledChain:
    """A chain prepared once for many sizes (`featsize -`): per number of dimensions, one
    function with each layer's numbers written in (`_compile`), so a size costs a few integer
    operations and no objects. `flat(ndim)(*size)` / `walk(size)` return None where
    `chain_output` would raise; call that for the message (tests/test_featsize_stream.py holds
    the two to each other)."""

    def __init__(self, layers: Sequence[Layer], in_channels: int | None = None) -> None:
        _check_in_channels(in_channels)
        self.layers = list(layers)
        self.in_channels = in_channels
        self._flat: dict[int, Callable[..., tuple[int, ...] | None]] = {}

    def flat(self, ndim: int) -> Callable[..., tuple[int, ...] | None]:
        """f(n0[, n1, n2]) -> (input..., output..., dropped...) of every layer, flat; None
        where chain_output raises (or must decide: a layer refused whatever the size, ATen's
        3-D average pooling check)."""
        if ndim not in self._flat:
            try:
                if ndim == 3 and any(layer.kind == "avgpool" for layer in self.layers):
                    raise _Invalid  # avg_pool3d checks the unpadded input: chain_output does
                self._flat[ndim] = _compile(self.layers, ndim)
            except (_Invalid, InputError):
                self._flat[ndim] = lambda *size: None
        return self._flat[ndim]

    def walk(self, size: Dims) -> list[tuple[Dims, Dims]] | None:
        """(output, dropped rows) of every layer, or None where chain_output raises."""
        values = self.flat(len(size))(*size)
        if values is None:
            return None
        d = len(size)
        return [
            (values[at + d : at + 2 * d], values[at + 2 * d : at + 3 * d])
            for at in range(0, len(values), 3 * d)
        ]


# --- solving for the missing knob -------------------------------------------------------------


class Choice(NamedTuple):
    """One way to reach the target size along one dimension."""

    stride: int
    padding: int
    output_padding: int = 0
    dropped: int = 0

    def to_dict(self) -> dict:
        return {
            "stride": self.stride,
            "padding": self.padding,
            "output_padding": self.output_padding,
            "dropped": self.dropped,
        }


class Choices(list):
    """One dimension's choices, by stride, then padding, then output padding. `truncated`: the
    list stopped at the limit and more choices exist (a large input has many: 10**7 -> 16 with
    kernel 5 has about 200,000)."""

    truncated: bool = False


MAX_CHOICES = 1000


class Solution(NamedTuple):
    """`featsize --target`'s answer: per dimension, the ways to turn `input` into `target`."""

    input: Dims
    target: Dims
    layer: str
    choices: list[Choices]

    @property
    def missing(self) -> list[int]:
        """The dimensions (0-based) that no stride/padding reaches."""
        return [i for i, per_dim in enumerate(self.choices) if not per_dim]

    def to_dict(self) -> dict:
        return {
            "input": list(self.input),
            "target": list(self.target),
            "layer": self.layer,
            "choices": [[c.to_dict() for c in per_dim] for per_dim in self.choices],
            "truncated": [per_dim.truncated for per_dim in self.choices],
        }


def solve(layer: Layer, size: Dims, target: Dims, limit: int = MAX_CHOICES) -> list[Choices]:
    """Per dimension, every (stride, padding[, output padding]) that maps `size` to `target`,
    the first `limit` of them where there are more (`Choices.truncated`).

    The kernel and dilation come from `layer`; its stride and padding are ignored. Padding is
    searched up to the dilated kernel's extent d(k-1) (beyond it whole windows see only padding;
    pools are capped at k//2 as PyTorch requires), stride up to the input size (a deconv's: up
    to the larger of input and target). No loop runs over the sizes: the output size is
    monotone in the stride and in the padding, so bisection finds each stride's paddings and
    the strides worth trying; the time grows with the number of choices listed and the logarithm
    of the sizes (tests/test_featsize_solve.py checks it against brute force).
    """
    if len(target) != len(size):
        raise InputError(
            f"--target has {len(target)} dimension(s) but the input has {len(size)}; "
            "give one value per dimension"
        )
    if not layer.spatial:
        raise InputError(f"layer '{layer.spec}' does not change sizes; nothing to solve")
    dims = layer.dims(len(size))
    answers = []
    for i, (n, want) in enumerate(zip(size, target, strict=True)):
        k, d = dims.kernel[i], dims.dilation[i]
        found = (
            _solve_deconv(n, want, k, d)
            if layer.kind == "deconv"
            else _solve_window(layer, n, want, k, d)
        )
        choices = Choices()
        for choice in found:
            if len(choices) == limit:
                choices.truncated = True
                break
            choices.append(_checked(layer, n, want, k, d, choice))
        answers.append(choices)
    return answers


def solve_target(layer: Layer, size: Dims, target: Dims, limit: int = MAX_CHOICES) -> Solution:
    """`solve` as the document `featsize --target --json` prints."""
    return Solution(size, target, layer.spec, solve(layer, size, target, limit))


def _checked(layer: Layer, n: int, want: int, k: int, d: int, choice: Choice) -> Choice:
    """The choice with its dropped rows, computed (and so checked) by the forward formula."""
    out, dropped = _one_dim(
        layer, n, k, choice.stride, choice.padding, choice.padding, d, choice.output_padding
    )
    assert out == want, (choice, out, want)
    return choice._replace(dropped=dropped)


def _first(lo: int, hi: int, pred: Callable[[int], bool]) -> int:
    """The smallest x in [lo, hi] with pred(x) (pred monotone: False then True); hi + 1 if none."""
    while lo <= hi:
        mid = (lo + hi) // 2
        if pred(mid):
            hi = mid - 1
        else:
            lo = mid + 1
    return lo


def _solve_window(layer: Layer, n: int, want: int, k: int, d: int) -> Iterator[Choice]:
    """Conv and pools: out(s, p) falls with the stride and rises with the padding (an invalid
    combination counts as the lowest), so for each stride the paddings that give `want` are one
    interval, and the strides with any are between two bisected bounds."""
    max_pad, max_stride = (k // 2 if layer.is_pool else d * (k - 1)), max(n, 1)

    def out(s: int, p: int) -> int:
        try:
            return _one_dim(layer, n, k, s, p, p, d, 0)[0]
        except InputError:
            return 0  # below every size

    # strides whose largest output (at the most padding) still reaches want ...
    s_end = _first(1, max_stride, lambda s: out(s, max_pad) < want) - 1

    # ... and whose smallest output (the least valid padding) is not above it
    def least(s: int) -> int:
        p = _first(0, max_pad, lambda p: out(s, p) > 0)
        return out(s, p) if p <= max_pad else 0

    s = _first(1, s_end, lambda s: 0 < least(s) <= want)
    misses = 0
    while s <= s_end:
        p_lo = _first(0, max_pad, lambda p, s=s: out(s, p) >= want)
        p_hi = _first(0, max_pad, lambda p, s=s: out(s, p) > want) - 1
        for p in range(p_lo, p_hi + 1):
            yield Choice(s, p)
        # Between the bounds every stride has a padding for `want`, as a stride of 2 or more
        # moves the output by at most 1 per padding step; stride 1 moves it by 2 and may skip.
        misses = 0 if p_lo <= p_hi else misses + 1
        if misses > 10_000:  # a guard for the time only: the reasoning above says unreachable
            return
        s += 1


def _solve_deconv(n: int, want: int, k: int, d: int) -> Iterator[Choice]:
    """Transposed conv: out = (n - 1) s - 2p + d(k - 1) + 1 + op, so 2p - op = t(s) with
    t(s) = (n - 1) s + d(k - 1) + 1 - want, op in [0, max(s, d) - 1]: each stride's paddings
    are one interval, whose bounds rise with the stride."""
    max_pad, max_stride = d * (k - 1), max(n, want)
    span = d * (k - 1) + 1

    def bounds(s: int) -> tuple[int, int]:
        t = (n - 1) * s + span - want
        return -(-t // 2), (t + max(s, d) - 1) // 2  # p from ceil(t/2): op = 2p - t >= 0

    s = max(1, _first(1, max_stride, lambda s: bounds(s)[1] >= 0))
    s_end = _first(1, max_stride, lambda s: bounds(s)[0] > max_pad) - 1
    while s <= s_end:
        lo, hi = bounds(s)
        t = (n - 1) * s + span - want
        for p in range(max(lo, 0), min(hi, max_pad) + 1):
            yield Choice(s, p, 2 * p - t)
        s += 1


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
    from dlcli.layers import arch_layers, parse_layer, parse_layers

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
    from dlcli.layers import arch_sides

    sides = arch_sides(arch) if arch is not None else []
    return result._replace(sides=side_params(sides, result, classes))


def as_size(size: str | int | Sequence[int]) -> Dims:
    """32, (32, 32) or '32x32' -> a tuple of positive ints."""
    from dlcli.layers import parse_size

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
