"""Dispatch: which rule of `rules` an nn.Module or a function / tensor method call takes.

`module_value(module, args, shape)` and `call_value(name, args, kwargs, shape)` return the
output's Value; `None` when no argument depends on the input. Imports torch (only `nn` classes,
to recognise modules); loaded only when a model is analysed.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from dlcli.modelfield import rules as R
from dlcli.modelfield.fields import Value, unknown

_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_ADAPTIVE = {
    nn.AdaptiveAvgPool1d: 1,
    nn.AdaptiveAvgPool2d: 2,
    nn.AdaptiveAvgPool3d: 3,
    nn.AdaptiveMaxPool1d: 1,
    nn.AdaptiveMaxPool2d: 2,
    nn.AdaptiveMaxPool3d: 3,
}
_PADS = tuple(
    getattr(nn, f"{kind}Pad{n}d")
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
    for n in (1, 2, 3)
    if hasattr(nn, f"{kind}Pad{n}d")
)
_MIXING_NORMS = (nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)
_PASS = (
    nn.Identity,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.dropout._DropoutNd,
    nn.LocalResponseNorm,
    nn.ChannelShuffle,
)


def _elementwise_module(module: nn.Module) -> bool:
    """Activations (nn.ReLU, nn.GELU, ...) and per-unit layers: the field passes."""
    if isinstance(module, _PASS):
        return True
    name = type(module).__name__.lower()
    return type(module).__module__ == "torch.nn.modules.activation" and name in R.ELEMENTWISE | {
        "relu6",
        "leakyrelu",
        "hardswish",
        "hardsigmoid",
        "hardtanh",
        "logsigmoid",
        "softshrink",
        "hardshrink",
    }


def module_value(module: nn.Module, args, shape) -> Value | None:
    """The output Value of a leaf module called on `args`."""
    found = R.values_in(args)
    if not found:
        return None
    value, name = found[0], type(module).__name__
    if value.unknown or _elementwise_module(module):
        return replace(value, shape=tuple(shape))
    return _module_rule(module, value, shape, name)


def _module_rule(m: nn.Module, v: Value, shape, name: str) -> Value:  # noqa: C901
    if isinstance(m, _CONVS):
        return R.sliding(v, shape, name, m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, _DECONVS):
        return R.transposed(v, shape, name, m.kernel_size, m.stride, m.padding, m.dilation)
    if isinstance(m, _POOLS):
        n = int(name[-2])
        kernel = R._per_dim(m.kernel_size, n)
        dilation = getattr(m, "dilation", 1)
        return R.sliding(v, shape, name, kernel, m.stride, m.padding, dilation)
    if isinstance(m, (nn.LPPool1d, nn.LPPool2d)):
        kernel = R._per_dim(m.kernel_size, int(name[-2]))
        return R.sliding(v, shape, name, kernel, m.stride, 0)
    if type(m) in _ADAPTIVE:
        return R.adaptive(v, shape, name, _ADAPTIVE[type(m)])
    if isinstance(m, nn.Upsample):
        mode = m.mode
        return R.resample(v, shape, name, mode, m.scale_factor, m.align_corners, False)
    if isinstance(m, _PADS):
        return R.pad(v, shape, name, m.padding)
    if isinstance(m, (nn.PixelShuffle, nn.PixelUnshuffle)):
        up = isinstance(m, nn.PixelShuffle)
        factor = m.upscale_factor if isinstance(m, nn.PixelShuffle) else m.downscale_factor
        return R.pixel_shuffle(v, shape, name, factor, up)
    if isinstance(m, (nn.Flatten, nn.Unflatten)):
        return R.reshape(v, shape)
    if isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmin)):
        return R.along(v, shape, [m.dim if m.dim is not None else -1])
    if isinstance(m, _MIXING_NORMS):
        return R.along(v, shape, range(2, len(v.shape)))
    if isinstance(m, nn.LayerNorm):
        return R.along(v, shape, range(-len(m.normalized_shape), 0))
    if isinstance(m, (nn.Linear, nn.Bilinear, nn.LazyLinear)):
        return R.along(v, shape, [-1])
    return unknown(replace(v, shape=tuple(shape)), f"unknown after {name}")


_FIRST_ONLY = frozenset({"to", "type", "type_as"})
_REFLECTED = {
    "radd": "add",
    "rmul": "mul",
    "rtruediv": "truediv",
    "rdiv": "div",
    "rfloordiv": "floordiv",
    "rpow": "pow",
}


def _arg(args, kwargs, pos: int, key: str, default=None):
    if len(args) > pos:
        return args[pos]
    return kwargs.get(key, default)


def call_value(name: str, args, kwargs, shape) -> Value | None:
    """The output Value of `torch.NAME(*args)`, `F.NAME(...)`, `x.NAME(...)` or an operator."""
    found = R.values_in(list(args) + list(kwargs.values()))
    if not found:
        return None
    name = name.strip("_")
    name = _REFLECTED.get(name, name)
    first = found[0]
    if name in R.ELEMENTWISE or name.endswith("dropout"):
        if name in _FIRST_ONLY:  # x.to(y), x.type_as(y): y lends a dtype, not values
            found = found[:1]
        if len(found) > 1 or any(v.unknown for v in found):
            return R.meet(found, shape, name)
        return replace(first, shape=tuple(shape))
    if name in R.MEETING:
        return R.meet(found, shape, name)
    if first.unknown:
        return replace(first, shape=tuple(shape))
    rule = _CALLS.get(name) or _prefixed(name)
    if rule is None:
        return unknown(replace(first, shape=tuple(shape)), f"unknown after {name}")
    return rule(name, first, args, kwargs, shape)


def _prefixed(name: str):
    for prefix, rule in _FAMILIES:
        if name.startswith(prefix):
            return rule
    return None


def _conv(name, v, args, kwargs, shape):
    weight = _arg(args, kwargs, 1, "weight")
    kernel = tuple(weight.shape[2:])
    get = lambda pos, key, default: _arg(args, kwargs, pos, key, default)  # noqa: E731
    if name.startswith("conv_transpose"):
        return R.transposed(
            v, shape, name, kernel, get(3, "stride", 1), get(4, "padding", 0), get(7, "dilation", 1)
        )
    stride, padding, dilation = get(3, "stride", 1), get(4, "padding", 0), get(5, "dilation", 1)
    return R.sliding(v, shape, name, kernel, stride, padding, dilation)


def _pool(name, v, args, kwargs, shape):
    n = int(name[-2])
    get = lambda pos, key, default: _arg(args, kwargs, pos, key, default)  # noqa: E731
    if name.startswith("lp_pool"):
        kernel = R._per_dim(get(2, "kernel_size", None), n)
        return R.sliding(v, shape, name, kernel, get(3, "stride", None), 0)
    kernel = R._per_dim(get(1, "kernel_size", None), n)
    dilation = get(4, "dilation", 1) if name.startswith("max") else 1
    return R.sliding(v, shape, name, kernel, get(2, "stride", None), get(3, "padding", 0), dilation)


def _interpolate(name, v, args, kwargs, shape):
    get = lambda pos, key, default: _arg(args, kwargs, pos, key, default)  # noqa: E731
    if name == "upsample_bilinear":
        return R.resample(v, shape, name, "bilinear", get(2, "scale_factor", None), True, False)
    if name == "upsample_nearest":
        return R.resample(v, shape, name, "nearest", get(2, "scale_factor", None), None, False)
    if get(6, "antialias", False):
        return unknown(replace(v, shape=tuple(shape)), f"unknown after {name} (antialias)")
    mode, align = get(3, "mode", "nearest"), get(4, "align_corners", None)
    return R.resample(
        v,
        shape,
        name,
        mode,
        get(2, "scale_factor", None),
        align,
        get(5, "recompute_scale_factor", None),
    )


def _softmax(name, v, args, kwargs, shape):
    return R.along(v, shape, [_arg(args, kwargs, 1, "dim", -1)])


def _norm_over(name, v, args, kwargs, shape):
    if name == "layer_norm":
        return R.along(v, shape, range(-len(_arg(args, kwargs, 1, "normalized_shape")), 0))
    return R.along(v, shape, range(2, len(v.shape)))


def _reduce(name, v, args, kwargs, shape):
    dim = _arg(args, kwargs, 1, "dim", None)
    if not isinstance(dim, (int, tuple, list)) and dim is not None:
        dim = None
    return R.reduce_dims(v, shape, dim, bool(_arg(args, kwargs, 2, "keepdim", False)))


def _cat(name, v, args, kwargs, shape):
    tensors = _arg(args, kwargs, 0, "tensors")
    values = R.values_in(tensors)
    if len(values) != len(tensors):  # a constant joins: its units see nothing of the input
        values = values or [v]
    new = name == "stack"
    return R.concatenate(values, shape, name, _arg(args, kwargs, 1, "dim", 0), new)


def _getitem(name, v, args, kwargs, shape):
    return R.index(v, args[1], shape)


def _permute(name, v, args, kwargs, shape):
    if name == "permute":
        order = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        return R.permute(v, order or kwargs.get("dims"))
    if name in ("t", "numpy_T"):
        return R.transpose(v, 0, 1)
    nd = len(v.dims)
    d0, d1 = _arg(args, kwargs, 1, "dim0", 0), _arg(args, kwargs, 2, "dim1", 1)
    return R.transpose(v, d0 % nd, d1 % nd)


def _matmul(name, v, args, kwargs, shape):
    """a @ b: units along a's last and b's second-last dims mix."""
    a, b = args[0], args[1]
    mixed = []
    if isinstance(a, Value):
        mixed.append(R.along(a, a.shape, [-1]))
    if isinstance(b, Value):
        b = R.along(b, b.shape, [-2] if len(b.shape) > 1 else [-1])
        mixed.append(replace(b, dims=b.dims[:-2] + (None,) + b.dims[-1:]))
    if isinstance(a, Value):
        mixed[0] = replace(mixed[0], dims=mixed[0].dims[:-1] + (None,))
    return R.meet(mixed, shape, name)


def _linear(name, v, args, kwargs, shape):
    return R.along(v, shape, [-1])


def _attention(name, v, args, kwargs, shape):
    q, k, val = (_arg(args, kwargs, i, key) for i, key in enumerate(("query", "key", "value")))
    parts = [q] if isinstance(q, Value) else []
    for t in (k, val):
        if isinstance(t, Value):
            parts.append(R.along(t, t.shape, range(len(t.shape))))
    return R.meet(
        [replace(p, dims=(None,) * len(p.dims)) if p is not q else p for p in parts], shape, name
    )


def _pad(name, v, args, kwargs, shape):
    return R.pad(v, shape, name, _arg(args, kwargs, 1, "pad"))


def _shuffle(name, v, args, kwargs, shape):
    up = name == "pixel_shuffle"
    factor = _arg(args, kwargs, 1, "upscale_factor") or kwargs.get("downscale_factor")
    return R.pixel_shuffle(v, shape, name, factor, up)


def _adaptive(name, v, args, kwargs, shape):
    return R.adaptive(v, shape, name, int(name[-2]))


def _reshape(name, v, args, kwargs, shape):
    return R.reshape(v, shape)


_CALLS = {
    "interpolate": _interpolate,
    "upsample": _interpolate,
    "upsample_bilinear": _interpolate,
    "upsample_nearest": _interpolate,
    "softmax": _softmax,
    "log_softmax": _softmax,
    "softmin": _softmax,
    "group_norm": _norm_over,
    "instance_norm": _norm_over,
    "layer_norm": _norm_over,
    "cat": _cat,
    "concat": _cat,
    "concatenate": _cat,
    "stack": _cat,
    "getitem": _getitem,
    "permute": _permute,
    "transpose": _permute,
    "swapaxes": _permute,
    "swapdims": _permute,
    "t": _permute,
    "matmul": _matmul,
    "bmm": _matmul,
    "mm": _matmul,
    "linear": _linear,
    "scaled_dot_product_attention": _attention,
    "pad": _pad,
    "pixel_shuffle": _shuffle,
    "pixel_unshuffle": _shuffle,
    **dict.fromkeys(R.REDUCTIONS, _reduce),
    **dict.fromkeys(R.RESHAPES, _reshape),
}
_FAMILIES = (
    ("conv", _conv),
    ("max_pool", _pool),
    ("avg_pool", _pool),
    ("lp_pool", _pool),
    ("adaptive_", _adaptive),
)


# --- the results of torch calls (shared by trace.py and eager.py) -------------------------------

_SPLITS = frozenset({"split", "chunk", "tensor_split", "unbind", "split_with_sizes"})


def _values(items):
    return R.values_in(list(items))


def torch_call_value(name: str, args, kwargs, shape) -> Value | None:
    """The Value of a torch function or tensor method's result (traced and eager paths alike):
    the splits keep their input's field unless they cut a spatial axis; the rest `call_value`."""
    if name in _SPLITS:
        value = next(iter(_values(args)), None)
        if value is None:
            return None
        dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
        if name == "unbind":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if value.dims[dim % len(value.dims)] is not None:
            return unknown(
                replace(value, shape=shape), f"unknown after {name} along a spatial axis"
            )
        return replace(value, shape=shape)
    return call_value(name, args, kwargs, shape)


def shaped(result, make):
    """Apply `make(shape)` to a tensor result, or to each tensor of a tuple result."""
    if isinstance(result, torch.Tensor):
        return make(tuple(result.shape))
    if (
        isinstance(result, (tuple, list))
        and result
        and all(isinstance(r, torch.Tensor) for r in result)
    ):
        return tuple(make(tuple(r.shape)) for r in result)
    return None
