"""The `custom` family: train any nn.Module named by a REF (`dlcli train custom --model REF`).

The REF (see `dlcli.modelref`) is stored in config.json with the file's SHA-256, so that
`evaluate`, `predict` and `--resume` rebuild the same model, and refuse (one line, exit 2) when
the file has changed since the run started. Before anything is built for real, one forward pass
on the meta device (`dlcli.inspect_model`) checks that the model maps the data's samples to
(N, classes) scores, and gives the footprint (parameters, activations) that `check_model_size`
weighs like every family's. The layout (flat / image / sequence) is the config's: `auto` is
image for (C, H, W) samples, else flat.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dlcli.errors import InputError
from dlcli.training.config import CustomConfig
from dlcli.training.models import Footprint, register_model

if TYPE_CHECKING:
    from torch import nn

    from dlcli.inspection import Inspection


def _check_file(config: CustomConfig) -> None:
    """Refuse a file REF whose file changed since the run recorded its SHA-256."""
    from dlcli.modelref import parse_ref, ref_sha256

    now = ref_sha256(parse_ref(config.ref))
    if config.sha256 and now and now != config.sha256:
        raise InputError(
            f"the model file of '{config.ref}' has changed since this run started (sha256 "
            f"{config.sha256[:12]}... then, {now[:12]}... now): restore it, or train a new run"
        )


def inspect(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> Inspection:
    """One meta forward pass of the model on a sample of `input_shape`, checked to give
    (1, num_classes) scores (else an InputError naming both shapes)."""
    from dlcli.inspection import inspect_model

    _check_file(config)
    result = inspect_model(config.ref, input_shape, depth=1, batch=1)
    if result.output != [1, num_classes]:
        shape = "x".join(map(str, input_shape))
        raise InputError(
            f"the model '{config.ref}' maps a sample of shape {shape} (batch: 1x{shape}) to "
            f"{_show(result.output)}; this data needs (N, {num_classes}) class scores, "
            f"i.e. 1x{num_classes}"
        )
    return result


def _show(output: object) -> str:
    if isinstance(output, list) and all(isinstance(n, int) for n in output):
        return "x".join(map(str, output))
    return f"{output!r} (not one tensor of class scores)"


def footprint(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> Footprint:
    result = inspect(config, input_shape, num_classes)
    return Footprint(result.params, result.activation_bytes // 4)  # values per sample


def describe(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """The rows printed before training: the model's top-level modules and calls."""
    rows = [{"layer": "input", "output": list(input_shape), "params": None}]
    for row in inspect(config, input_shape, num_classes).layers:
        output = row.output[1:] if isinstance(row.output, list) and row.output else row.output
        rows.append({"layer": f"{row.name} ({row.type})", "output": output, "params": row.params})
    return rows


@register_model("custom", CustomConfig, layout="config", describe=describe)
def build_custom(config: CustomConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The REF's model on the CPU, freshly initialised (the loop moves it to its device)."""
    from dlcli.modelref import load_ref

    _check_file(config)
    return load_ref(config.ref, meta=False).module
