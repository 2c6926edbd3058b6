"""`dlcli train mlp|cnn`: parse the knobs, build the config dataclasses, run THE loop, render.

Every subcommand lists the shared options through the aliases of dlcli/cli/options.py and hands
them, with its own model config, to `run_training`, which is all a new model family's command
needs (see the docstring of dlcli/training/__init__.py). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from dlcli.cli.common import fail, make_app, print_json, stderr_console, stdout_console
from dlcli.cli.options import (
    BatchSizeOpt,
    DataOpt,
    DeviceOpt,
    EpochsOpt,
    ImageSizeOpt,
    InitOpt,
    JsonOpt,
    LayersOpt,
    LossOpt,
    LrOpt,
    MomentumOpt,
    OptimizerOpt,
    OutOpt,
    PatienceOpt,
    QuietOpt,
    ResumeOpt,
    SeedOpt,
    StandardizeOpt,
    TargetOpt,
    TestFractionOpt,
    ThreadsOpt,
    ValFractionOpt,
    WeightDecayOpt,
)

train_app = make_app(help="Train a model on bundled data or your own files; writes a run folder.")

HiddenOpt = Annotated[
    str,
    typer.Option("--hidden", metavar="SIZES", help="Hidden layer sizes, e.g. 128,64; 0 for none."),
]
ActivationOpt = Annotated[
    str,
    typer.Option(
        "--activation", metavar="relu|sigmoid|tanh", help="Nonlinearity after each hidden layer."
    ),
]
DropoutOpt = Annotated[
    float,
    typer.Option(
        "--dropout", metavar="P", help="Dropout probability in the classifier (training only)."
    ),
]


# The options every `train` subcommand shares: (parameter name, option alias, default).
# `training_command` appends them to each subcommand's own knobs, so they are written once.
SHARED: tuple[tuple[str, Any, Any], ...] = (
    ("data", DataOpt, "digits"),
    ("target", TargetOpt, None),
    ("image_size", ImageSizeOpt, None),
    ("epochs", EpochsOpt, None),
    ("batch_size", BatchSizeOpt, 64),
    ("lr", LrOpt, None),
    ("optimizer", OptimizerOpt, "adam"),
    ("momentum", MomentumOpt, 0.9),
    ("weight_decay", WeightDecayOpt, 0.0),
    ("loss", LossOpt, "cross-entropy"),
    ("init", InitOpt, "default"),
    ("patience", PatienceOpt, 0),
    ("seed", SeedOpt, 0),
    ("device", DeviceOpt, "auto"),
    ("threads", ThreadsOpt, None),
    ("standardize", StandardizeOpt, True),
    ("test_fraction", TestFractionOpt, 0.2),
    ("val_fraction", ValFractionOpt, 0.1),
    ("out", OutOpt, None),
    ("resume", ResumeOpt, None),
    ("json_out", JsonOpt, False),
    ("quiet", QuietOpt, False),
)
ENGINE_LR = {"adam": 0.001, "sgd": 0.01}  # the loop's own defaults when --lr is not given


def training_command(
    name: str,
    *,
    default_epochs: int,
    lr: dict[str, float] | None = None,
    **defaults: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn` as `dlcli train NAME`: `fn` takes the model's own knobs and returns its
    config dataclass; the shared options (SHARED) are appended to its signature, with
    `defaults` overriding theirs and `lr` the learning rate per optimizer."""
    lr_defaults = {**ENGINE_LR, **(lr or {})}
    lr_help = ", ".join(f"{v:g} {k}" for k, v in lr_defaults.items())
    annotations = {
        **{key: alias for key, alias, _ in SHARED},
        "lr": Annotated[
            float | None,
            typer.Option("--lr", help=f"Learning rate (default: {lr_help}).", show_default=False),
        ],
    }
    shared = [
        inspect.Parameter(
            key,
            inspect.Parameter.KEYWORD_ONLY,
            default=defaults.get(key, default),
            annotation=annotations[key],
        )
        for key, _, default in SHARED
    ]
    unknown = set(defaults) - {key for key, _, _ in SHARED}
    if unknown:
        raise TypeError(f"training_command({name!r}): no shared option {sorted(unknown)}")

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(fn, eval_str=True)  # real annotations: Typer reads them here

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            options = {key: kwargs.pop(key) for key, _, _ in SHARED}
            if options["lr"] is None:
                options["lr"] = lr_defaults.get(options["optimizer"].lower())
            run_training(name, fn(**kwargs), default_epochs=default_epochs, **options)

        command.__signature__ = own.replace(  # type: ignore[attr-defined]
            parameters=[*own.parameters.values(), *shared], return_annotation=None
        )
        command.__annotations__ = {
            **{p.name: p.annotation for p in own.parameters.values()},
            **{p.name: p.annotation for p in shared},
        }
        train_app.command(name)(command)
        return fn

    return decorate


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    from dlcli.layers import parse_size

    size = parse_size(text)
    if len(size) == 1:
        return (size[0], size[0])
    if len(size) != 2:
        fail(f"invalid --image-size '{text}': expected N or HxW")
    return size  # type: ignore[return-value]


def run_training(
    model: str,
    model_config: Any,
    *,
    default_epochs: int,
    data: str,
    target: str | None,
    image_size: str | None,
    epochs: int | None,
    batch_size: int,
    lr: float | None,
    optimizer: str,
    momentum: float,
    weight_decay: float,
    loss: str,
    init: str,
    patience: int,
    seed: int,
    device: str,
    threads: int | None,
    standardize: bool,
    test_fraction: float,
    val_fraction: float,
    out: str | None,
    resume: str | None,
    json_out: bool,
    quiet: bool,
) -> None:
    """Build DataConfig + TrainConfig, train (or resume) with progress callbacks, render."""
    from pathlib import Path

    from dlcli.training import loop
    from dlcli.training.data import DataConfig

    callbacks = [] if quiet else [_progress(sys.stderr.isatty())]
    try:
        if resume is not None:
            spec, _ = loop.read_spec(Path(resume))
            if spec.model != model:
                fail(
                    f"--resume {resume} is a '{spec.model}' run; "
                    f"continue it with 'dlcli train {spec.model}'"
                )
            ignored = _flags_given(allowed={"resume", "epochs", "json_out", "quiet"})
            if ignored:
                fail(
                    f"--resume continues a run with its saved settings (only --epochs, --json and "
                    f"-q apply); leave out {', '.join(ignored)}"
                )
            result = loop.resume(Path(resume), epochs, callbacks)
        else:
            data_config = DataConfig(
                source=data,
                target=target,
                image_size=_image_size(image_size),
                test_fraction=test_fraction,
                val_fraction=val_fraction,
                standardize=standardize,
            )
            train_config = loop.TrainConfig(
                epochs=default_epochs if epochs is None else epochs,
                batch_size=batch_size,
                lr=lr,
                optimizer=optimizer.lower(),
                momentum=momentum,
                weight_decay=weight_decay,
                loss=loss.lower(),
                init=init.lower(),
                patience=patience,
                seed=seed,
                device=device.lower(),
                threads=threads,
            )
            result = loop.train(
                model,
                model_config,
                data_config,
                train_config,
                Path(out) if out else None,
                callbacks,
            )
    finally:  # a terminal progress bar must give the screen back, whatever happened
        for callback in callbacks:
            callback.close()
    if json_out:
        print_json(result.to_dict())
    else:
        render_result(result.to_dict())


def _flags_given(allowed: set[str]) -> list[str]:
    """The options typed on the command line, other than `allowed` (parameter names)."""
    import click
    from click.core import ParameterSource

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return []
    given = []
    for param in ctx.command.params:
        if param.name in allowed or not isinstance(param, click.Option):
            continue
        if ctx.get_parameter_source(param.name) in (
            ParameterSource.COMMANDLINE,
            ParameterSource.ENVIRONMENT,
        ):
            given.append(param.opts[0])
    return given


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render_result(r: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{r['model']} on {r['data']}: {r['epochs']} epochs, {r['seconds']:.1f} s",
        title_justify="left",
    )
    table.add_column("split")
    table.add_column("examples", justify="right")
    table.add_column("loss", justify="right")
    table.add_column("accuracy", justify="right")
    for name in ("train", "val", "test"):
        table.add_row(
            name, str(r[f"n_{name}"]), _fmt(r[f"{name}_loss"]), _fmt(r[f"{name}_accuracy"])
        )
    console = stdout_console()
    console.print(table)
    best = f", best epoch {r['best_epoch']}" if r["best_epoch"] else ""
    early = " (stopped early)" if r["stopped_early"] else ""
    console.print(
        f"parameters {r['params']:,}, device {r['device']}{best}{early}; run folder {r['out']}"
    )


def _progress(tty: bool):
    """The CLI's progress callback: a Rich bar on a terminal, one line per epoch in a log."""
    from dlcli.training.loop import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.bar = None

        def on_train_begin(self, info: dict[str, Any]) -> None:
            self.info = info
            for note in info.get("notes", []):  # data warnings, e.g. skipped rows
                print(f"warning: {note}", file=sys.stderr)
            start = f", from epoch {info['first_epoch'] + 1}" if info["first_epoch"] else ""
            line = (
                f"training {info['model']} ({info['params']:,} parameters) on "
                f"{info['n_train']} examples, validating on {info['n_val']}, "
                f"device {info['device']}{start}; run folder {info['out']}"
            )
            if not tty:  # a log: plain text, and no Rich to import (~60 ms of a short run)
                if info["layers"]:
                    print(_plain_layer_table(info), file=sys.stderr)
                print(line, file=sys.stderr, flush=True)
                return
            console = stderr_console()
            if info["layers"]:
                _layer_table(console, info)
            console.print(line)
            if tty:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self.bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[status]}"),
                    console=console,
                    transient=True,
                )
                self.bar.start()
                self.epochs = self.bar.add_task(
                    "epochs", total=info["epochs"], completed=info["first_epoch"], status=""
                )
                self.batches = self.bar.add_task("batches", total=info["batches"], status="")

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any]) -> None:
            if self.bar is not None:
                self.bar.reset(self.batches, total=logs["batches"], status="")

        def on_epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
            line = (
                f"epoch {epoch + 1}/{logs['epochs']}  loss {logs['loss']:.4f}  "
                f"acc {logs['accuracy']:.4f}"
            )
            if logs["val_loss"] is not None:
                line += f"  val_loss {logs['val_loss']:.4f}  val_acc {logs['val_accuracy']:.4f}"
            line += f"  {logs['seconds']:.2f}s"
            if self.bar is not None:  # the line stays above the bars, as Keras does
                self.bar.console.print(line, highlight=False)
                self.bar.update(self.epochs, completed=epoch + 1, status="")
            else:
                print(line, file=sys.stderr, flush=True)

        def close(self) -> None:
            if self.bar is not None:
                self.bar.stop()
                self.bar = None

    class BarProgress(Progress):
        # Only the terminal bar hooks into batches (a per-batch loss costs a device sync).
        def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
            if self.bar is not None:
                self.bar.update(
                    self.batches, completed=logs["batch"], status=f"loss {logs['loss']:.4f}"
                )

    return BarProgress() if tty else Progress()


def _layer_rows(info: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(#, layer, output, params) rows of the `describe` table, the total last."""
    rows, total = [], 0
    for i, row in enumerate(info["layers"]):
        params = row["params"]
        total += params or 0
        rows.append(
            (
                "" if row["layer"] == "input" else str(i),
                row["layer"],
                "x".join(str(d) for d in row["output"] if d is not None),
                "" if params is None else f"{params:,}",
            )
        )
    rows.append(("", "total", "", f"{total:,}"))
    return rows


def _plain_layer_table(info: dict[str, Any]) -> str:
    head = ("#", "layer", "output", "params")
    rows = _layer_rows(info)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    lines = [f"{info['model']}: input {'x'.join(map(str, info['input_shape']))}"]
    for r in [head, *rows]:
        lines.append(
            f"{r[0]:>{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        )
    return "\n".join(lines)


def _layer_table(console, info: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(
        title=f"{info['model']}: input {'x'.join(map(str, info['input_shape']))}",
        title_justify="left",
    )
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    rows = _layer_rows(info)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_section()
    table.add_row(*rows[-1])
    console.print(table)


@training_command("mlp", default_epochs=50)
def mlp(
    hidden: HiddenOpt = "128,64",
    activation: ActivationOpt = "relu",
    dropout: DropoutOpt = 0.2,
) -> Any:
    """A fully connected net (50 epochs by default); --hidden 0 is the linear classifier Wx + b.

    \b
    Examples:
      dlcli train mlp                                  # digits, 64-128-64-10, Adam
      dlcli train mlp --hidden 0 --loss hinge          # a multiclass SVM
      dlcli train mlp --data spiral --hidden 64 --dropout 0 --lr 0.01 --epochs 200
      dlcli train mlp --data my.csv --target species --json
    """
    from dlcli.training.models import MLPConfig, parse_hidden

    return MLPConfig(hidden=parse_hidden(hidden), activation=activation.lower(), dropout=dropout)


@training_command("cnn", default_epochs=30)
def cnn(
    layers: LayersOpt = None,
    hidden: HiddenOpt = "128",
    activation: ActivationOpt = "relu",
    dropout: DropoutOpt = 0.0,
) -> Any:
    """A conv net: --layers in featsize's grammar, then flatten and a classifier (30 epochs).

    The default chain is conv3p1-32,maxpool2,conv3p1-64,maxpool2; each conv gets --activation
    unless the chain places relu/tanh/sigmoid itself. The per-layer table (the numbers featsize
    gives) is shown before training.

    \b
    Examples:
      dlcli train cnn                                  # digits, 8x8 images
      dlcli train cnn --layers conv3p1-16,maxpool2 --hidden 64 --epochs 10
      dlcli train cnn --data photos/ --image-size 32 --layers conv5p2-32,maxpool2,conv5p2-64
    """
    from dlcli.training.models import DEFAULT_CNN_LAYERS, CNNConfig, parse_hidden

    return CNNConfig(
        layers=layers or DEFAULT_CNN_LAYERS,
        hidden=parse_hidden(hidden),
        activation=activation.lower(),
        dropout=dropout,
    )
