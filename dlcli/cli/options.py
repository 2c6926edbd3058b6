"""Option aliases shared by several commands, defined once (as huggingface_hub's cli does)."""

from __future__ import annotations

from typing import Annotated

import typer

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document on stdout instead of a table.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the final result.")]
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
        "resnet20/32/44/56 (CIFAR ResNets as 'train resnet' builds them).",
    ),
]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed; the same seed gives the same numbers.")
]
