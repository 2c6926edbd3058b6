"""Receptive fields of any PyTorch model, through branches: `model_receptive_fields`.

For chosen nodes of a model (its top-level children and its output by default, or any qualified
module names), per spatial axis: the receptive-field size, the effective stride and the effective
padding (unit 0's field starts at input pixel -padding), and whether every path into the node
is aligned (the same stride and centre: Araujo et al., Distill 2019). Paths that are not aligned
are reported one by one with their centre offsets, and the field is the one enclosing them all.

The model is traced with torch.fx and run on meta tensors: nothing is allocated, moved or
changed. The arithmetic lives in `axis` (one axis, pure Python), `fields` (one tensor), `rules`
and `ops` (one op); `trace` drives torch.fx. torch is imported only when a model is analysed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from dlcli.errors import InputError


@dataclass(frozen=True)
class NodeField:
    name: str
    type: str | None
    output: list[int] | None
    rf: list | None = None
    stride: list | None = None
    padding: list | None = None
    aligned: bool | None = None
    is_global: bool | None = None
    unknown: str | None = None
    extra: dict = field(default_factory=dict)  # paths, period, windows (only when they apply)

    def to_dict(self) -> dict:
        document = {
            "name": self.name,
            "type": self.type,
            "output": self.output,
            "rf": self.rf,
            "stride": self.stride,
            "padding": self.padding,
            "aligned": self.aligned,
            "global": self.is_global,
        }
        if self.unknown is not None:
            document["unknown"] = self.unknown
        document.update(self.extra)
        return document


@dataclass(frozen=True)
class ModelFields:
    model: str
    input: list[int]
    nodes: list[NodeField]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        document = {
            "model": self.model,
            "input": list(self.input),
            "nodes": [n.to_dict() for n in self.nodes],
        }
        if self.notes:
            document["notes"] = list(self.notes)
        return document


def parse_input(text) -> tuple[int, ...]:
    """'3x224x224' or a sequence -> (C, *spatial), at least one spatial axis."""
    if isinstance(text, str):
        parts = text.lower().replace(" ", "").split("x")
        if not all(p.isdigit() for p in parts):
            raise InputError(f"invalid --input '{text}': expected CxH[xW...], e.g. 3x224x224")
        text = [int(p) for p in parts]
    shape = tuple(int(v) for v in text)
    if len(shape) < 2 or any(v < 1 for v in shape):
        raise InputError(
            f"invalid --input '{'x'.join(map(str, shape))}': a receptive field needs channels "
            "and at least one spatial size, all positive (e.g. 3x224x224)"
        )
    return shape


def model_receptive_fields(model, input, nodes=None, *, name: str | None = None) -> ModelFields:
    """Fields of `nodes` (default: top-level children and "output") of an nn.Module.

    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2))
    >>> model_receptive_fields(net, "3x32x32").nodes[-1].rf
    [5, 5]
    """
    from dlcli.modelfield import trace as tr

    shape = parse_input(input)
    wanted = list(nodes) if nodes else [n for n, _ in model.named_children()] + ["output"]
    _check_names(model, wanted)
    label = name or type(model).__name__
    try:
        traced = tr.trace(model)
    except tr._RootUntraceable as exc:
        why = f"not placed: torch.fx could not trace the model's forward ({exc})"
        placed = [_unplaced(model, n, why) for n in wanted]
        return ModelFields(label, list(shape), placed, [why])
    try:
        runner = tr.run(model, traced, shape)
    except tr.ForwardFailed as exc:
        size = "x".join(map(str, shape))
        raise InputError(f"the forward fails at input {size} in {exc.where}: {exc.exc}") from None
    notes = [f"{m}: torch.fx could not trace it ({why})" for m, why in traced.opaque.items()]
    placed = [_node(model, traced, runner, n) for n in wanted]
    return ModelFields(label, list(shape), placed, notes)


def _check_names(model, wanted: list[str]) -> None:
    known = [n for n, _ in model.named_modules() if n]
    for n in wanted:
        if n != "output" and n not in known:
            near = difflib.get_close_matches(n, known, n=4) or known[:4]
            raise InputError(f"no module '{n}' in the model; nearby names: {', '.join(near)}")


def _type_of(model, name: str) -> str | None:
    return None if name == "output" else type(model.get_submodule(name)).__name__


def _unplaced(model, name: str, why: str) -> NodeField:
    return NodeField(name, _type_of(model, name), None, unknown=why)


def _node(model, traced, runner, name: str) -> NodeField:
    from dlcli.modelfield.fields import Value

    if name == "output":
        out = next(n for n in traced.graph.graph.nodes if n.op == "output")
        found = runner.fields.get(out)
    else:
        calls = traced.outputs.get(name)
        if not calls:
            return _unplaced(model, name, _why_unplaced(traced, name))
        found = runner.fields.get(calls[0])
    values = [v for v in _flatten(found) if isinstance(v, Value)]
    if not values:
        return _unplaced(model, name, "does not depend on the input")
    return _describe(name, _type_of(model, name), values[0])


def _why_unplaced(traced, name: str) -> str:
    for outer, why in traced.opaque.items():
        if name.startswith(outer + "."):
            return f"not placed: inside {outer}, which torch.fx could not trace ({why})"
    return "not placed: never called by the forward"


def _flatten(found):
    if isinstance(found, (tuple, list)):
        for item in found:
            yield from _flatten(item)
    elif isinstance(found, dict):
        for item in found.values():
            yield from _flatten(item)
    else:
        yield found


def _describe(name: str, type_name: str | None, value) -> NodeField:
    from dlcli.modelfield.fields import describe_axis

    output = list(value.shape)
    if value.unknown:
        return NodeField(name, type_name, output, unknown=value.unknown)
    axes = [describe_axis(value, a) for a in range(len(value.inputs))]
    extra = {}
    for key in ("paths", "period", "windows"):
        if any(key in entry for entry in axes):
            extra[key] = [entry.get(key) for entry in axes]
    return NodeField(
        name,
        type_name,
        output,
        rf=[e["rf"] for e in axes],
        stride=[e["stride"] for e in axes],
        padding=[e["padding"] for e in axes],
        aligned=all(e.get("aligned", True) for e in axes),
        is_global=all(e["global"] for e in axes),
        extra=extra,
    )
