"""Model REFs that may name a dlcli run folder, for `featsize --model` (`dlcli.inspect_model`)
and `receptive-field --model` (`dlcli.model_receptive_fields`).

A module or file REF is `dlcli.modelref`'s; a run folder's model is rebuilt here through the
run's own spec (its architecture, without its trained weights), with the run's sample shape as
the default input. This sits above the model families, because a run can be of any family,
while `dlcli.modelref` and `dlcli.inspection` sit below them (the `custom` family uses both).
torch is imported inside the functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dlcli.inspection import DEFAULT_BATCH, DEFAULT_DEPTH, Inspection, check_options
from dlcli.inspection import inspect_model as _inspect
from dlcli.modelref import ModelRef, load_ref, parse_ref

if TYPE_CHECKING:
    from torch import nn


def load_model_ref(ref: str, *, meta: bool = True) -> ModelRef:
    """Build the model a REF or a run folder names: on the meta device (`meta=True`), else on
    the CPU."""
    parsed = parse_ref(ref)
    if parsed.kind != "run":
        return load_ref(ref, meta=meta)
    import torch

    from dlcli.training.runs.spec import read_spec

    spec, _ = read_spec(Path(parsed.target))
    if meta:
        with torch.device("meta"):
            module = spec.build_model()
    else:
        module = spec.build_model()
    sha = getattr(spec.model_config, "sha256", None)
    notes = [f"a '{spec.model}' run: its architecture, without its trained weights"]
    return ModelRef(
        ref=ref, module=module, input_shape=tuple(spec.input_shape), notes=notes, sha256=sha
    )


def inspect_model(
    model: str | nn.Module,
    input: str | tuple[int, ...] | None = None,
    *,
    depth: int | str | None = DEFAULT_DEPTH,
    batch: int = DEFAULT_BATCH,
) -> Inspection:
    """Shapes, parameters, MACs, FLOPs and activation memory of one forward pass.

    `model` is a REF (see `dlcli.modelref`, built on meta), a dlcli run folder, or an nn.Module,
    which runs on the device it is on (meta: nothing computed or allocated; the input is zeros
    elsewhere); `input` the per-sample shape ("3x224x224" or a tuple), which a run folder may
    omit.
    """
    if isinstance(model, str):
        check_options(depth, batch)  # the flags first, then the REF, as the command checks them
        return _inspect(load_model_ref(model), input, depth=depth, batch=batch)
    return _inspect(model, input, depth=depth, batch=batch)
