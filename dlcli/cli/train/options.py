"""The options of the `train` subcommands: those generated from the config fields, and the few
that only the command line has (--out, --resume, --parallel, --nproc, --animate, --tensorboard,
--json, --quiet).

`parameters(model)` gives a subcommand's parameters: the family's own knobs (panel Model), then
DataConfig's (Data) and TrainConfig's (Training), each field an option whose flag comes from the
field's name, its help and metavar from its metadata, its default in the help from the dataclass
or the family's `train_defaults`; the field's type, read with `typing`, picks the option's type.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Annotated, Any

import click
import typer

from dlcli.training.config import DataConfig, TrainConfig, base_type
from dlcli.training.families import FAMILIES

# Short aliases; every other flag is the field's name: weight_decay -> --weight-decay.
SHORT = {"epochs": "-e", "batch_size": "-b", "layers": "-l"}

OUTPUT_PANEL = "Output"
OutOpt = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        metavar="DIR",
        help="Run folder to create (default: runs/MODEL-TIME).",
        show_default=False,
        rich_help_panel=OUTPUT_PANEL,
    ),
]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        "--resume",
        metavar="RUN_DIR",
        help="Continue this run from its last checkpoint with its own settings (--epochs may "
        "raise the total).",
        show_default=False,
        rich_help_panel=OUTPUT_PANEL,
    ),
]
TRAIN_QUIET = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Only the result: the run folder's path (the JSON document with --json); no progress.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


ParallelOpt = Annotated[
    int,
    typer.Option(
        "--parallel",
        metavar="N",
        help="Sweeps: train N runs at once in worker processes, each with its share of the "
        "CPU threads (one line per finished run instead of per-epoch progress).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
NprocOpt = Annotated[
    int,
    typer.Option(
        "--nproc",
        metavar="N",
        help="Data-parallel on this machine: start N ranks with torchrun (python -m "
        "torch.distributed.run --standalone --nproc-per-node N -m dlcli train ..., the other "
        "arguments unchanged); --batch-size stays the global batch. Across machines run "
        "torchrun yourself (README: Data-parallel training).",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
AnimateOpt = Annotated[
    bool,
    typer.Option(
        "--animate",
        help="2-D data: also write boundary.gif, the decision regions at ~50 epochs of the run.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]
TensorBoardOpt = Annotated[
    bool,
    typer.Option(
        "--tensorboard",
        help="Also write TensorBoard event files into RUN/tensorboard/ (loss, accuracy, lr, "
        "gradient norm per epoch; view with: tensorboard --logdir runs/). Needs pip install "
        "'dlcli[tensorboard]'.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


TrainJson = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print one JSON document on stdout instead of a table.",
        rich_help_panel=OUTPUT_PANEL,
    ),
]


def _show(value: Any) -> str:
    """A default as the user would type it."""
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "0"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _option(f: dataclasses.Field, hint: Any, default: Any, panel: str, lr_help: str | None) -> Any:
    """The Typer option of config field `f` of type `hint` (None = not given; the help shows
    `default`)."""
    kind = base_type(hint)  # int for `int | None`
    flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
    extra: dict[str, Any] = {}
    # Every value option may repeat (a sweep): list[T]; an on/off flag cannot.
    if kind is bool:
        annotation: Any = bool | None
        if "/" not in flag:
            flag = f"{flag}/--no-{flag[2:]}"
    elif kind is str or typing.get_origin(kind) is tuple:  # a tuple is typed as text: 128,64
        annotation = list[str] | None
        if "choices" in f.metadata:
            extra["click_type"] = click.Choice(f.metadata["choices"], case_sensitive=False)
    elif kind is int:
        annotation = list[int] | None
    else:
        annotation = list[float] | None
    help_text = f.metadata["help"]
    if lr_help is not None:
        help_text += f" (default: {lr_help})"
    elif default is not None and not isinstance(default, bool) and "(default" not in help_text:
        help_text += f" (default: {_show(default)})"
    elif isinstance(default, bool):
        on, _, off = flag.partition("/")
        help_text += f" (default: {on if default else off})"
    names = [flag] + ([SHORT[f.name]] if f.name in SHORT else [])
    option = typer.Option(
        *names,
        help=help_text,
        metavar=f.metadata.get("metavar"),
        show_default=False,
        rich_help_panel=panel,
        **extra,
    )
    return Annotated[annotation, option]


def parameters(model: str) -> list[inspect.Parameter]:
    """The subcommand's options: the family's knobs, then the data's, then the loop's."""
    family = FAMILIES[model]
    loop_defaults = family.loop_defaults()
    lr_help = ", ".join(f"{v:g} {k}" for k, v in family.lr_table().items())
    params = []
    owners = ((family.config_cls, "Model"), (DataConfig, "Data"), (TrainConfig, "Training"))
    for owner, panel in owners:
        hints = typing.get_type_hints(owner)
        for f in dataclasses.fields(owner):
            if not f.metadata.get("cli", True):
                continue
            default = loop_defaults[f.name] if owner is TrainConfig else f.default
            name = "data" if f.name == "source" else f.name
            lr = lr_help if f.name == "lr" else None
            annotation = _option(f, hints[f.name], default, panel, lr)
            params.append(
                inspect.Parameter(
                    name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
                )
            )
    for name, annotation, default in (
        ("out", OutOpt, None),
        ("resume", ResumeOpt, None),
        ("parallel", ParallelOpt, 1),
        ("nproc", NprocOpt, 1),
        ("animate", AnimateOpt, False),
        ("tensorboard", TensorBoardOpt, False),
        ("json_out", TrainJson, False),
        ("quiet", TRAIN_QUIET, False),
    ):
        params.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    return params
