"""Option aliases shared by several commands, defined once (as huggingface_hub's cli does).

Only aliases that need nothing beyond Typer live here: the calculators import this module, and
their start-up must not pay for the training configs (see dlcli/cli/run_options.py for those
of the commands that read run folders).
"""

from __future__ import annotations

from typing import Annotated

import typer

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
