"""One forward pass of a model on meta tensors, counted op by op (for dlcli.inspection): a
`TorchDispatchMode` sees every aten op and charges its MACs and FLOPs (dlcli.oprules) to the
innermost running module (module hooks keep the stack); a `TorchFunctionMode` names the
Python-level call that dispatched it; each new tensor storage adds its bytes to the activation
memory, and the peak is computed as if each storage were freed after its last reader.
torch is imported inside the functions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.oprules import op_counts, op_name

if TYPE_CHECKING:
    from torch import nn


@dataclass
class _Call:
    """A Python-level call (`torch.flatten`, `x + y`) in the forward of a module with children."""

    parent: str
    function: str
    output: Any = None
    macs: int = 0
    ops: int = 0


@dataclass
class Counted:
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
        self.counted = Counted()
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


def count_forward(module: nn.Module, shape: tuple[int, ...], batch: int) -> Counted:
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
