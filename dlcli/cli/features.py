"""`dlcli features RUN_DIR INPUT... -o FILE.npy` and `dlcli features RUN_DIR --data SOURCE -o
FILE.npz`: a trained run's penultimate-layer features (`dlcli.features`)."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from dlcli.cli.common import print_json, stdout_console
from dlcli.cli.options import JsonOpt, QuietOpt
from dlcli.cli.run_options import DeviceOpt, RunDirArg, TargetOpt

SPLITS = ("train", "val", "test", "all")  # dlcli.training.features.SPLITS (kept light here)


def features(
    run_dir: RunDirArg,
    out: Annotated[
        str,
        typer.Option(
            "--out",
            "-o",
            metavar="FILE",
            help="File to write: FILE.npy for INPUT..., FILE.npz (x, y, classes) for --data.",
            show_default=False,
        ),
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[INPUT...]",
            help="CSV rows, an .npz (array x), image files or a folder of images, as predict "
            "reads them.",
            show_default=False,
        ),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            metavar="NAME|PATH",
            help="Labelled data instead of INPUT...: its features with their labels.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="Which part of the run's own data (its seeded split); other data is used whole.",
            click_type=click.Choice(SPLITS, case_sensitive=False),
        ),
    ] = "all",
    target: TargetOpt = None,
    device: DeviceOpt = "auto",
    json_out: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Penultimate-layer features of a trained run: the input of its classifier layer.

    resnet: the pooled features; mlp and cnn: the last hidden layer after its activation;
    lstm: the final hidden state; custom: the input of the model's last nn.Linear. Rows come
    in predict's order, with the run's preprocessing. With --data the .npz holds x, y and the
    class names, which 'dlcli train --data' reads: with the run's seed and fractions its split
    is the run's own, so its test part stays unseen by the network.

    \b
    Examples:
      dlcli features runs/resnet new.npz -o feats.npy
      dlcli features runs/resnet --data digits --split all -o feats.npz
      dlcli train mlp --data feats.npz --hidden 0
    """
    import dlcli
    from dlcli.errors import InputError

    if inputs and data is not None:
        raise InputError("give either INPUT... or --data, not both")
    if not inputs and data is None:
        raise InputError("give the inputs (INPUT...) or --data SOURCE")
    result = dlcli.features(
        run_dir,
        inputs or None,
        data=data,
        split=split.lower(),
        target=target,
        output=out,
        device=device,
    ).to_dict()
    if json_out:
        print_json(result)
    elif quiet:
        print(result["path"])
    else:
        shape = " x ".join(str(d) for d in result["shape"])
        stdout_console().print(
            f"{result['path']}: {shape} {result['dtype']} features of {result['source']} "
            f"(the input of {result['model']}'s layer '{result['layer']}')",
            highlight=False,
            soft_wrap=True,
        )
