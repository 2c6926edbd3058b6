"""`Family`: everything dlcli knows about one model family, in one frozen record.

A family file (mlp.py, cnn.py, ...) defines its config dataclass, its builder, its footprint and
its help text, and ends with `FAMILY = Family(...)`; the registry (`families/__init__.py`) lists
the records, and every reader (the CLI's `train` subcommands and their help, `dlcli.train`'s
signature, the size check, the loop, evaluate, predict) reads them there.

Also here: `Footprint`, what a model needs counted before it is built, and the small counting
helpers the families share. Pure Python: torch is imported inside the families' builders.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dlcli.errors import InputError
from dlcli.training.config import DEFAULT_LR, TrainConfig

if TYPE_CHECKING:
    from torch import nn

LAYOUTS = ("flat", "image", "sequence", "config")


@dataclass(frozen=True)
class Footprint:
    """What a model of a family needs, counted in Python integers (never overflows)."""

    params: int
    activations: int  # values per sample in the layer outputs (kept for the backward pass)


@dataclass(frozen=True)
class Family:
    """One model family: `dlcli train NAME`, and how a run of it is rebuilt.

    name            the subcommand and the `model` of config.json
    config_cls      its knobs: a dataclass whose fields carry `knob(...)` metadata (JSON-able
                    values: str/int/float/bool/tuple); `__post_init__` validates and raises
                    InputError
    build           build(config, input_shape, num_classes, **init) -> nn.Module giving class
                    scores (N, num_classes); `init` as the family's load_data gives it in
                    `Dataset.init` (train time only, e.g. lstm's pretrained `embeddings`)
    help            the text of `dlcli train NAME --help` above its options (Click's format:
                    a `\\b` line keeps the examples' line breaks)
    layout          what the model eats: 'flat' (N, F), 'image' (N, C, H, W), 'sequence'
                    (N, T, F), or 'config' (the config's `layout_for(sample_shape)` says)
    footprint       footprint(config, input_shape, num_classes) -> Footprint, counted without
                    building the model (None: no size check before building)
    sweep_example   the knob and values of the sweep example in the help (tested valid)
    example_prefix  flags every help example of the family needs (custom: its --model)
    train_defaults  the family's own TrainConfig defaults (epochs, optimizer, ...)
    lr              the family's learning rate per optimizer, where it differs from DEFAULT_LR
    describe        describe(config, input_shape, num_classes) -> [{"layer", "output",
                    "params"}, ...], the table printed before training (optional)
    load_data       load_data(config, data, seed, regression=False) -> Dataset, or None to use
                    the shared loaders: a family with its own kind of data (lstm: text);
                    `regression`: the run's split is seeded but not stratified
    read_inputs     read_inputs(config, path, sample_shape, target) -> (raw x, labels or None),
                    or None: that family's inputs for `evaluate --data` and `predict`
    """

    name: str
    config_cls: type
    build: Callable[..., nn.Module]
    help: str
    layout: str = "flat"
    footprint: Callable[[Any, tuple[int, ...], int], Footprint] | None = None
    sweep_example: tuple[str, tuple[str, ...]] = ("seed", ("0", "1"))
    example_prefix: str = ""
    train_defaults: dict[str, Any] = field(default_factory=dict)
    lr: dict[str, float] = field(default_factory=dict)
    describe: Callable[[Any, tuple[int, ...], int], list[dict]] | None = None
    load_data: Callable[..., Any] | None = None
    read_inputs: Callable[..., Any] | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"unknown layout {self.layout!r}")

    def layout_for(self, config: Any, sample_shape: tuple[int, ...]) -> str:
        """The layout of a model of this family ('config': the config's `layout_for` says)."""
        return config.layout_for(tuple(sample_shape)) if self.layout == "config" else self.layout

    def lr_table(self) -> dict[str, float]:
        """The default learning rate per optimizer for this family."""
        return {**DEFAULT_LR, **self.lr}

    def loop_defaults(self) -> dict[str, Any]:
        """Every TrainConfig default as this family has it (for help texts and the docs)."""
        values = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
        values.update(self.train_defaults)
        return values

    def train_config(self, **knobs: Any) -> TrainConfig:
        """The loop's config for this family: its train_defaults, then `knobs` (None = not
        given). The learning rate follows the optimizer: the family's table, else DEFAULT_LR."""
        given = {k: v for k, v in knobs.items() if v is not None}
        values = {**self.train_defaults, **given}
        if "lr" not in given:
            optimizer = str(values.get("optimizer", "adam")).lower()
            values["lr"] = self.lr_table().get(optimizer)
        return TrainConfig(**values)


# --- counting helpers of the footprints ---------------------------------------------------------


def dense(widths: list[int]) -> tuple[int, int]:
    """(params, outputs) of Linear layers between consecutive widths."""
    params = sum((a + 1) * b for a, b in zip(widths, widths[1:], strict=False))
    return params, sum(widths[1:])


def dims(model: str, shape: tuple[int, ...], want: int, what: str) -> None:
    """Refuse an input of the wrong rank: the `model` takes `what` (e.g. images (C, H, W))."""
    if len(shape) != want:
        raise InputError(f"the {model} takes {what}; this input has shape {list(shape)}")
