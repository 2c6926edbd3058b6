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
from dataclasses import dataclass, field, replace

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
    """'3x224x224' or a sequence -> (C, *spatial): at least one spatial axis."""
    from dlcli.modelref import parse_input as parse_shape

    shape = parse_shape(text) if isinstance(text, str) else tuple(int(v) for v in text)
    if len(shape) < 2 or any(v < 1 for v in shape):
        raise InputError(
            f"invalid --input '{'x'.join(map(str, shape))}': a receptive field needs channels "
            "and at least one spatial size, all positive (e.g. 3x224x224)"
        )
    return shape


def model_receptive_fields(model, input=None, nodes=None, *, name: str | None = None):
    """Fields of `nodes` (default: top-level children and "output") of an nn.Module or a REF.

    `model` is an `nn.Module` or a REF string (`package.module:callable`, `file.py:callable`,
    a run folder: see `dlcli.modelref`); `input` the per-sample shape ("3x224x224"), by default a
    run folder's own. The module is neither moved nor changed.

    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2))
    >>> model_receptive_fields(net, "3x32x32").nodes[-1].rf
    [5, 5]
    """
    from dlcli.modelfield import trace as tr

    notes: list[str] = []
    if isinstance(model, str):
        from dlcli.training.refs import load_model_ref

        loaded = load_model_ref(model)
        name, model, notes = name or model, loaded.module, list(loaded.notes)
        input = input if input is not None else loaded.input_shape
    if input is None:
        raise InputError("give the per-sample input shape with --input, e.g. 3x224x224")
    shape = parse_input(input)
    wanted = list(nodes) if nodes else [n for n, _ in model.named_children()] + ["output"]
    _check_names(model, wanted)
    result = _fields(tr, model, shape, wanted, name or type(model).__name__)
    return replace(result, notes=notes + result.notes)


def _fields(tr, model, shape, wanted: list[str], label: str) -> ModelFields:
    try:
        traced = tr.trace(model)
    except tr._RootUntraceable as exc:
        return _eager_fields(model, shape, wanted, label, str(exc))
    try:
        runner = tr.run(model, traced, shape)
    except tr.ForwardFailed as exc:
        from dlcli.modelref import forward_error

        where = exc.where
        try:
            kind = type(model.get_submodule(where)).__name__
        except AttributeError:
            where, kind = "", type(model).__name__
        raise forward_error(exc.exc, (where, kind), shape) from None
    notes = [
        f"{m}: torch.fx could not trace it ({why}); its fields come from running it on meta tensors"
        for m, why in traced.opaque.items()
    ]
    if runner.stopped:
        notes.append(
            f"the forward stopped in {runner.stopped[0]} on meta tensors: {runner.stopped[1]}"
        )
    placed = [_node(model, traced, runner, n) for n in wanted]
    return ModelFields(label, list(shape), placed, notes)


def _eager_fields(model, shape, wanted, label: str, why: str) -> ModelFields:
    """The model's own forward defeats torch.fx: watch it run on meta tensors instead."""
    from dlcli.modelfield import trace as tr

    values, watched = tr.run_eager(model, shape)
    notes = [
        f"torch.fx could not trace the model's forward ({why}); fields come from "
        "running it on meta tensors"
    ]
    stop = "not placed"
    if watched.stopped:
        notes.append(f"the forward stopped on meta tensors: {watched.stopped}")
        stop = f"not placed: the forward stopped before it ({watched.stopped})"
    placed = []
    for n in wanted:
        found = values if n == "output" else watched.modules.get(n)
        placed.append(_from_found(model, n, found, stop))
    return ModelFields(label, list(shape), placed, notes)


def _from_found(model, name: str, found, missing: str) -> NodeField:
    from dlcli.modelfield.fields import Value

    if found is None:
        return _unplaced(model, name, missing)
    values = [v for v in _flatten(found) if isinstance(v, Value)]
    if not values:
        return _unplaced(model, name, "does not depend on the input")
    return _describe(name, _type_of(model, name), values[0])


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
    if name == "output":
        out = next(n for n in traced.graph.graph.nodes if n.op == "output")
        missing = "not placed: the forward stopped before it" if runner.stopped else "not placed"
        return _from_found(model, name, runner.fields.get(out), missing)
    calls = traced.outputs.get(name)
    if calls and calls[0] in runner.fields:
        return _from_found(model, name, runner.fields[calls[0]], "not placed")
    if name in runner.eager:
        return _from_found(model, name, runner.eager[name], "not placed")
    return _unplaced(model, name, _why_unplaced(traced, runner, name))


def _why_unplaced(traced, runner, name: str) -> str:
    if runner.stopped:
        return f"not placed: the forward stopped in {runner.stopped[0]} before it"
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
