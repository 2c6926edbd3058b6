"""What one tensor of a traced model sees of the input: per spatial axis, paths or the whole.

A `Value` belongs to one tensor. `dims[k]` names the input axis that tensor dimension k runs
along (None for batch, channels, features). Per input axis an `Axis` holds the classes of aligned
paths (`axis.Periodic`), or `whole`: every unit sees that span of the input (after a global
pooling, a flatten, a norm over the map). A tensor computed without the input has no Value
(None); a tensor whose field has no rule has `unknown`, the reason ("unknown after Unfold").
Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from dlcli.modelfield import axis as ax


@dataclass(frozen=True)
class Axis:
    classes: tuple[ax.Periodic, ...] = ()
    whole: tuple[int, int] | None = None  # every unit sees this span (clipped to the input)
    # per unit of the tensor, the input pixels it really reaches (padding reaches nothing): what
    # a unit that mixes the whole axis sees, exactly, up to the edges
    reach: tuple[ax.Window, ...] = ()


@dataclass(frozen=True)
class Value:
    dims: tuple[int | None, ...]  # per tensor dimension: the input axis it runs along
    axes: tuple[Axis, ...]  # per input axis
    shape: tuple[int, ...]
    inputs: tuple[int, ...]  # the input's spatial sizes
    unknown: str | None = None

    def dim_of(self, axis: int) -> int | None:
        return self.dims.index(axis) if axis in self.dims else None

    def units(self, axis: int) -> int:
        d = self.dim_of(axis)
        return 1 if d is None else self.shape[d]


def start_value(shape: tuple[int, ...], spatial: int) -> Value:
    """The model's input: (N, C, *spatial) with every unit seeing itself."""
    lead = len(shape) - spatial
    dims = (None,) * lead + tuple(range(spatial))
    axes = tuple(Axis((ax.IDENTITY,), reach=tuple((i, i) for i in range(n))) for n in shape[lead:])
    return Value(dims, axes, shape, tuple(shape[lead:]))


def unknown(value: Value, reason: str) -> Value:
    return value if value.unknown else replace(value, unknown=reason)


def collapse(value: Value, axis: int) -> Axis:
    """The axis once its units are mixed: every unit sees what all of them saw."""
    state = value.axes[axis]
    if state.whole is not None or not state.classes:
        return state
    return Axis((), _span_hull(state.reach))


def _span_hull(spans) -> tuple[int, int] | None:
    present = [s for s in spans if s is not None]
    if not present:
        return None
    return (min(s[0] for s in present), max(s[1] for s in present))


def whole_axes(value: Value, axes) -> Value:
    """Collapse the given input axes (their tensor dims stay, but mix every unit)."""
    states = list(value.axes)
    for a in axes:
        states[a] = collapse(value, a)
    return replace(value, axes=tuple(states))


def gather(value: Value, axis: int, op: ax.Gather | None, shape, name: str) -> Value:
    """Apply an op along one input axis; `shape` is the output tensor's shape."""
    value = replace(value, shape=tuple(shape))
    if value.unknown:
        return value
    if op is None:
        return unknown(value, f"unknown after {name} (no exact rule for its resampling)")
    state = value.axes[axis]
    if state.whole is not None:
        return value
    classes = []
    for c in state.classes:
        moved = ax.apply(op, c)
        if moved is None:
            return unknown(value, f"unknown after {name} (field period over {ax.MAX_PERIOD})")
        classes.append(moved)
    merged = ax.merge((), tuple(classes))
    n_out = _out_units(value.dims, shape, axis)
    states = list(value.axes)
    states[axis] = Axis(merged, reach=_reach(op, state.reach, n_out))
    return replace(value, axes=tuple(states))


def _reach(op: ax.Gather, reach: tuple, units: int) -> tuple:
    """Per output unit, the hull of what the input units it reads really reach."""
    out = []
    for o in range(units):
        q, m = divmod(o, op.out_period)
        js = (j + q * op.in_period for j in op.reads[m])
        out.append(_span_hull([reach[j] for j in js if 0 <= j < len(reach)]))
    return tuple(out)


def combine(values: list[Value], dims: tuple[int | None, ...], shape, name: str) -> Value:
    """Several tensors meeting (`+`, `*`, `cat` along channels): paths of every input."""
    first = values[0]
    inputs = first.inputs
    reason = next((v.unknown for v in values if v.unknown), None)
    states = []
    for a in range(len(inputs)):
        classes: tuple[ax.Periodic, ...] = ()
        wholes: list[tuple[int, int] | None] = []  # a mixed axis's span (None: nothing)
        reaches = []
        for v in values:
            state = v.axes[a]
            if state.whole is not None:
                wholes.append(state.whole)
            elif v.dim_of(a) is None or v.units(a) == 1 and _out_units(dims, shape, a) > 1:
                wholes.append(collapse(v, a).whole)  # broadcast: one unit feeds all
            else:
                classes = ax.merge(classes, state.classes)
                reaches.append(state.reach)
        reach = tuple(_span_hull(column) for column in zip(*reaches, strict=True))
        if wholes:
            states.append(Axis((), _span_hull(wholes + [_span_hull(reach)])))
        else:
            states.append(Axis(classes, reach=reach))
    return Value(tuple(dims), tuple(states), tuple(shape), inputs, reason)


def _out_units(dims, shape, axis: int) -> int:
    return shape[dims.index(axis)] if axis in dims else 1


# ---- reporting --------------------------------------------------------------------------------


def _number(x: Fraction) -> int | float:
    return int(x) if x.denominator == 1 else float(x)


def describe_axis(value: Value, axis: int) -> dict:
    """rf, stride, padding, aligned, global and path offsets along one axis."""
    state = value.axes[axis]
    if state.whole is not None or not state.classes:
        span = state.whole or (0, -1)
        return {"rf": span[1] - span[0] + 1, "stride": None, "padding": -span[0], "global": True}
    classes = state.classes
    if len({c.stride for c in classes}) == 1:
        enclosing = classes[0]
        for c in classes[1:]:
            enclosing = ax.hull(enclosing, c)
        start = enclosing.window(0)
        entry: dict[str, Any] = {
            "rf": enclosing.size,
            "stride": _number(enclosing.stride),
            "padding": -start[0] if start else 0,
            "global": False,
        }
        if enclosing.period > 1:
            entry["period"] = enclosing.period
            entry["windows"] = [list(w) if w else None for w in enclosing.windows]
        centre = enclosing.centre(0)
    else:  # strides differ: the enclosing field of the units the tensor has
        n = value.units(axis)
        windows = [_span_hull([c.window(i) for c in classes]) for i in range(n)]
        entry = {
            "rf": max(w[1] - w[0] + 1 for w in windows if w),
            "stride": None,
            "padding": -windows[0][0] if windows[0] else 0,
            "global": False,
        }
        centre = Fraction(windows[0][0] + windows[0][1], 2) if windows[0] else None
    if len(classes) > 1:
        entry["paths"] = [_path(c, centre) for c in classes]
    entry["aligned"] = len(classes) == 1
    return entry


def _path(c: ax.Periodic, centre: Fraction | None) -> dict:
    w = c.window(0)
    own = c.centre(0)
    offset = None if own is None or centre is None else _number(own - centre)
    return {
        "rf": c.size,
        "stride": _number(c.stride),
        "padding": -w[0] if w else 0,
        "offset": offset,
    }
