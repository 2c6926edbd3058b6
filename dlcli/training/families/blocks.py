"""What several families share: the dense classifier (its hidden sizes, activation and dropout,
as knobs and as torch modules) and the weight initialisation every run applies.

torch is imported inside the functions; importing this module is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.training.config import check, choice

if TYPE_CHECKING:
    from torch import nn

ACTIVATIONS = ("relu", "sigmoid", "tanh")


def parse_hidden(text: str | int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """'128,64' -> (128, 64); 20 -> (20,); '0', 0 or '' -> () (no hidden layer: the linear
    score function)."""
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str):
        sizes = tuple(int(s) for s in text)
    else:
        cleaned = "".join(text.split())
        if cleaned in ("", "0", "none"):
            return ()
        try:
            sizes = tuple(int(p) for p in cleaned.split(","))
        except ValueError:
            raise InputError(
                f"invalid --hidden '{text}': expected sizes like 128,64 (or 0 for none)"
            ) from None
    check(all(s >= 1 for s in sizes), f"invalid --hidden '{text}': every layer needs a unit")
    return sizes


def check_common(activation: str, dropout: float) -> str:
    """Validate the classifier's dropout; the activation's name, lower-cased."""
    check(0.0 <= dropout < 1.0, f"invalid --dropout {dropout}: expected 0 <= P < 1")
    return choice("activation", activation, ACTIVATIONS)


def activation_module(name: str) -> nn.Module:
    from torch import nn

    return {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}[name]()


def classifier(
    in_features: int, hidden: tuple[int, ...], num_classes: int, activation: str, dropout: float
) -> list[nn.Module]:
    """Linear -> act -> dropout per hidden layer, then the final Linear to class scores."""
    from torch import nn

    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), activation_module(activation)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return layers


def linear_rows(width: int, hidden: tuple[int, ...], num_classes: int) -> list[dict]:
    """The classifier's rows of the table printed before training."""
    rows = []
    for h in (*hidden, num_classes):
        rows.append({"layer": f"linear {width}->{h}", "output": [h], "params": width * h + h})
        width = h
    return rows


def apply_init(model: nn.Module, init: str) -> None:
    """'default': PyTorch's own; 'small': weights N(0, 0.01^2), biases 0 (the lesson's x0.01)."""
    from torch import nn

    if init == "default":
        return
    if init != "small":
        raise InputError(f"invalid --init '{init}': expected default or small")
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.ConvTranspose2d):
            nn.init.normal_(module.weight, 0.0, 0.01)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
