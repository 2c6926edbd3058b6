"""The command registry: it only wires the command groups together (like huggingface_hub's hf.py).

Each command lives in its own module under dlcli/cli/; none of them imports torch, numpy or
gensim at module level, so `dlcli featsize` starts without them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from dlcli import __version__
from dlcli.cli import (
    evaluate,
    featsize,
    train_resnet_lstm,  # noqa: F401  (registers 'train resnet' and 'train lstm')
)
from dlcli.cli.common import DlcliGroup, make_app
from dlcli.cli.train import train_app

app = make_app(
    cls=DlcliGroup,
    help="Deep-learning basics from the shell: feature-map sizes, receptive fields, "
    "training and word vectors.",
)

app.command("featsize", no_args_is_help=True)(featsize.featsize)
app.add_typer(train_app, name="train")
app.command("evaluate", no_args_is_help=True)(evaluate.evaluate)
app.command("predict", no_args_is_help=True)(evaluate.predict)



def _version(value: bool) -> None:
    if value:
        print(f"dlcli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """Deep-learning basics from the shell: feature-map sizes, receptive fields, training and word vectors."""


def main() -> None:
    """Console-script entry point."""
    app()
