"""Fields without torch.fx: run the forward eagerly on meta tensors and watch every torch call.

For a forward that torch.fx cannot trace (control flow on shapes, say), a `TorchFunctionMode`
sees each torch function and tensor method as it runs, looks up the Values of its tensor
arguments (by identity) and applies the same rules as the traced path; forward hooks note what
each module returned. A forward that stops on the meta device (control flow on tensor values)
leaves the modules it reached placed and the rest unplaced, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_map

from dlcli.modelfield import ops
from dlcli.modelfield.fields import Value


@dataclass
class Watched:
    modules: dict[str, object] = field(default_factory=dict)  # name -> Value at its return
    stopped: str | None = None  # why the forward stopped early, if it did


class _Watch(TorchFunctionMode):
    def __init__(self, seeds: dict[int, Value], keep: list):
        super().__init__()
        self.values = dict(seeds)
        self.keep = keep  # the tensors whose ids are keys: alive, so no id is reused

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name in ("__get__", "__set__", "size", "dim"):
            return result
        sub = self.lookup
        value = ops.shaped(
            result,
            lambda shape: ops.torch_call_value(
                name, tree_map(sub, args), tree_map(sub, kwargs), shape
            ),
        )
        self.remember(result, value)
        return result

    def lookup(self, t):
        return self.values.get(id(t), t) if isinstance(t, torch.Tensor) else t

    def remember(self, result, value) -> None:
        if isinstance(result, torch.Tensor):
            results, values = [result], [value]
        elif isinstance(value, tuple):
            results, values = list(result), list(value)
        else:
            return
        for r, v in zip(results, values, strict=True):
            self.keep.append(r)
            if v is None:
                self.values.pop(id(r), None)
            else:
                self.values[id(r)] = v


def watch(module: torch.nn.Module, args: tuple, seeds: dict[int, Value], prefix: str):
    """Call `module(*args)` under the watch; returns (output, output's Values, Watched)."""
    keep: list = list(args)
    mode = _Watch(seeds, keep)
    watched = Watched()
    handles = []
    for name, sub in module.named_modules():
        full = f"{prefix}.{name}" if prefix and name else (prefix or name)

        def hook(m, a, out, full=full):
            watched.modules.setdefault(full, tree_map(mode.lookup, out))

        handles.append(sub.register_forward_hook(hook))
    output = None
    try:
        with mode:
            output = module(*args)
    except Exception as exc:  # a forward that cannot run on meta: keep what was reached
        message = " ".join(str(exc).split())[:200] or type(exc).__name__
        watched.stopped = f"{type(exc).__name__}: {message}"
    finally:
        for handle in handles:
            handle.remove()
    values = None if output is None else tree_map(mode.lookup, output)
    return output, values, watched
