"""Receptive field, effective stride and effective padding of a layer chain.

Distill's conventions (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks", 2019), as in google-research's `receptive_field` library: walking the chain from the
input, with r0 = 1, S0 = 1, P0 = 0 and, for a layer with kernel k, stride s, left padding p and
dilation d,

    r_l = r_{l-1} + d (k - 1) S_{l-1}      S_l = S_{l-1} s      P_l = P_{l-1} + p S_{l-1}

output unit i of layer l sees input coordinates i*S_l - P_l through i*S_l - P_l + r_l - 1.
The chain's field is that of one conv with kernel r, stride S and padding P. Pure Python.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from dlcli.calculators.featsize import layer_output
from dlcli.errors import InputError
from dlcli.layers import Dims, Layer


class LayerField(NamedTuple):
    index: int  # type: ignore[assignment]  # a field may shadow tuple's method
    spec: str
    kind: str
    receptive_field: Dims
    effective_stride: Dims
    effective_padding: Dims
    output: Dims | None = None
    units_in_padding: Dims | None = None  # output units whose field reaches into the padding

    def to_dict(self) -> dict:
        document = {
            "index": self.index,
            "spec": self.spec,
            "kind": self.kind,
            "receptive_field": list(self.receptive_field),
            "effective_stride": list(self.effective_stride),
            "effective_padding": list(self.effective_padding),
        }
        if self.output is not None:
            document["output"] = list(self.output)
            document["units_in_padding"] = list(self.units_in_padding or ())
        return document


class UnitRegion(NamedTuple):
    """The input region one output unit sees (inclusive bounds, input coordinates)."""

    index: Dims  # type: ignore[assignment]  # a field may shadow tuple's method
    start: Dims
    end: Dims
    in_padding: bool | None = None  # None when the input size is unknown

    def to_dict(self) -> dict:
        return {
            "index": list(self.index),
            "start": list(self.start),
            "end": list(self.end),
            "in_padding": self.in_padding,
        }


class FieldResult(NamedTuple):
    receptive_field: Dims
    effective_stride: Dims
    effective_padding: Dims
    layers: list[LayerField]
    input: Dims | None = None
    output: Dims | None = None
    unit: UnitRegion | None = None

    def to_dict(self) -> dict:
        document: dict = {
            "receptive_field": list(self.receptive_field),
            "effective_stride": list(self.effective_stride),
            "effective_padding": list(self.effective_padding),
        }
        if self.input is not None:
            document["input"] = list(self.input)
            document["output"] = list(self.output or ())
        if self.unit is not None:
            document["unit"] = self.unit.to_dict()
        document["layers"] = [layer.to_dict() for layer in self.layers]
        return document


def _units_in_padding(n_out: int, n_in: int, r: int, s: int, p: int) -> int:
    """How many of n_out units have a field [i*s - p, i*s - p + r - 1] not inside [0, n_in - 1]."""
    first = -(-p // s)  # ceil(p / s): the first unit whose field starts at or after 0
    last = (n_in - r + p) // s  # the last unit whose field ends at or before n_in - 1
    inside = max(0, min(last, n_out - 1) - max(first, 0) + 1) if r <= n_in else 0
    return n_out - inside


def chain_field(
    layers: Sequence[Layer],
    ndim: int | None = None,
    size: Dims | None = None,
    unit: Dims | None = None,
) -> FieldResult:
    """Receptive field after every layer; with `size`, output sizes and units that see padding.

    `ndim` defaults to the size's dimensions, else to what the layers pin down, else 2 (images).
    `unit` asks for the input region of one unit of the last layer.
    """
    for index, layer in enumerate(layers, start=1):
        if layer.kind == "deconv":
            raise InputError(
                f"layer {index} '{layer.spec}': a transposed convolution's field depends on the "
                "output position, so it has no single receptive field; receptive-field covers "
                "conv and pool chains"
            )
    if size is not None:
        ndim = len(size)
    if ndim is None:
        pinned = {layer.ndim for layer in layers if layer.ndim is not None}
        if len(pinned) > 1:
            raise InputError(f"the layers disagree on the number of dimensions ({sorted(pinned)})")
        ndim = pinned.pop() if pinned else 2
    r, s_eff, p_eff = [1] * ndim, [1] * ndim, [0] * ndim
    current = tuple(size) if size is not None else None
    entries: list[LayerField] = []
    for index, layer in enumerate(layers, start=1):
        try:
            dims = layer.dims(ndim)
        except InputError as exc:
            raise InputError(f"layer {index} {exc}") from None
        n_in = current
        if layer.spatial:
            for i in range(ndim):
                span = dims.dilation[i] * (dims.kernel[i] - 1)
                r[i] += span * s_eff[i]
                p_eff[i] += dims.pad_left[i] * s_eff[i]
                s_eff[i] *= dims.stride[i]
        in_padding = None
        if n_in is not None:
            try:
                current, _ = layer_output(layer, n_in)
            except InputError as exc:
                raise InputError(f"layer {index} {exc}") from None
            in_padding = tuple(
                _units_in_padding(current[i], size[i], r[i], s_eff[i], p_eff[i])  # type: ignore[index]
                for i in range(ndim)
            )
        entries.append(
            LayerField(
                index,
                layer.spec,
                layer.kind,
                tuple(r),
                tuple(s_eff),
                tuple(p_eff),
                current if n_in is not None else None,
                in_padding,
            )
        )
    result = FieldResult(tuple(r), tuple(s_eff), tuple(p_eff), entries, size, current)
    if unit is not None:
        result = result._replace(unit=unit_region(result, unit))
    return result


def unit_region(result: FieldResult, unit: Dims) -> UnitRegion:
    """Input coordinates seen by output unit `unit` of the chain's last layer."""
    ndim = len(result.receptive_field)
    if len(unit) == 1 and ndim > 1:
        unit = unit * ndim
    if len(unit) != ndim:
        raise InputError(f"--unit has {len(unit)} indices but the chain has {ndim} dimensions")
    if result.output is not None:
        for i, (u, n) in enumerate(zip(unit, result.output, strict=True)):
            if not 0 <= u < n:
                raise InputError(
                    f"--unit index {u} is outside the output "
                    f"(dimension {i + 1} has units 0..{n - 1})"
                )
    start = tuple(
        u * s - p
        for u, s, p in zip(unit, result.effective_stride, result.effective_padding, strict=True)
    )
    end = tuple(a + r - 1 for a, r in zip(start, result.receptive_field, strict=True))
    in_padding = None
    if result.input is not None:
        in_padding = any(
            a < 0 or b > n - 1 for a, b, n in zip(start, end, result.input, strict=True)
        )
    return UnitRegion(tuple(unit), start, end, in_padding)


def receptive_field(
    layers: str | None = None,
    *,
    arch: str | None = None,
    size: str | int | Sequence[int] | None = None,
    unit: Sequence[int] | int | None = None,
) -> FieldResult:
    """Receptive field, effective stride and padding of a chain (`layers='conv3,conv3,conv3'`)
    or a standard network (`arch='vgg16'`); `dlcli.receptive_field(arch='vgg16')
    .receptive_field == (212, 212)`."""
    from dlcli.layers import as_size, parse_layers

    if layers is not None and arch is None:
        chain = parse_layers(layers)
    elif arch is not None and layers is None:
        from dlcli.archs import arch_layers

        chain = arch_layers(arch)
    else:
        raise InputError("give exactly one of --layers SPEC or --arch NAME")
    if isinstance(unit, int):
        unit = (unit,)
    return chain_field(
        chain,
        size=as_size(size) if size is not None else None,
        unit=tuple(unit) if unit is not None else None,
    )
