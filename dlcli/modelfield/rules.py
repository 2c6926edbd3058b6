"""How each op moves a tensor's field: modules by type, functions and methods by name.

Every rule takes the op's arguments with the input-dependent tensors replaced by their `Value`
(other tensors stay meta tensors, so a functional conv's weight still has its shape) and the
op's output shape, and returns the output's Value. An op missing from these tables makes the
field "unknown after OP": a wrong field is worse than none.
"""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

from dlcli.modelfield import axis as ax
from dlcli.modelfield.fields import Value, combine, gather, unknown, whole_axes

# Ops that act on each unit alone (or on channels only): the field passes through.
ELEMENTWISE = frozenset(
    """relu relu_ relu6 leaky_relu leaky_relu_ gelu silu silu_ sigmoid sigmoid_ tanh tanh_
    hardswish hardswish_ hardsigmoid hardtanh hardtanh_ elu elu_ selu celu mish softplus softsign
    tanhshrink hardshrink softshrink threshold logsigmoid prelu rrelu dropout dropout_
    dropout1d dropout2d dropout3d alpha_dropout feature_alpha_dropout batch_norm contiguous clone
    detach float double half bfloat16 to type type_as abs abs_ neg exp log log1p sqrt rsqrt
    square clamp clamp_ clip clip_ sign sin cos erf reciprocal nan_to_num requires_grad_
    pow pow_ channel_shuffle local_response_norm normalize""".split()
)
# Ops between tensors of one grid (broadcasting): every input's paths meet.
MEETING = frozenset(
    """add add_ iadd sub sub_ isub rsub mul mul_ imul truediv itruediv div div_ floordiv
    maximum minimum fmax fmin where lerp addcmul addcdiv masked_fill and_ or_""".split()
)
REDUCTIONS = frozenset("mean sum amax amin std var logsumexp norm prod nanmean nansum".split())
RESHAPES = frozenset(
    "view reshape flatten unflatten squeeze unsqueeze view_as reshape_as expand expand_as".split()
)


def values_in(items) -> list[Value]:
    found = []
    for item in items:
        if isinstance(item, Value):
            found.append(item)
        elif isinstance(item, (list, tuple)):
            found.extend(values_in(item))
    return found


def spatial_dims(value: Value, count: int) -> list[tuple[int, int]]:
    """(tensor dim, input axis) of the last `count` dims, which an N-d op treats as space."""
    out = []
    for d in range(len(value.shape) - count, len(value.shape)):
        axis = value.dims[d]
        if axis is not None:
            out.append((d, axis))
    return out


def _per_dim(x, n: int) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x,) * n


def sliding(value: Value, shape, name: str, kernel, stride, padding, dilation=1) -> Value:
    """Convolution and pooling over the last len(kernel) dims (padding may be 'same'/'valid')."""
    n = len(kernel)
    stride = _per_dim(stride if stride not in (None, ()) else kernel, n)
    dilation = _per_dim(dilation, n)
    if padding == "valid":
        padding = 0
    if padding == "same":
        padding = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation, strict=True))
    padding = _per_dim(padding, n)
    first = len(value.shape) - n
    for d, a in spatial_dims(value, n):
        i = d - first
        op = ax.conv(kernel[i], stride[i], padding[i], dilation[i])
        value = gather(value, a, op, shape, name)
    return replace(value, shape=tuple(shape))


def transposed(value: Value, shape, name: str, kernel, stride, padding, dilation=1) -> Value:
    n = len(kernel)
    stride, padding, dilation = (_per_dim(x, n) for x in (stride, padding, dilation))
    first = len(value.shape) - n
    for d, a in spatial_dims(value, n):
        i = d - first
        op = ax.transposed(kernel[i], stride[i], padding[i], dilation[i])
        value = gather(value, a, op, shape, name)
    return replace(value, shape=tuple(shape))


def adaptive(value: Value, shape, name: str, n: int) -> Value:
    """Adaptive pooling: exact windows; an output of one unit mixes the whole axis."""
    sizes = value.shape
    for d, a in spatial_dims(value, n):
        if shape[d] == 1:
            value = whole_axes(value, [a])
        else:
            value = gather(value, a, ax.adaptive(sizes[d], shape[d]), shape, name)
    return replace(value, shape=tuple(shape))


def resample(value: Value, shape, name: str, mode: str, scale, align_corners, recompute) -> Value:
    """F.interpolate / nn.Upsample along the last len(shape)-2 dims."""
    n = len(shape) - 2
    scales = _per_dim(scale, n) if scale is not None and not recompute else (None,) * n
    sizes = value.shape
    for d, a in spatial_dims(value, n):
        n_in, n_out = sizes[d], shape[d]
        s = scales[d - 2]
        ratio = Fraction(1) / Fraction(s) if s else Fraction(n_in, n_out)
        if mode in ("nearest", "nearest-exact"):
            op = ax.nearest(ratio, exact=mode == "nearest-exact")
        elif mode in ("linear", "bilinear", "trilinear", "bicubic"):
            if align_corners:
                ratio = Fraction(n_in - 1, n_out - 1) if n_out > 1 else Fraction(0)
            op = ax.linear(ratio, bool(align_corners), 4 if mode == "bicubic" else 2)
        elif mode == "area":
            op = ax.adaptive(n_in, n_out)
        else:
            return unknown(replace(value, shape=tuple(shape)), f"unknown after {name} ({mode})")
        value = gather(value, a, op, shape, name)
    return replace(value, shape=tuple(shape))


def pad(value: Value, shape, name: str, amounts) -> Value:
    """F.pad's list: (left, right) of the last dim first; negative amounts crop."""
    for i in range(len(amounts) // 2):
        d = len(value.shape) - 1 - i
        a = value.dims[d]
        if a is not None:
            value = gather(value, a, ax.shift(amounts[2 * i]), shape, name)
    return replace(value, shape=tuple(shape))


def pixel_shuffle(value: Value, shape, name: str, factor: int, up: bool) -> Value:
    """Fields are per position, not per channel: after an unshuffle, a shuffle's field is the
    enclosing one (an unshuffle followed by a shuffle is exactly the identity)."""
    for _, a in spatial_dims(value, 2):
        op = ax.nearest(Fraction(1, factor)) if up else ax.conv(factor, factor, 0)
        value = gather(value, a, op, shape, name)
    return replace(value, shape=tuple(shape))


def along(value: Value, shape, dims) -> Value:
    """An op that mixes the units along `dims` (softmax, norms, a Linear over a spatial dim)."""
    nd = len(value.shape)
    axes = [value.dims[d % nd] for d in dims if value.dims[d % nd] is not None]
    return replace(whole_axes(value, axes), shape=tuple(shape))


def meet(values: list[Value], shape, name: str) -> Value:
    """Broadcasting ops: dims aligned from the right; the same axis must land on one dim."""
    out_dims: list[int | None] = [None] * len(shape)
    for v in values:
        offset = len(shape) - len(v.shape)
        for k, a in enumerate(v.dims):
            if a is None or v.shape[k] != shape[offset + k]:
                continue
            if a in out_dims and out_dims.index(a) != offset + k:
                return unknown(values[0], f"unknown after {name} (a spatial axis meets another)")
            out_dims[offset + k] = a
    return combine(values, tuple(out_dims), shape, name)


def concatenate(values: list[Value], shape, name: str, dim: int, new: bool) -> Value:
    """cat (new=False) or stack (new=True) along `dim`; along a spatial axis it has no rule."""
    dims = values[0].dims
    if any(v.dims != dims for v in values):
        return unknown(values[0], f"unknown after {name} (inputs laid out differently)")
    if new:
        dim = dim % (len(dims) + 1)
        dims = dims[:dim] + (None,) + dims[dim:]
    elif dims[dim % len(dims)] is not None:
        return unknown(values[0], f"unknown after {name} along a spatial axis")
    return combine(values, dims, shape, name)


def reshape(value: Value, shape) -> Value:
    """view/reshape/flatten: a spatial dim kept whole keeps its axis; merged, it mixes."""
    old = value.shape
    dims: list[int | None] = [None] * len(shape)
    mixed = []
    for k, a in enumerate(value.dims):
        if a is None:
            continue
        before, after = math.prod(old[:k]), math.prod(old[k + 1 :])
        j = _matching_dim(shape, old[k], before, after)
        if j is not None:
            dims[j] = a
        elif old[k] > 1 and _splits(shape, old[k], before):
            return unknown(
                replace(value, shape=tuple(shape)),
                "unknown after a reshape that splits a spatial axis",
            )
        else:
            mixed.append(a)
    value = whole_axes(value, mixed)
    return replace(value, dims=tuple(dims), shape=tuple(shape))


def _matching_dim(shape, size: int, before: int, after: int) -> int | None:
    for j, n in enumerate(shape):
        if n == size and math.prod(shape[:j]) == before and math.prod(shape[j + 1 :]) == after:
            return j
    return None


def _splits(shape, size: int, before: int) -> bool:
    for j in range(len(shape)):
        if math.prod(shape[:j]) != before:
            continue
        for k in range(j + 2, len(shape) + 1):
            if math.prod(shape[j:k]) == size and sum(n > 1 for n in shape[j:k]) > 1:
                return True
    return False


def permute(value: Value, order) -> Value:
    nd = len(value.dims)
    order = [o % nd for o in order]
    return replace(
        value,
        dims=tuple(value.dims[o] for o in order),
        shape=tuple(value.shape[o] for o in order),
    )


def transpose(value: Value, d0: int, d1: int) -> Value:
    order = list(range(len(value.dims)))
    order[d0], order[d1] = order[d1], order[d0]
    return permute(value, order)


def reduce_dims(value: Value, shape, dims, keepdim: bool) -> Value:
    """mean/sum/amax over dims: those axes mix; their dims go unless keepdim."""
    nd = len(value.dims)
    chosen = range(nd) if dims is None else [d % nd for d in _per_dim(dims, 1)]
    value = along(value, value.shape, chosen)
    kept = [None if d in chosen else a for d, a in enumerate(value.dims)]
    if not keepdim:
        kept = [a for d, a in enumerate(kept) if d not in chosen]
    return replace(value, dims=tuple(kept), shape=tuple(shape))


def index(value: Value, key, shape) -> Value:
    """x[...]: slices along spatial dims resample them; an integer there has no rule."""
    items = list(key) if isinstance(key, tuple) else [key]
    if any(i is Ellipsis for i in items):
        at = items.index(Ellipsis)
        fill = len(value.dims) - (len(items) - 1 - sum(i is None for i in items))
        items[at : at + 1] = [slice(None)] * fill
    dims: list[int | None] = []
    d = 0
    for item in items:
        if item is None:
            dims.append(None)
            continue
        a = value.dims[d]
        if isinstance(item, slice):
            if a is not None and item != slice(None):
                start, stop, every = item.indices(value.shape[d])
                sliced = list(value.shape)
                sliced[d] = len(range(start, stop, every))
                value = gather(value, a, ax.step(start, every), sliced, "slicing")
            dims.append(a)
        elif not isinstance(item, int) or a is not None:
            reason = "unknown after indexing a spatial axis"
            return unknown(replace(value, shape=tuple(shape)), reason)
        d += 1
    dims.extend(value.dims[d:])
    return replace(value, dims=tuple(dims), shape=tuple(shape))
