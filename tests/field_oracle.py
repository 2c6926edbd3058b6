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

_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.Hardswish)


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


def gradient_span(net: nn.Module, input_shape, unit, node: str = "output"):
    """Per spatial axis, (first, last) input pixel with a non-zero gradient for `unit` of
    `node` (a module name, or the output); unit indexes the node's spatial dims (the last ones);
    an empty tuple: the node has no spatial dims (a vector), all of it is the unit."""
    x = torch.ones((1, *input_shape), dtype=torch.float64, requires_grad=True)
    captured = []
    if node != "output":
        hook = net.get_submodule(node).register_forward_hook(lambda m, i, o: captured.append(o))
    out = net(x)
    if node != "output":
        hook.remove()
        out = captured[0]
    if isinstance(out, (tuple, list)):
        out = out[0]
    picked = out[(0, ...) + tuple(unit)] if unit else out[0]
    (grad,) = torch.autograd.grad(picked.sum(), x)
    mask = grad[0].abs().sum(0) != 0  # over channels
    spans = []
    for a in range(mask.dim()):
        line = mask.movedim(a, 0).reshape(mask.shape[a], -1).any(1)
        idx = line.nonzero().flatten()
        spans.append((int(idx[0]), int(idx[-1])) if len(idx) else None)
    return tuple(spans)


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
