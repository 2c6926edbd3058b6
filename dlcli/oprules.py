"""The counting rules of `featsize --model` (dlcli.inspection), per aten op: multiply-adds
(MACs) for convolutions, transposed convolutions, matrix products and attention; FLOPs are
2 x MACs plus the elementwise work in `ELEMENTWISE`, the pools in `POOLS`; ops that only move
or view memory count zero on purpose (`FREE`). `op_counts(name, args, out)` gives an op's
(MACs, FLOPs), or None for an op without a rule (reported by name, never a silent zero).
torch is imported inside the functions.
"""

from __future__ import annotations

import math
from typing import Any


def _numel(shape: Any) -> int:
    return math.prod(shape)


def _conv_macs(args: tuple, out: Any) -> int:
    """convolution(x, w, bias, stride, padding, dilation, transposed, output_padding, groups).

    Plain: each output value sums (C_in / groups) x kernel products; w is (C_out, C_in/g, *k).
    Transposed: each input value is multiplied by every weight of its group, (C_out/g) x kernel
    of them, and added into the output; w is (C_in, C_out/g, *k).
    """
    x, w, transposed = args[0], args[1], bool(args[6])
    per = w.shape[1] * _numel(w.shape[2:])
    return x.numel() * per if transposed else out.numel() * per


def _mm_macs(args: tuple, out: Any) -> int:
    # mm(a (n, k), b (k, m)) and bmm(a (B, n, k), b (B, k, m)): n*k*m per batch
    a, b = args[0], args[1]
    return a.numel() * b.shape[-1]


def _addmm_macs(args: tuple, out: Any) -> int:
    # addmm(bias, a, b) / baddbmm(bias, a, b)
    return _mm_macs(args[1:], out)


def _attention_macs(args: tuple, out: Any) -> int:
    # q (B, H, L, E), k (B, H, S, E), v (B, H, S, Ev): q @ k^T is L*S*E, weights @ v is L*S*Ev
    q, k, v = args[0], args[1], args[2]
    batch_heads = _numel(q.shape[:-2])
    length, source = q.shape[-2], k.shape[-2]
    return batch_heads * length * source * (q.shape[-1] + v.shape[-1])


MACS = {
    "convolution": _conv_macs,
    "_convolution": _conv_macs,
    "convolution_overrideable": _conv_macs,
    "mm": _mm_macs,
    "bmm": _mm_macs,
    "addmm": _addmm_macs,
    "baddbmm": _addmm_macs,
    "_scaled_dot_product_flash_attention": _attention_macs,
    "_scaled_dot_product_flash_attention_for_cpu": _attention_macs,
    "_scaled_dot_product_efficient_attention": _attention_macs,
    "_scaled_dot_product_cudnn_attention": _attention_macs,
    "_scaled_dot_product_fused_attention_overrideable": _attention_macs,
}

# FLOPs besides 2 x MACs, per element of the op's output (elementwise) or input (reductions).
ELEMENTWISE = {
    # one FLOP per output element
    **dict.fromkeys(
        "add sub rsub mul div neg abs relu gelu silu sigmoid tanh hardtanh hardswish hardsigmoid "
        "leaky_relu elu mish softplus clamp clamp_min clamp_max exp log log1p sqrt rsqrt pow "
        "reciprocal erf maximum minimum where threshold sign floor ceil round eq ne lt le gt ge "
        "logical_not bitwise_not masked_fill".split(),
        ("out", 1),
    ),
    "addcmul": ("out", 2),
    "addcdiv": ("out", 2),
    "lerp": ("out", 2),
    # reductions: one FLOP per input element
    **dict.fromkeys("sum mean amax amin max min prod argmax argmin any all".split(), ("in", 1)),
    "var_mean": ("in", 3),
    "var": ("in", 3),
    "std": ("in", 3),
    "linalg_vector_norm": ("in", 2),
    "norm": ("in", 2),
    # exp, sum and divide per element
    "_softmax": ("in", 3),
    "_safe_softmax": ("in", 3),
    "_log_softmax": ("in", 3),
    "softmax": ("in", 3),
    "log_softmax": ("in", 3),
    # inference batch norm: a scale and a shift per element; layer/group norm also their
    # statistics (mean, variance, normalise, scale, shift)
    "_native_batch_norm_legit_no_training": ("out", 2),
    "_native_batch_norm_legit": ("out", 2),
    "native_batch_norm": ("out", 2),
    "native_layer_norm": ("out", 5),
    "native_group_norm": ("out", 5),
    # global pooling reads every input element once
    "_adaptive_avg_pool2d": ("in", 1),
    "_adaptive_avg_pool3d": ("in", 1),
    "adaptive_avg_pool1d": ("in", 1),
    "adaptive_max_pool2d": ("in", 1),
    "adaptive_max_pool1d": ("in", 1),
    "adaptive_max_pool3d": ("in", 1),
    # linear interpolation: 2 FLOPs per corner (1-D 2 corners, 2-D 4, 3-D 8)
    "upsample_linear1d": ("out", 4),
    "upsample_bilinear2d": ("out", 8),
    "upsample_trilinear3d": ("out", 16),
    "upsample_bicubic2d": ("out", 32),
    "_upsample_bilinear2d_aa": ("out", 8),
    "_upsample_bicubic2d_aa": ("out", 32),
}

# Windowed pooling: one FLOP per window element per output element (compare or add).
POOLS = {
    "max_pool2d_with_indices": 2,
    "max_pool3d_with_indices": 3,
    "max_pool1d": 1,
    "max_pool2d": 2,
    "max_pool3d": 3,
    "avg_pool1d": 1,
    "avg_pool2d": 2,
    "avg_pool3d": 3,
}

# Ops that only create, view, copy or rearrange memory: zero FLOPs, on purpose.
FREE = frozenset(
    """view _unsafe_view reshape _reshape_alias permute transpose t expand expand_as clone copy_
    _to_copy contiguous cat stack slice select unsqueeze squeeze split split_with_sizes chunk
    unbind index index_select gather embedding empty empty_like empty_strided zeros zeros_like
    ones ones_like full full_like eye fill_ zero_ arange detach alias lift_fresh as_strided
    constant_pad_nd pad reflection_pad1d reflection_pad2d reflection_pad3d replication_pad1d
    replication_pad2d replication_pad3d upsample_nearest1d upsample_nearest2d upsample_nearest3d
    _upsample_nearest_exact1d _upsample_nearest_exact2d _upsample_nearest_exact3d pixel_shuffle
    pixel_unshuffle channel_shuffle native_channel_shuffle roll repeat narrow new_zeros new_empty
    new_ones new_full scalar_tensor flip unfold diagonal tril triu movedim unflatten
    _local_scalar_dense masked_select unsafe_split unsafe_chunk
    unsafe_split_with_sizes transpose_ t_ squeeze_ unsqueeze_ as_strided_ detach_ resize_
    nonzero scatter index_put dropout native_dropout
    bernoulli bernoulli_ lift lift_fresh_copy _assert_async sym_size sym_stride sym_numel
    sym_storage_offset is_same_size _unsafe_index""".split()
)


def op_name(func: Any) -> str:
    """aten.add.Tensor -> 'add' (an in-place variant add_ -> 'add', for the rules)."""
    return func.overloadpacket.__name__


def _rule_name(name: str) -> str:
    if name.endswith("_") and not name.endswith("__") and name.rstrip("_") in ELEMENTWISE:
        return name.rstrip("_")
    return name


def op_counts(name: str, args: tuple, out: Any) -> tuple[int, int] | None:
    """(MACs, FLOPs) of one aten op, or None when no rule knows it."""
    rule = _rule_name(name)
    if rule in MACS:
        macs = MACS[rule](args, out)
        flops = 2 * macs
        if rule in ("addmm", "baddbmm") or (
            rule in ("convolution", "_convolution") and args[2] is not None
        ):
            flops += _first_tensor(out).numel()  # the bias (addmm: beta * input) added once
        return macs, flops
    if rule in ELEMENTWISE:
        where, per = ELEMENTWISE[rule]
        source = _first_tensor(args) if where == "in" else _first_tensor(out)
        return 0, per * (source.numel() if source is not None else 0)
    if rule in POOLS:
        kernel = args[1] if len(args) > 1 else ()
        window = _numel(kernel) if isinstance(kernel, list | tuple) and kernel else 1
        dims = POOLS[rule]
        if isinstance(kernel, list | tuple) and len(kernel) == 1:
            window = kernel[0] ** dims
        return 0, _first_tensor(out).numel() * window
    if rule in FREE:
        return 0, 0
    return None


def _first_tensor(value: Any) -> Any:
    import torch

    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, list | tuple):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None
