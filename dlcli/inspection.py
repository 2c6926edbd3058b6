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

The rules (dlcli/oprules.py): multiply-adds (MACs) for convolutions, transposed convolutions,
matrix products and attention; FLOPs are 2 x MACs plus the elementwise work listed in
`ELEMENTWISE` and the other FLOP rules. Ops that only move or view memory count zero on purpose
(`FREE`).
Any other op is reported by name and count in `uncounted`: never a silent zero.

Activation memory: every op output that is a new tensor storage (views and in-place results
are not) adds its bytes to `activation_bytes`; `activation_peak_bytes` is the most bytes alive
at once if each storage is freed right after the last op that reads it (the model's output is
kept to the end; the input and the parameters are not activations).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.forwardcount import Counted, count_forward

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
    counted = count_forward(ref.module, shape, batch)
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


def _rows(module: nn.Module, counted: Counted, level: int | None) -> list[LayerRow]:
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
