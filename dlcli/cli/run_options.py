"""Option aliases of the commands that use a trained run folder (evaluate, predict).

Their help texts are the config fields' own, so these commands and `train` cannot drift; that
reads dlcli/training/config.py, which is why they are kept out of dlcli/cli/options.py (the
calculators import that one and must not import anything of training).
"""

from __future__ import annotations

from typing import Annotated

import click
import typer

from dlcli.training.config import DEVICES


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
