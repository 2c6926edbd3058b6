"""Trace a model with torch.fx and run it on meta tensors, carrying each tensor's field.

`trace(model)` symbolically traces the forward; a submodule whose forward torch.fx cannot trace
(data-dependent control flow, say) becomes an opaque leaf and the trace is retried, so the rest of
the model is still placed and the opaque module's output says why it is unknown. `run(...)` then
interprets the graph on meta tensors (no parameter is allocated or moved: the parameters are
swapped for meta stand-ins for the duration, through `torch.func.functional_call`) and computes
every node's `Value` next to its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch
from torch import fx, nn

from dlcli.modelfield import ops
from dlcli.modelfield.fields import Value, start_value, unknown

_SPLITS = frozenset({"split", "chunk", "tensor_split", "unbind", "split_with_sizes"})


@dataclass
class Traced:
    graph: fx.GraphModule
    outputs: dict[str, list[fx.Node]]  # module name -> the nodes its calls returned
    opaque: dict[str, str] = field(default_factory=dict)  # module name -> why fx failed


class _Tracer(fx.Tracer):
    def __init__(self, opaque: dict[str, str]):
        super().__init__()
        self.opaque = opaque
        self.outputs: dict[str, list] = {}
        self.failed: tuple[str, Exception] | None = None

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return qualname in self.opaque or super().is_leaf_module(m, qualname)

    def call_module(self, m, forward, args, kwargs):
        name = self.path_of_module(m)
        try:
            out = super().call_module(m, forward, args, kwargs)
        except Exception as exc:
            if self.failed is None:
                self.failed = (name, exc)
            raise
        self.outputs.setdefault(name, []).append(out)
        return out


def trace(model: nn.Module) -> Traced:
    """fx-trace `model`, turning each submodule that fails into an opaque leaf."""
    opaque: dict[str, str] = {}
    while True:
        tracer = _Tracer(opaque)
        try:
            graph = tracer.trace(model)
        except Exception as exc:
            failed = tracer.failed
            if failed is None or failed[0] in opaque:
                raise _RootUntraceable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            opaque[failed[0]] = str(failed[1]).splitlines()[0] or type(failed[1]).__name__
            continue
        outputs = {
            name: [p.node for p in fx.node.map_aggregate(found, _proxies) if p is not None]
            for name, found in tracer.outputs.items()
        }
        return Traced(fx.GraphModule(model, graph), outputs, opaque)


def _proxies(x):
    return x if isinstance(x, fx.Proxy) else None


class ForwardFailed(Exception):
    """The forward raised at the given input shape; `where` is the qualified module name."""

    def __init__(self, where: str, exc: Exception):
        super().__init__(f"{where}: {exc}")
        self.where, self.exc = where, exc


def _where(n: fx.Node) -> str:
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack") or {}
    inner = list(stack.values())[-1] if stack else None
    path = inner[0] if isinstance(inner, tuple) else inner
    return f"{path or 'forward'} ({n.target if isinstance(n.target, str) else n.name})"


class _RootUntraceable(Exception):
    """The model's own forward cannot be traced (not one of its submodules)."""


class _Runner(fx.Interpreter):
    """Runs the graph on meta tensors and records every node's Value."""

    def __init__(self, traced: Traced, spatial: int):
        super().__init__(traced.graph)
        self.traced = traced
        self.spatial = spatial
        self.fields: dict[fx.Node, object] = {}

    def run_node(self, n: fx.Node):
        try:
            result = super().run_node(n)
        except Exception as exc:
            raise ForwardFailed(_where(n), exc) from exc
        self.fields[n] = self._field(n, result)
        return result

    def _field(self, n: fx.Node, result):
        if n.op == "placeholder":
            first = next(iter(self.module.graph.nodes)) is n
            return start_value(tuple(result.shape), self.spatial) if first else None
        if n.op == "output":
            return fx.node.map_arg(n.args[0], lambda a: self.fields.get(a))
        if n.op == "get_attr":
            return None
        args, kwargs = self._substituted(n)
        if n.op == "call_module":
            return self._module(n, args, result)
        name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
        if name == "getitem" and isinstance(args[0], (tuple, list)):
            picked = args[0][args[1]]
            return picked if isinstance(picked, Value | None) else None
        return _shaped(result, lambda shape: _call(name, args, kwargs, shape))

    def _substituted(self, n: fx.Node):
        def sub(a: fx.Node):
            f = self.fields.get(a)
            return f if f is not None else self.env[a]

        return fx.node.map_arg(n.args, sub), fx.node.map_arg(n.kwargs, sub)

    def _module(self, n: fx.Node, args, result):
        name = str(n.target)
        module = self.traced.graph.get_submodule(name)
        if name in self.traced.opaque:
            found = [v for v in _values(args)]
            if not found:
                return None
            why = f"unknown after {name} (torch.fx could not trace it: {self.traced.opaque[name]})"
            return _shaped(result, lambda shape: unknown(replace(found[0], shape=shape), why))
        return _shaped(result, lambda shape: ops.module_value(module, args, shape))


def _values(items):
    from dlcli.modelfield.rules import values_in

    return values_in(list(items))


def _call(name: str, args, kwargs, shape):
    if name in _SPLITS:
        value = next(iter(_values(args)), None)
        if value is None:
            return None
        dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
        if name == "unbind":
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if value.dims[dim % len(value.dims)] is not None:
            return unknown(replace(value, shape=shape), f"unknown after {name} along a spatial axis")
        return replace(value, shape=shape)
    return ops.call_value(name, args, kwargs, shape)


def _shaped(result, make):
    """Apply `make(shape)` to a tensor result, or to each tensor of a tuple result."""
    if isinstance(result, torch.Tensor):
        return make(tuple(result.shape))
    if isinstance(result, (tuple, list)) and result and all(
        isinstance(r, torch.Tensor) for r in result
    ):
        return tuple(make(tuple(r.shape)) for r in result)
    return None


def run(model: nn.Module, traced: Traced, input_shape: tuple[int, ...]) -> _Runner:
    """Interpret the traced graph on a meta input of shape (1, *input_shape)."""
    runner = _Runner(traced, spatial=len(input_shape) - 1)
    x = torch.empty((1, *input_shape), device="meta")
    stand_ins = {
        name: torch.empty_like(t, device="meta")
        for source in (traced.graph.named_parameters, traced.graph.named_buffers)
        for name, t in source(remove_duplicate=False)
        if t.device.type != "meta"
    }
    with torch.no_grad():
        if stand_ins:
            holder = _Holder(runner)
            prefixed = {f"graph.{k}": v for k, v in stand_ins.items()}
            torch.func.functional_call(holder, prefixed, (x,), strict=False, tie_weights=True)
        else:
            runner.run(x)
    return runner


class _Holder(nn.Module):
    """Lets functional_call swap the graph's parameters for the interpreter's run."""

    def __init__(self, runner: _Runner):
        super().__init__()
        self.graph = runner.traced.graph
        self._runner = [runner]

    def forward(self, x):
        return self._runner[0].run(x)
