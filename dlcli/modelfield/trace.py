"""Trace a model with torch.fx and run it on meta tensors, carrying each tensor's field.

`trace(model)` symbolically traces the forward; a submodule whose forward torch.fx cannot trace
(data-dependent control flow, say) becomes an opaque leaf and the trace is retried, so the rest of
the model is still placed and the opaque module's output says why it is unknown. `run(...)` then
interprets the graph on meta tensors (no parameter is allocated or moved: the parameters are
swapped for meta stand-ins for the duration, through `torch.func.functional_call`) and computes
every node's `Value` next to its shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from dlcli.modelfield import ops
from dlcli.modelfield.fields import Value, start_value


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
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise _RootUntraceable(why) from None
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
    """The qualified name of the module that ran `n` ('' for the model's own forward)."""
    if n.op == "call_module":
        return str(n.target)
    stack = n.meta.get("nn_module_stack") or {}
    inner = list(stack.values())[-1] if stack else None
    path = inner[0] if isinstance(inner, tuple) else inner
    return path or ""


class _RootUntraceable(Exception):
    """The model's own forward cannot be traced (not one of its submodules)."""


class _Runner(fx.Interpreter):
    """Runs the graph on meta tensors and records every node's Value."""

    def __init__(self, traced: Traced, spatial: int):
        super().__init__(traced.graph)
        self.traced = traced
        self.spatial = spatial
        self.fields: dict[fx.Node, object] = {}
        self.eager: dict[str, object] = {}  # module name -> Value, inside opaque modules
        self._node: fx.Node | None = None
        self._eager_out = None
        self.stopped: tuple[str, str] | None = None  # (module, reason) where a forward stopped

    def run_node(self, n: fx.Node):
        self._node = n
        try:
            result = super().run_node(n)
        except Exception as exc:
            raise ForwardFailed(_where(n), exc) from exc
        self.fields[n] = self._field(n, result)
        return result

    def _field_of(self, node: fx.Node) -> Any:
        """A node's Value (map_arg replaces the output's nodes with it; None: no field)."""
        return self.fields.get(node)

    def _field(self, n: fx.Node, result):
        if n.op == "placeholder":
            first = next(iter(self.traced.graph.graph.nodes)) is n
            return start_value(tuple(result.shape), self.spatial) if first else None
        if n.op == "output":
            return fx.node.map_arg(n.args[0], self._field_of)
        if n.op == "get_attr":
            return None
        args, kwargs = self._substituted(n)
        if n.op == "call_module":
            return self._module(n, args, result)
        name = n.target if isinstance(n.target, str) else getattr(n.target, "__name__", "")
        if name == "getitem" and isinstance(args[0], (tuple, list)):
            picked = args[0][args[1]]
            return picked if isinstance(picked, Value | None) else None
        return ops.shaped(result, lambda shape: ops.torch_call_value(name, args, kwargs, shape))

    def _substituted(self, n: fx.Node):
        def sub(a: fx.Node):
            f = self.fields.get(a)
            return f if f is not None else self.env[a]

        return fx.node.map_arg(n.args, sub), fx.node.map_arg(n.kwargs, sub)

    def call_module(self, target, args, kwargs):
        if target not in self.traced.opaque:
            return super().call_module(target, args, kwargs)
        from dlcli.modelfield.eager import watch

        module = self.traced.graph.get_submodule(target)
        inputs = [self.fields.get(a) if isinstance(a, fx.Node) else None for a in self._node.args]
        seeds = {id(t): v for t, v in zip(args, inputs, strict=False) if isinstance(v, Value)}
        output, values, watched = watch(module, tuple(args), seeds, target)
        self.eager.update(watched.modules)
        if watched.stopped is not None:
            raise ForwardFailed(target, RuntimeError(watched.stopped))
        self._eager_out = values
        return output

    def _module(self, n: fx.Node, args, result):
        name = str(n.target)
        if name in self.traced.opaque:
            return self._eager_out
        module = self.traced.graph.get_submodule(name)
        return ops.shaped(result, lambda shape: ops.module_value(module, args, shape))


def run(model: nn.Module, traced: Traced, input_shape: tuple[int, ...]) -> _Runner:
    """Interpret the traced graph on a meta input of shape (1, *input_shape).

    A forward that stops inside an opaque module (it cannot run on meta tensors) leaves
    `runner.stopped` = (module, reason) and the nodes before it placed."""
    runner = _Runner(traced, spatial=len(input_shape) - 1)
    runner.stopped = None
    x = torch.empty((1, *input_shape), device="meta")
    try:
        on_meta(traced.graph, lambda: runner.run(x))
    except ForwardFailed as exc:
        if exc.where not in traced.opaque:
            raise
        runner.stopped = (exc.where, str(exc.exc))
    return runner


def run_eager(model: nn.Module, input_shape: tuple[int, ...]):
    """Without a graph: the whole forward under the eager watch. Returns (output Values,
    Watched)."""
    from dlcli.modelfield.eager import watch

    x = torch.empty((1, *input_shape), device="meta")
    seeds = {id(x): start_value(tuple(x.shape), len(input_shape) - 1)}
    found = {}

    def go():
        _, values, watched = watch(model, (x,), seeds, "")
        found["result"] = (values, watched)

    on_meta(model, go)
    return found["result"]


def on_meta(module: nn.Module, call) -> None:
    """Run `call()` with `module`'s parameters and buffers replaced by meta stand-ins (the
    module itself is left as it was)."""
    stand_ins = {
        name: torch.empty_like(t, device="meta")
        for source in (module.named_parameters, module.named_buffers)
        for name, t in source(remove_duplicate=False)
        if t.device.type != "meta"
    }
    with torch.no_grad():
        if not stand_ins:
            call()
            return
        holder = _Holder(module, call)
        prefixed = {f"inner.{k}": v for k, v in stand_ins.items()}
        torch.func.functional_call(holder, prefixed, (), strict=False, tie_weights=True)


class _Holder(nn.Module):
    """Lets functional_call swap the module's parameters around one call."""

    def __init__(self, module: nn.Module, call):
        super().__init__()
        self.inner = module
        self._call = [call]

    def forward(self):
        return self._call[0]()
