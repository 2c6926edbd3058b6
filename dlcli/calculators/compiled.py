"""Many sizes through one chain (`featsize -`): the chain compiled once into a function per
number of dimensions, so a size costs a few integer operations. `chain_output` (featsize.py)
stays the reference and gives the messages; tests/calculators/test_featsize_stream.py holds
the two to each other. Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dlcli.calculators.featsize import check_in_channels
from dlcli.errors import InputError
from dlcli.layers import MAX_NUMBER, Dims, Layer, LayerDims


class _Invalid(Exception):
    """A layer that refuses every size (checked on the layer alone): chain_output says why."""


def _layer_code(layer: Layer, dims: LayerDims, i: int, n: str, o: str, d: str) -> list[str]:
    """Python lines that compute, from the size `n` along dimension `i`, the layer's output
    `o` and dropped rows `d`, or `return None` wherever `one_dim` raises an InputError. Only
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
    `chain_output` would raise; call that for the message
    (tests/calculators/test_featsize_stream.py holds the two to each other)."""

    def __init__(self, layers: Sequence[Layer], in_channels: int | None = None) -> None:
        check_in_channels(in_channels)
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
