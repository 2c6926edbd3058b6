'''Model families: one file per family, one record each, registered here in one place.

    family.py    `Family`, the record a family file ends with, and `Footprint`
    blocks.py    what mlp and cnn share: the dense classifier, activations, weight init
    mlp.py       fully connected net (and the linear classifier)
    cnn.py       conv chain in featsize's layer-spec grammar, then a classifier
    resnet.py    He et al.'s CIFAR ResNet (network: nets/resnet.py)
    lstm.py      LSTM / GRU / RNN classifier and its text data hooks (network: nets/recurrent.py)
    custom.py    any nn.Module named by a REF (dlcli.modelref)
    nets/        the nn.Module classes of resnet and lstm (these import torch at their top)

`FAMILIES` (below) is the registry: `dlcli train NAME`'s subcommands, their options and help,
`dlcli.train`'s signature, the size check before a model is built, the loop, `evaluate` and
`predict` all read it. Every family file is pure Python at import (torch inside functions), so
reading the registry costs `dlcli train --help` and `import dlcli` no torch.

Adding a family: one new file plus one registry line
----------------------------------------------------
A family file holds the family's config dataclass (its knobs: each field a `knob(default,
help)`; `dlcli train NAME` makes each one an option, `--name-with-dashes`), its builder, its
footprint and its help text, and ends with its `Family` record. A linear classifier with one
knob, `families/linear.py` (tests/training/test_families.py runs this very example)::

    """The `linear` family: one Linear layer from the flattened input to the class scores."""

    from __future__ import annotations

    import math
    from dataclasses import dataclass

    from dlcli.training.config import knob
    from dlcli.training.families.family import Family, Footprint


    @dataclass
    class LinearConfig:
        """The knobs (JSON-able: str, int, float, bool, tuple; saved in config.json). A
        `__post_init__` may validate them: raise dlcli.errors.InputError naming the value."""

        bias: bool = knob(True, "Learn a bias per class.")


    def build(config: LinearConfig, input_shape: tuple[int, ...], num_classes: int):
        from torch import nn  # inside: reading the registry must not import torch

        return nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(input_shape), num_classes, bias=config.bias)
        )


    def footprint(config: LinearConfig, shape: tuple[int, ...], classes: int) -> Footprint:
        """Parameters and per-sample layer outputs, counted without building the model."""
        return Footprint((math.prod(shape) + config.bias) * classes, classes)


    FAMILY = Family(
        name="linear",
        config_cls=LinearConfig,
        build=build,
        help="""One Linear layer: the class scores are Wx + b.

        \\b
        Examples:
          dlcli train linear --data spiral
          dlcli train linear --no-bias --epochs 5
        """,
        layout="flat",  # what forward eats: flat (N, F), image (N, C, H, W), sequence (N, T, F)
        footprint=footprint,
        train_defaults={"epochs": 20},  # the family's own TrainConfig defaults
    )

and its line in `FAMILIES` below::

    from dlcli.training.families import cnn, custom, linear, lstm, mlp, resnet
    ...
        linear.FAMILY,

That is all: `dlcli train linear --help` lists `--bias/--no-bias` above the data and training
options (and a sweep example: `sweep_example`, the seed unless given), `dlcli.train("linear",
bias=False)` trains, and `evaluate`, `predict`, `--resume` and `export` rebuild a run of it from
its config.json (so `build` must be deterministic in its config). The optional fields of
`Family` (see its docstring) add a table before training (`describe`), a learning rate per
optimizer (`lr`), and data of the family's own (`load_data`, `read_inputs`: lstm's text). A
network that is a class of its own goes in `nets/NAME.py`, imported inside `build` (resnet,
lstm). A family can also be registered at run time, `FAMILIES[FAMILY.name] = FAMILY`, before
the app is built.
'''

from __future__ import annotations

from typing import Any

from dlcli.errors import InputError
from dlcli.training.families import cnn, custom, lstm, mlp, resnet
from dlcli.training.families.family import Family, Footprint

# The registry: one line per family, in the order of `dlcli train --help`.
FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        mlp.FAMILY,
        cnn.FAMILY,
        resnet.FAMILY,
        lstm.FAMILY,
        custom.FAMILY,
    )
}

__all__ = [
    "FAMILIES",
    "Family",
    "Footprint",
    "check_model_size",
    "footprint",
    "get_family",
    "load_family_data",
]


def get_family(name: str) -> Family:
    """The family registered as `name` (an InputError naming the valid ones)."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise InputError(f"unknown model '{name}': expected one of {', '.join(FAMILIES)}") from None


def load_family_data(
    model: str, model_config: Any, data: Any, seed: int, regression: bool = False
) -> Any:
    """The family's own loader when it has one and claims the data, else the shared one.
    `regression`: the run learns numeric targets (its split is not stratified)."""
    from dlcli.training.data import load_dataset

    family = get_family(model)
    if family.load_data is not None:
        dataset = family.load_data(model_config, data, seed, regression=regression)
        if dataset is not None:
            return dataset
    return load_dataset(data, seed=seed)


# --- size, before anything is built -------------------------------------------------------------

# A model is refused before it is built when its float32 weights pass MAX_WEIGHT_BYTES (a
# billion parameters: far beyond a lesson, and training keeps three more copies for the
# gradients and Adam's moments) or one batch's layer outputs pass MAX_ACTIVATION_BYTES. Without
# this a size of 10**30 reached torch as a 1,500-character C++ overflow error, and 10**9 tried to
# allocate terabytes.
MAX_WEIGHT_BYTES = 4 * 10**9
MAX_ACTIVATION_BYTES = 16 * 10**9
FLOAT_BYTES = 4


def footprint(
    model: str, config: Any, input_shape: tuple[int, ...], num_classes: int
) -> Footprint | None:
    """Parameters and per-sample activations of family `model`, without building it (None for
    a family without a footprint)."""
    count = get_family(model).footprint
    return count(config, tuple(input_shape), num_classes) if count else None


def check_model_size(
    model: str, config: Any, input_shape: tuple[int, ...], num_classes: int, batch_size: int
) -> Footprint | None:
    """Refuse (InputError, one line) a model whose weights or one batch's activations would not
    fit; every path that builds a model (train, resume, evaluate, predict) passes here first."""
    from dlcli.files import human_bytes

    shape_ok = bool(input_shape) and all(isinstance(d, int) and d >= 1 for d in input_shape)
    if not shape_ok or num_classes < 1:
        raise InputError(
            f"invalid model input: shape {list(input_shape)} with {num_classes} classes "
            "(expected positive integer sizes)"
        )
    size = footprint(model, config, input_shape, num_classes)
    if size is None:
        return None
    weights = size.params * FLOAT_BYTES
    if weights > MAX_WEIGHT_BYTES:
        raise InputError(
            f"this {model} model needs {human_bytes(weights)} of weights ({size.params:.3g} "
            f"parameters for inputs of shape {'x'.join(map(str, input_shape))}); dlcli builds "
            f"models of up to {human_bytes(MAX_WEIGHT_BYTES)}: choose smaller layers"
        )
    batch = size.activations * FLOAT_BYTES * batch_size
    if batch > MAX_ACTIVATION_BYTES:
        raise InputError(
            f"one batch of {batch_size} through this {model} model needs {human_bytes(batch)} "
            f"for its layer outputs; dlcli's limit is {human_bytes(MAX_ACTIVATION_BYTES)}: lower "
            "--batch-size, the layer sizes or the input size"
        )
    return size
