"""Option aliases shared by several commands, defined once (as huggingface_hub's cli does)."""

from __future__ import annotations

from typing import Annotated

import click
import typer

from dlcli.training.config import DEVICES

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        help="Only the result: the bare answer (the JSON document with --json); no progress.",
    ),
]
LayersOpt = Annotated[
    str | None,
    typer.Option(
        "--layers",
        "-l",
        metavar="SPEC",
        help="Layer chain, e.g. 'conv3p1-64,maxpool2,conv3p1-128' "
        "(see 'Layer specs' in the README).",
    ),
]
ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch",
        "-a",
        metavar="NAME",
        help="A standard network's feature extractor: alexnet, vgg11/13/16/19, "
        "resnet18/34/50/101/152, "
        "resnet20/32/44/56/110 and cifar-resnetN for any N = 6n+2 (CIFAR ResNets as "
        "'train resnet --depth N' builds them).",
    ),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed; the same seed gives the same numbers.")
]

# --- evaluate, predict (dlcli train builds its options from dlcli/training/config.py) ----------
# Their help texts are the config fields' own, so the two commands and `train` cannot drift.


def _help(config: str, name: str) -> str:
    import dataclasses

    from dlcli.training import config as configs

    fields = {f.name: f for f in dataclasses.fields(getattr(configs, config))}
    return fields[name].metadata["help"]


TargetOpt = Annotated[
    str | None,
    typer.Option(
        "--target", metavar="NAME", help=_help("DataConfig", "target"), show_default=False
    ),
]
DeviceOpt = Annotated[
    str,
    typer.Option(
        "--device",
        help=_help("TrainConfig", "device"),
        click_type=click.Choice(DEVICES, case_sensitive=False),
    ),
]
RunDirArg = Annotated[
    str,
    typer.Argument(
        metavar="RUN_DIR", help="A run folder written by 'dlcli train'.", show_default=False
    ),
]
