"""The gradient oracle for receptive fields of nn.Modules (a helper of test_model_field.py).

Made linear and monotone (all-positive weights, biases zero, activations removed, max pooling
as average pooling, float64), a net's output unit depends on exactly the input pixels in its
field, and the input gradient of that unit is non-zero exactly there. `gradient_span` returns
that span per axis; `expected_window` reads the same window off dlcli's JSON document.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.LeakyReLU,
    nn.Hardswish,
)


def linearised(net: nn.Module) -> nn.Module:
    """A float64 copy with positive weights, no biases, no activations, max pools averaged."""
    net = copy.deepcopy(net).double().eval()
    gen = torch.Generator().manual_seed(0)
    for name, module in list(net.named_modules()):
        swap = None
        if isinstance(module, _ACTIVATIONS):
            swap = nn.Identity()
        elif isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            kind = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d}.get(type(module))
            kind = kind or nn.AvgPool3d
            assert module.dilation in (1, (1,) * 3, (1, 1)), "no average pool with dilation"
            swap = kind(module.kernel_size, module.stride, module.padding, module.ceil_mode)
        elif isinstance(module, (nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool1d)):
            kind = nn.AdaptiveAvgPool2d if isinstance(module, nn.AdaptiveMaxPool2d) else None
            swap = (kind or nn.AdaptiveAvgPool1d)(module.output_size)
        if swap is not None:
            parent, _, leaf = name.rpartition(".")
            setattr(net.get_submodule(parent) if parent else net, leaf, swap)
    for name, p in net.named_parameters():
        with torch.no_grad():
            if name.endswith("bias") or name.endswith("running_mean"):
                p.zero_()
            else:
                fan = max(1, p[0].numel()) if p.dim() > 1 else 1
                p.copy_((torch.rand(p.shape, generator=gen, dtype=p.dtype) + 0.5) / fan)
    for name, b in net.named_buffers():
        if name.endswith("running_mean"):
            b.zero_()
        elif name.endswith("running_var"):
            b.fill_(1.0)
    return net


def gradient_spans(net: nn.Module, input_shape, queries):
    """For each (node, unit) query, per spatial axis the (first, last) input pixel whose gradient
    is non-zero for that unit of `node` (a module name or "output"; its first output tensor).
    `unit` indexes the node's trailing spatial dims; () takes all of a node without them.
    One forward pass serves every query."""
    x = torch.ones((1, *input_shape), dtype=torch.float64, requires_grad=True)
    captured: dict[str, torch.Tensor] = {}
    hooks = []
    for name in {node for node, _ in queries if node != "output"}:

        def keep(m, i, o, name=name):
            captured.setdefault(name, o.clone() if isinstance(o, torch.Tensor) else o[0].clone())

        hooks.append(net.get_submodule(name).register_forward_hook(keep))
    out = net(x)
    for hook in hooks:
        hook.remove()
    captured["output"] = out[0] if isinstance(out, (tuple, list)) else out
    found = []
    for node, unit in queries:
        tensor = captured[node]
        picked = tensor[(0, ...) + tuple(unit)] if unit else tensor[0]
        (grad,) = torch.autograd.grad(picked.sum(), x, retain_graph=True)
        mask = grad[0].abs().sum(0) != 0  # over channels
        spans = []
        for a in range(mask.dim()):
            idx = mask.movedim(a, 0).reshape(mask.shape[a], -1).any(1).nonzero().flatten()
            spans.append((int(idx[0]), int(idx[-1])) if len(idx) else None)
        found.append(tuple(spans))
    return found


def expected_window(node: dict, axis: int, unit: int) -> tuple[int, int]:
    """Unit `unit`'s window along `axis`, read off a node of the JSON document (not clipped)."""
    if node.get("windows") and node["windows"][axis]:
        windows = node["windows"][axis]
        period = len(windows)
        advance = round(node["stride"][axis] * period)
        q, m = divmod(unit, period)
        lo, hi = windows[m]
        return (lo + q * advance, hi + q * advance)
    start = unit * node["stride"][axis] - node["padding"][axis]
    return (start, start + node["rf"][axis] - 1)


def _inside(node: dict, axis: int, unit: int, size: int) -> bool:
    lo, hi = expected_window(node, axis, unit)
    return 0 <= lo and hi < size


def check_against_gradients(net: nn.Module, input_shape, document: dict, units: int = 3) -> int:
    """Every node of `document` (model_receptive_fields(...).to_dict()) against the gradients of
    `net` linearised; per node up to `units` units whose window lies inside the input, along
    each axis where one does. Returns how many (node, axis) pairs were compared."""
    sizes = list(input_shape[1:])
    net = linearised(net)
    queries, expected = [], []
    for node in document["nodes"]:
        assert "unknown" not in node, node
        spatial = node["output"][2:]
        if node["global"]:
            unit = (0,) * len(spatial) if spatial else ()
            want = [(-p, -p + r - 1) for r, p in zip(node["rf"], node["padding"], strict=True)]
            queries.append((node["name"], unit))
            expected.append(dict(enumerate(want)))
            continue
        per_axis = []
        for a, n in enumerate(spatial):
            inside = [i for i in range(n) if _inside(node, a, i, sizes[a])]
            step = max(1, len(inside) // units)
            per_axis.append(inside[::step][:units] or [None])
        for k in range(max(len(c) for c in per_axis)):
            picks = [c[k % len(c)] for c in per_axis]
            unit = tuple(0 if i is None else i for i in picks)
            want = {a: expected_window(node, a, i) for a, i in enumerate(picks) if i is not None}
            assert want, f"no unit of {node['name']} has its field inside the input"
            queries.append((node["name"], unit))
            expected.append(want)
    got = gradient_spans(net, input_shape, queries)
    compared = 0
    for (name, unit), spans, want in zip(queries, got, expected, strict=True):
        for a, window in want.items():
            assert spans[a] == window, (name, unit, a, spans[a], window)
            compared += 1
    return compared
