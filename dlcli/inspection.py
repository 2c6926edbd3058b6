"""`featsize --model REF`: shapes, parameters, MACs, FLOPs and activation memory of any nn.Module.

    >>> r = dlcli.inspect_model("torchvision.models:resnet50", "3x224x224")
    >>> r.params, r.macs
    (25557032, 4089184256)

The model is built on the meta device (`dlcli.modelref.load_ref`) and run once on a meta input
of shape (batch, *input): no parameter and no activation is ever allocated, and the model is
neither moved nor changed (eval mode during the pass, each module's own mode restored after).

Counting happens below PyTorch's Python layer, on the aten ops a forward pass dispatches
(a `TorchDispatchMode`, as `torch.utils.flop_counter` does), so `x + y`, `x @ w`,
`F.interpolate` and `F.scaled_dot_product_attention` in a `forward` count like modules do.
Module hooks keep the stack of modules running, so each op is charged to the innermost module;
a `TorchFunctionMode` names the Python-level call (`add`, `flatten`, `matmul`, ...) that
dispatched it, so functional calls of a module that has children get rows of their own.

The rules (`RULES`): multiply-adds (MACs) for convolutions, transposed convolutions, matrix
products and attention; FLOPs are 2 x MACs plus the elementwise work listed in `ELEMENTWISE`
and the other FLOP rules. Ops that only move or view memory count zero on purpose (`FREE`).
Any other op is reported by name and count in `uncounted`: never a silent zero.

Activation memory: every op output that is a new tensor storage (views and in-place results
are not) adds its bytes to `activation_bytes`; `activation_peak_bytes` is the most bytes alive
at once if each storage is freed right after the last op that reads it (the model's output is
kept to the end; the input and the parameters are not activations).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError

if TYPE_CHECKING:
    from torch import nn

    from dlcli.modelref import ModelRef

DEFAULT_DEPTH = 1
DEFAULT_BATCH = 1


@dataclass
class LayerRow:
    """One table row: a module (qualified name) or a functional call inside one (`name()`)."""

    name: str
    type: str
    output: Any  # shape list, nested lists for several outputs, None if never called
    params: int
    macs: int
    depth: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output": self.output,
            "params": self.params,
            "macs": self.macs,
        }


@dataclass
class Inspection:
    """What `inspect_model` found; `.to_dict()` is `featsize --model ... --json`."""

    model: str
    input: list[int]  # (batch, *per-sample shape)
    output: Any
    params: int
    trainable_params: int
    buffers: int
    param_bytes: int
    macs: int
    flops: int
    activation_bytes: int
    activation_peak_bytes: int
    uncounted: dict[str, int]
    layers: list[LayerRow]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input": self.input,
            "output": self.output,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "buffers": self.buffers,
            "param_bytes": self.param_bytes,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "activation_peak_bytes": self.activation_peak_bytes,
            "uncounted": dict(self.uncounted),
            "layers": [row.to_dict() for row in self.layers],
        }


def parse_depth(depth: int | str | None) -> int | None:
    """`--depth`: a level >= 1, or 'all' (None: every module)."""
    if depth is None or str(depth).lower() == "all":
        return None
    try:
        level = int(depth)
    except ValueError:
        level = 0
    if level < 1:
        raise InputError(f"invalid --depth '{depth}': expected a level of nesting >= 1, or 'all'")
    return level


def check_options(depth: int | str | None, batch: int) -> int | None:
    """`--batch` and `--depth` checked (InputError), the depth as `parse_depth` gives it."""
    if batch < 1:
        raise InputError(f"invalid --batch {batch}: expected at least 1")
    return parse_depth(depth)


def inspect_model(
    model: str | nn.Module | ModelRef,
    input: str | tuple[int, ...] | None = None,
    *,
    depth: int | str | None = DEFAULT_DEPTH,
    batch: int = DEFAULT_BATCH,
) -> Inspection:
    """Shapes, parameters, MACs, FLOPs and activation memory of one forward pass.

    `model` is a module or file REF (see `dlcli.modelref`, built on meta), a loaded `ModelRef`
    or an nn.Module, which runs on the device it is on (meta: nothing computed or allocated; the
    input is zeros elsewhere); `input` the per-sample shape ("3x224x224" or a tuple), which a run
    folder's ModelRef may omit. `dlcli.inspect_model` (dlcli.training.refs) takes run folders too.
    """
    from dlcli.modelref import ModelRef, load_ref, parse_input

    level = check_options(depth, batch)
    if isinstance(model, ModelRef):
        ref = model
    elif isinstance(model, str):
        ref = load_ref(model)
    else:
        ref = ModelRef(ref=type(model).__name__, module=model, input_shape=None)
    if input is None:
        if ref.input_shape is None:
            raise InputError("give the input shape with --input, e.g. --input 3x224x224")
        shape = ref.input_shape
    else:
        shape = parse_input(input) if isinstance(input, str) else tuple(int(n) for n in input)
    counted = _count(ref.module, shape, batch)
    totals = _parameter_totals(ref.module)
    return Inspection(
        model=ref.ref,
        input=[batch, *shape],
        output=counted.output,
        params=totals.params,
        trainable_params=totals.trainable,
        buffers=totals.buffers,
        param_bytes=totals.param_bytes,
        macs=counted.macs,
        flops=counted.flops,
        activation_bytes=counted.activation_bytes,
        activation_peak_bytes=counted.peak_bytes,
        uncounted=dict(sorted(counted.uncounted.items())),
        layers=_rows(ref.module, counted, level),
        notes=[*ref.notes, *totals.notes],
    )


# --- parameters -------------------------------------------------------------------------------


@dataclass
class _Totals:
    params: int
    trainable: int
    buffers: int
    param_bytes: int
    notes: list[str]


def _parameter_totals(module: nn.Module) -> _Totals:
    """Each parameter tensor once (a tied weight is one tensor under several names)."""
    names: dict[int, list[str]] = defaultdict(list)
    tensors: dict[int, Any] = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        names[id(p)].append(name)
        tensors[id(p)] = p
    params = sum(p.numel() for p in tensors.values())
    trainable = sum(p.numel() for p in tensors.values() if p.requires_grad)
    param_bytes = sum(p.numel() * p.element_size() for p in tensors.values())
    buffers = sum(b.numel() for b in module.buffers())
    notes = [
        f"shared parameter counted once: {' = '.join(group)} ({tensors[key].numel():,} values)"
        for key, group in names.items()
        if len(group) > 1
    ]
    return _Totals(params, trainable, buffers, param_bytes, notes)


def _subtree_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the counting rules -------------------------------------------------------------------------


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


# --- one forward pass, counted --------------------------------------------------------------------


@dataclass
class _Call:
    """A Python-level call (`torch.flatten`, `x + y`) in the forward of a module with children."""

    parent: str
    function: str
    output: Any = None
    macs: int = 0
    ops: int = 0


@dataclass
class _Counted:
    output: Any = None
    macs: int = 0
    flops: int = 0
    activation_bytes: int = 0
    peak_bytes: int = 0
    uncounted: Counter = field(default_factory=Counter)
    module_macs: Counter = field(default_factory=Counter)  # by innermost module (direct ops)
    module_output: dict[str, Any] = field(default_factory=dict)
    sequence: list[tuple[str, Any]] = field(default_factory=list)  # rows in first-call order


class _Tracker:
    """The counting state of one pass: module stack, functional calls, storages (see module doc)."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.names = {id(m): n for n, m in module.named_modules()}
        self.types = {n: type(m).__name__ for n, m in module.named_modules()}
        # the root's calls always get rows; other modules' only if they have children
        self.parents = {"", *(n for n, m in module.named_modules() if next(m.children(), None))}
        self.stack: list[str] = []
        self.call: _Call | None = None
        self.seen: set[str] = set()
        self.counted = _Counted()
        self.storage_bytes: dict[int, int] = {}  # storage -> bytes, for op outputs
        self.created: list[list[int]] = []  # per op: the storages it created
        self.last_read: dict[int, int] = {}  # storage -> index of the last op reading it
        self.not_activations: set[int | None] = set()
        self.keep: list[Any] = []  # holds every output, so that no storage address is reused

    # module hooks
    def pre_hook(self, module: Any, args: Any) -> None:
        name = self.names.get(id(module), "?")
        self.stack.append(name)
        if name not in self.seen:
            # containers that are never called (ModuleList, ModuleDict) go before their first
            # child that runs
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix not in self.seen:
                    self.seen.add(prefix)
                    self.counted.sequence.append(("module", prefix))

    def post_hook(self, module: Any, args: Any, output: Any) -> None:
        name = self.stack.pop() if self.stack else self.names.get(id(module), "?")
        self.counted.module_output[name] = shape_of(output)

    # ops
    def record(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        from torch.utils._pytree import tree_leaves

        name = op_name(func)
        counts = op_counts(name, tuple(args) + tuple(kwargs.values()), out)
        if counts is None and _is_view(func):
            counts = (0, 0)  # a view of its input (transpose_, unsafe_split, ...): no arithmetic
        if counts is None:
            self.counted.uncounted[name] += 1
            macs = flops = 0
        else:
            macs, flops = counts
        self.counted.macs += macs
        self.counted.flops += flops
        self.counted.module_macs[self.stack[-1] if self.stack else ""] += macs
        if self.call is not None:
            self.call.macs += macs
            self.call.ops += 1
        index = len(self.created)
        for leaf in tree_leaves((args, kwargs)):
            key = _storage(leaf)
            if key is not None:
                self.last_read[key] = index
        new = []
        for leaf in tree_leaves(out):
            key = _storage(leaf)
            if key is None or key in self.storage_bytes or key in self.not_activations:
                continue
            self.storage_bytes[key] = leaf.untyped_storage().nbytes()
            self.keep.append(leaf)
            new.append(key)
        self.created.append(new)

    def peak(self, output: Any) -> tuple[int, int]:
        """(sum of new output storages, the peak alive if each is freed after its last reader)."""
        from torch.utils._pytree import tree_leaves

        final = {_storage(leaf) for leaf in tree_leaves(output)}
        frees: dict[int, list[int]] = defaultdict(list)
        for index, keys in enumerate(self.created):
            for key in keys:
                if key not in final:
                    frees[max(index, self.last_read.get(key, index))].append(key)
        live = peak = 0
        for index, keys in enumerate(self.created):
            live += sum(self.storage_bytes[k] for k in keys)
            peak = max(peak, live)
            live -= sum(self.storage_bytes[k] for k in frees.get(index, ()))
        return sum(self.storage_bytes.values()), peak


def _is_view(func: Any) -> bool:
    """Whether an aten op only returns aliases of its inputs (its schema says so)."""
    returns = func._schema.returns
    return bool(returns) and all(
        r.alias_info is not None and not r.alias_info.is_write for r in returns
    )


def _storage(value: Any) -> int | None:
    import torch

    if not isinstance(value, torch.Tensor):
        return None
    return value.untyped_storage()._cdata


def shape_of(value: Any) -> Any:
    """A tensor's shape as a list; tuples/lists of them as lists; dicts as dicts; else None."""
    import torch

    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, list | tuple):
        return [shape_of(v) for v in value]
    if isinstance(value, dict):
        return {str(k): shape_of(v) for k, v in value.items()}
    return None


_DUNDER = {"truediv": "div", "floordiv": "floor_divide"}


def _function_name(func: Any) -> str:
    name = getattr(func, "__name__", None) or str(func)
    if name.startswith("__") and name.endswith("__"):
        name = name.strip("_")
        if name[:1] in "ir" and name[1:] in {
            "add",
            "sub",
            "mul",
            "truediv",
            "floordiv",
            "matmul",
            "pow",
            "and",
            "or",
            "xor",
            "mod",
        }:
            name = name[1:]
        name = _DUNDER.get(name, name)
    return name


def _count(module: nn.Module, shape: tuple[int, ...], batch: int) -> _Counted:
    """Long because it wires the two modes and the hooks around one pass and undoes them all."""
    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    from dlcli.modelref import forward_error

    tracker = _Tracker(module)

    class Calls(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            top = tracker.stack[-1] if tracker.stack else ""
            if tracker.call is not None or top not in tracker.parents or not tracker.stack:
                return func(*args, **kwargs)
            tracker.call = call = _Call(top, _function_name(func))
            try:
                out = func(*args, **kwargs)
            finally:
                tracker.call = None
            if call.ops:
                call.output = shape_of(out)
                tracker.counted.sequence.append(("call", call))
            return out

    class Ops(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            tracker.record(func, args, kwargs, out)
            return out

    dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)
    # a REF's model is on meta; a module handed to the library runs where it lives
    device = next((t.device for t in (*module.parameters(), *module.buffers())), "meta")
    x = torch.zeros((batch, *shape), dtype=dtype, device=device)
    tracker.not_activations = {_storage(t) for t in (*module.parameters(), *module.buffers(), x)}
    modes = {name: m.training for name, m in module.named_modules()}
    handles = []
    for sub in module.modules():
        handles.append(sub.register_forward_pre_hook(tracker.pre_hook))
        handles.append(sub.register_forward_hook(tracker.post_hook))
    try:
        module.eval()
        with torch.no_grad(), Calls(), Ops():
            output = module(x)
    except InputError:
        raise
    except Exception as exc:
        where = tracker.stack[-1] if tracker.stack else ""
        raise forward_error(exc, (where, tracker.types.get(where, "?")), shape) from None
    finally:
        for handle in handles:
            handle.remove()
        for name, m in module.named_modules():
            m.training = modes[name]
    counted = tracker.counted
    counted.output = shape_of(output)
    counted.activation_bytes, counted.peak_bytes = tracker.peak(output)
    return counted


def _rows(module: nn.Module, counted: _Counted, level: int | None) -> list[LayerRow]:
    """The table: modules down to `level` (None: all), with the functional calls of every
    module whose children are shown, in the order they first ran; modules that never ran last."""
    named = dict(module.named_modules())
    subtree: Counter = Counter()
    for key, macs in counted.module_macs.items():
        parts = key.split(".") if key else []
        for i in range(len(parts) + 1):
            subtree[".".join(parts[:i])] += macs

    def depth(name: str) -> int:
        return name.count(".") + 1 if name else 0

    def visible(d: int) -> bool:
        return level is None or d <= level

    rows: list[LayerRow] = []
    seen = {item for kind, item in counted.sequence if kind == "module"}
    for kind, item in counted.sequence:
        if kind == "module":
            if item and visible(depth(item)):
                sub = named[item]
                rows.append(
                    LayerRow(
                        item,
                        type(sub).__name__,
                        counted.module_output.get(item),
                        _subtree_params(sub),
                        subtree[item],
                        depth(item),
                    )
                )
        elif visible(depth(item.parent) + 1):
            name = f"{item.parent}.{item.function}()" if item.parent else f"{item.function}()"
            rows.append(
                LayerRow(name, "function", item.output, 0, item.macs, depth(item.parent) + 1)
            )
    for name, sub in named.items():
        if name and name not in seen and visible(depth(name)):
            rows.append(
                LayerRow(name, type(sub).__name__, None, _subtree_params(sub), 0, depth(name))
            )
    return rows
