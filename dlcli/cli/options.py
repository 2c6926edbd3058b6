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

MODEL_PANEL = "Any PyTorch model"
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        metavar="REF",
        help="Any PyTorch model instead of a chain: package.module:callable, "
        "path/to/file.py:callable, either with literal arguments (...:callable(num_classes=10)), "
        "or a dlcli run folder. A module or file REF runs that Python code, exactly as "
        "'python file.py' would; a run folder runs nothing but dlcli. The model is built on "
        "PyTorch's meta device: no weights are allocated.",
        rich_help_panel=MODEL_PANEL,
        show_default=False,
    ),
]
InputShapeOpt = Annotated[
    str | None,
    typer.Option(
        "--input",
        "-i",
        metavar="SHAPE",
        help="--model: the per-sample input shape, e.g. 3x224x224 (default: a run folder's).",
        rich_help_panel=MODEL_PANEL,
        show_default=False,
    ),
]
